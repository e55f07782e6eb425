"""Issue 14 §4, "the tokens trained are the tokens sampled": every (prompt, completion) pair that
is trained on or scored is encoded as ``encode(prompt) + tok.encode_continuation(prompt,
completion)`` — the ids a sampler emits when it writes that completion after that prompt — and
not ``encode(prompt) + encode(completion)``, which with SentencePiece tokenizers (Llama-2,
Mistral) puts a dummy-prefix "▁" in front of the completion (transformers#26273).

The tokenizers are built here, from the tasks' own texts (no hub download):
- ``llama``: a SentencePiece BPE model trained with the ``sentencepiece`` package the way
  Llama-2's was (byte fallback, split digits, dummy prefix, no whitespace folding), loaded as
  transformers' LlamaTokenizer(Fast) from its ``tokenizer.model``;
- ``llama-hub-json``: the same model in the tokenizer.json pipeline the Llama-2/Mistral hub
  repositories ship (normalizer Prepend("▁") + Replace(" ", "▁")), used directly as a
  PreTrainedTokenizerFast — the tokenizer of transformers#26273;
- ``llama-auto``: that folder (tokenizer.json + a legacy LlamaTokenizer config) through AutoTokenizer;
- ``gpt2``: a byte-level BPE (GPT-2/GPT-J style) trained with the ``tokenizers`` package;
- ``bpe-prefix-space``: the same with ``add_prefix_space=True``;
- ``qwen-like``: a byte-level BPE behind Qwen2's pre-tokenizer regex.
Prompts and completions come from the real task formats (addition, GSM8K and CommonsenseQA
from ../shared/datasets when present, and the shipped few-shot exemplars).
"""

from __future__ import annotations

import io
import json
import random
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, trainers
from tokenizers import models as tk_models
from transformers import AutoTokenizer, LlamaTokenizer, LlamaTokenizerFast, PreTrainedTokenizerFast

from conftest import require
from starlab.generate import generate
from starlab.tasks import addition, commonsenseqa, get_task, gsm8k
from starlab.tokenizer import CharTokenizer, HFTokenizer, continuation_ids, fragment_ids

spm = require("sentencepiece")
require("google.protobuf")  # transformers reads a SentencePiece .model with protobuf

SHARED = Path(__file__).resolve().parents[3] / "shared" / "datasets"
GSM_TRAIN = SHARED / "gsm8k" / "train.jsonl"
CQA_TRAIN = SHARED / "commonsenseqa" / "train_rand_split.jsonl"

QWEN_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)


# ------------------------------------------------------------------------------- data
def _jsonl(path: Path, n: int) -> list[dict]:
    if not path.exists():
        return []
    out = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            if len(out) >= n:
                break
            out.append(json.loads(line))
    return out


def task_pairs() -> list[tuple[str, object, str, str]]:
    """(task name, question, prompt, completion) from the three tasks' formats: warm-up pairs
    (prompt, reference), sampled-and-cleaned completions as they are trained on
    (``training_completion(q, clean_completion(text))``), hinted prompts (rationalization warm-up)."""
    rng = random.Random(14)
    pairs = []
    add = get_task("addition")
    for i in range(40):
        d = 1 + i % 5
        lo, hi = 10 ** (d - 1) if d > 1 else 0, 10**d - 1
        q = addition.Question(f"a{i}", rng.randint(lo, hi), rng.randint(lo, hi), d)
        pairs.append(("addition", q, add.prompt(q, hint=i % 3 == 0), add.reference(q)))
        pairs.append(("addition", q, add.prompt(q), add.clean_completion(add.reference(q)[:-1] + "0\n")))
    gsm, cqa = get_task("gsm8k"), get_task("commonsenseqa")
    for task, mod, rows in ((gsm, gsm8k, _jsonl(GSM_TRAIN, 60)), (cqa, commonsenseqa, _jsonl(CQA_TRAIN, 60))):
        qs = [mod.parse_row(r, "train", i) for i, r in enumerate(rows)]
        for q, c in mod.exemplars():  # the shipped few-shot rationales: real model-style completions
            pairs.append((task.name, q, task.prompt(q), task.training_completion(q, task.clean_completion(c))))
            qs.append(q)
        for i, q in enumerate(qs):
            pairs.append((task.name, q, task.prompt(q, hint=i % 4 == 0), task.reference(q)))
            said = task.clean_completion(task.reference(q))
            pairs.append((task.name, q, task.prompt(q), task.training_completion(q, said)))
            pairs.append((task.name, q, task.prompt(q), task.training_completion(q, f"The answer is {q.gold}.")))
    return pairs


PAIRS = task_pairs()


def corpus() -> list[str]:
    """Documents the tokenizers are trained on: prompt + completion, and the few-shot prefixes."""
    docs = [p + c for _, _, p, c in PAIRS]
    for name in ("gsm8k", "commonsenseqa"):
        docs.append(get_task(name).few_shot_prefix(0))
    docs.append(addition.few_shot_prefix(0))
    return docs


# ------------------------------------------------------------------------------- tokenizers
def _sentencepiece_model(lines: list[str]) -> bytes:
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=buf,
        vocab_size=1200,
        model_type="bpe",
        byte_fallback=True,
        split_digits=True,
        add_dummy_prefix=True,
        allow_whitespace_only_pieces=True,
        remove_extra_whitespaces=False,
        normalization_rule_name="identity",
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        hard_vocab_limit=False,
        character_coverage=1.0,
        minloglevel=2,
        num_threads=1,
    )
    return buf.getvalue()


def _byte_bpe(docs: list[str], pre: object) -> Tokenizer:
    tk = Tokenizer(tk_models.BPE())
    tk.pre_tokenizer = pre
    tk.decoder = decoders.ByteLevel()
    tk.train_from_iterator(
        docs,
        trainers.BpeTrainer(
            vocab_size=1500, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
        ),
    )
    return tk


@pytest.fixture(scope="module")
def toks(tmp_path_factory) -> dict[str, HFTokenizer]:
    docs = corpus()
    lines = [ln for d in docs for ln in d.split("\n") if ln.strip()]
    assert len(lines) >= 300
    out: dict[str, HFTokenizer] = {}

    d = tmp_path_factory.mktemp("llama")
    (d / "tokenizer.model").write_bytes(_sentencepiece_model(lines))
    llama = LlamaTokenizer.from_pretrained(str(d))
    assert LlamaTokenizerFast is LlamaTokenizer  # transformers 5: one class
    out["llama"] = HFTokenizer(llama)

    # Llama-2's hub tokenizer.json pipeline over the same vocabulary and merges
    tk = Tokenizer.from_str(llama.backend_tokenizer.to_str())
    tk.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tk.pre_tokenizer = None
    tk.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    out["llama-hub-json"] = HFTokenizer(
        PreTrainedTokenizerFast(
            tokenizer_object=tk, bos_token="<s>", eos_token="</s>", unk_token="<unk>", clean_up_tokenization_spaces=False
        )
    )
    d2 = tmp_path_factory.mktemp("llama-hub")
    tk.save(str(d2 / "tokenizer.json"))
    (d2 / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "LlamaTokenizer",
                "legacy": True,
                "bos_token": "<s>",
                "eos_token": "</s>",
                "unk_token": "<unk>",
                "add_bos_token": True,
                "clean_up_tokenization_spaces": False,
            }
        )
    )
    out["llama-auto"] = HFTokenizer(AutoTokenizer.from_pretrained(str(d2)))

    for name, pre in (
        ("gpt2", pre_tokenizers.ByteLevel(add_prefix_space=False)),
        ("bpe-prefix-space", pre_tokenizers.ByteLevel(add_prefix_space=True)),
        (
            "qwen-like",
            pre_tokenizers.Sequence(
                [
                    pre_tokenizers.Split(Regex(QWEN_PATTERN), behavior="isolated"),
                    pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
                ]
            ),
        ),
    ):
        out[name] = HFTokenizer(
            PreTrainedTokenizerFast(tokenizer_object=_byte_bpe(docs, pre), eos_token="<|endoftext|>", clean_up_tokenization_spaces=False)
        )
    return out


#: what a tokenizer's decode puts before a text it encoded (add_prefix_space: the space it added)
LEAD = {"bpe-prefix-space": " "}


def _naive(tok, completion: str) -> list[int]:
    """The old path: the completion encoded on its own."""
    return tok.encode(completion)


# ------------------------------------------------------------------------------- a forced sampler
class ForcedLM(torch.nn.Module):
    """A causal LM whose greedy choice at generation step k is ``targets[k]`` (whatever the
    input): runs starlab.generate as a model emitting exactly those ids would."""

    def __init__(self, vocab: int, targets: list[int]):
        super().__init__()
        self.vocab, self.targets = vocab, targets
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # generate reads the device off a parameter

    def forward(self, input_ids, attention_mask=None, position_ids=None, use_cache=True, past_key_values=None):
        step = 0 if past_key_values is None else past_key_values + 1
        logits = torch.zeros(input_ids.shape[0], input_ids.shape[1], self.vocab)
        logits[:, -1, self.targets[min(step, len(self.targets) - 1)]] = 1.0
        return SimpleNamespace(logits=logits, past_key_values=step)


def sample_round_trip(tok: HFTokenizer, task, q, prompt: str, completion: str) -> tuple[list[int], list[int]]:
    """A model writes ``completion`` after ``prompt`` with the ids encode_continuation gives,
    then a stop string; the run decodes, cleans and re-encodes it for training as star.py does.
    Returns (ids sampled before the stop, ids trained on)."""
    want = tok.encode_continuation(prompt, completion)
    stop = fragment_ids(tok.encode, task.stop_strings[0])
    prompt_ids = ([tok.bos_id] if tok.bos_id is not None else []) + tok.encode(prompt)
    model = ForcedLM(tok.vocab_size, want + stop + [tok.eos_id])
    out = generate(model, tok, [prompt_ids], max_new_tokens=len(want) + len(stop) + 1, stop_strings=task.stop_strings)[0]
    text = task.clean_completion(tok.decode(out))
    trained = tok.encode_continuation(task.question_text(q), task.training_completion(q, text))
    return out[: len(want)], trained


# ------------------------------------------------------------------------------- tests
def test_the_pairs_cover_the_three_tasks():
    names = {n for n, *_ in PAIRS}
    assert names == {"addition", "gsm8k", "commonsenseqa"}
    assert len(PAIRS) >= 100


def test_char_tokenizer_is_unchanged():
    tok = CharTokenizer()
    add = get_task("addition")
    for name, _q, p, c in PAIRS:
        if name == "addition":
            assert tok.encode_continuation(p, c) == tok.encode(c)
            assert tok.encode(p) + tok.encode_continuation(p, c) == tok.encode(p + c)
    assert tok.encode_continuation("", "") == [] and tok.encode_continuation("1+2:", "12;") == tok.encode("12;")
    assert add.alphabet  # the tiny models' tokenizer is built from it


@pytest.mark.parametrize("name", ["llama", "llama-hub-json", "llama-auto", "gpt2", "bpe-prefix-space", "qwen-like"])
def test_training_ids_are_the_sampled_ids(toks, name):
    """For every task pair: prompt ids + completion ids decode to prompt + completion, are the
    joint encoding (the prompts end at a token boundary), and equal what a sampler writing that
    completion emits, after decode → clean_completion → training_completion → re-encode."""
    tok = toks[name]
    tasks = {n: get_task(n) for n in ("addition", "gsm8k", "commonsenseqa")}
    sampled_per_task = dict.fromkeys(tasks, 0)
    for i, (tname, q, p, c) in enumerate(PAIRS):
        P, C = tok.encode(p), tok.encode_continuation(p, c)
        J = tok.encode(p + c)
        assert J[: len(P)] == P, (name, p[-20:], c[:20])
        assert C == J[len(P) :]
        assert tok.decode(P + C) == tok.decode(J) == LEAD.get(name, "") + p + c
        if i % 4 == 0 and p == tasks[tname].question_text(q):  # the forced sampler (slower): a quarter of the pairs
            sampled, trained = sample_round_trip(tok, tasks[tname], q, p, c)
            assert trained == sampled == C, (name, c[:30])
            sampled_per_task[tname] += 1
    assert min(sampled_per_task.values()) >= 3, sampled_per_task


def test_the_old_path_trained_a_stray_dummy_prefix(toks):
    """encode(prompt) + encode(completion) is not what the model samples: Llama-2's hub
    tokenizer puts the extra "▁" (id 29871 in Llama-2) before a completion starting with a
    space, every SentencePiece Llama tokenizer puts a "▁" (a space) before one that does not
    (the addition task's), and so does a byte-level BPE with add_prefix_space."""
    stray = toks["llama-hub-json"].tok.convert_tokens_to_ids("▁")
    words = [(p, c) for n, _, p, c in PAIRS if c.startswith(" ") and c[1:2].isalpha()]
    nospace = [(p, c) for n, _, p, c in PAIRS if n == "addition"]
    assert len(words) > 50 and len(nospace) > 50
    tok = toks["llama-hub-json"]
    for p, c in words:
        old, new = _naive(tok, c), tok.encode_continuation(p, c)
        assert old == [stray] + new  # the stray token, then the right ones
        assert tok.decode(tok.encode(p) + old) == p + " " + c  # trained text had a space too many
    for name in ("llama", "llama-hub-json", "llama-auto", "bpe-prefix-space"):
        tok = toks[name]
        for p, c in nospace:
            old, new = _naive(tok, c), tok.encode_continuation(p, c)
            assert old != new
            P = tok.encode(p)
            assert tok.decode(P + old) == tok.decode(P) + " " + c, name  # "37+52: 7250;…": a space never sampled
    # transformers 5's LlamaTokenizer encodes a leading-space word alone as in context
    for name in ("llama", "llama-auto"):
        tok = toks[name]
        assert all(_naive(tok, c) == tok.encode_continuation(p, c) for p, c in words), name
    # byte-level BPEs without a prefix space (GPT-J, Qwen2.5) give the same ids either way on the tasks' pairs
    for name in ("gpt2", "qwen-like"):
        tok = toks[name]
        assert all(_naive(tok, c) == tok.encode_continuation(p, c) for _, _, p, c in PAIRS), name


def test_a_merge_across_the_boundary_falls_back_to_a_fragment(toks):
    """Where the joint encoding merges across the boundary — Qwen's pre-tokenizer joins "." and
    a following newline (".Ċ"); a prompt ending in a space, as "A: ", joins that space to the
    completion's first word in GPT-2's BPE ("Ġ42") — no sampler fed the prompt's ids can produce
    the joint ids. The completion is then encoded as a fragment that starts at the boundary
    (what the sampler emits after the prompt's last token), and still decodes to the text."""
    for name, p, c in (
        ("qwen-like", "Q: Natalia sold clips.", "\nA: She sold 48 clips."),
        ("gpt2", "Q: Natalia sold clips.\nA: ", "48 clips."),
        ("llama-hub-json", "Q: Natalia sold clips.\nA: ", "48 clips."),
    ):
        tok = toks[name]
        P, J = tok.encode(p), tok.encode(p + c)
        C = tok.encode_continuation(p, c)
        assert tok.decode(P + C) == p + c, name
        if J[: len(P)] != P:  # the merge crosses the boundary
            assert C == fragment_ids(tok.encode, c), name
        else:
            assert C == J[len(P) :]
    for name, p in (("qwen-like", "Q: Natalia sold clips."), ("gpt2", "Q: Natalia sold clips.\nA: ")):
        tok = toks[name]
        c = "\nA: She sold 48 clips." if name == "qwen-like" else "48 clips."
        assert tok.encode(p + c)[: len(tok.encode(p))] != tok.encode(p), name  # these do cross
        assert tok.encode(p) + tok.encode_continuation(p, c) != tok.encode(p + c)
    # a leading space attaches to the following word, as the sampler emits it ("Ġ42", not "Ġ", "42")
    tok = toks["gpt2"]
    p2 = "Q: x\nA:"
    C2 = tok.encode_continuation(p2, " 42")
    assert tok.tok.convert_ids_to_tokens(C2)[0].startswith("Ġ")
    assert tok.encode(p2 + " 42") == tok.encode(p2) + C2


def test_star_and_vstar_build_their_examples_with_it(toks):
    """StarRun._completion_ids (warm-up, kept samples, V-STaR's DPO pairs, ORM and candidate
    scoring all build their examples through it) = encode_continuation + <eos>."""
    from starlab.variants.star import StarRun

    run = StarRun.__new__(StarRun)
    run.tok = toks["llama-hub-json"]
    for _, _, p, c in PAIRS[::7]:
        assert run._completion_ids(p, c) == run.tok.encode_continuation(p, c) + [run.tok.eos_id]
        full = run._train_prompt_ids(p) + run._completion_ids(p, c)
        assert full == [run.tok.bos_id] + run.tok.encode(p + c) + [run.tok.eos_id]


_TEXT = st.text(st.sampled_from(list("abcxyzQA019 \n\t:;.,()+=#-'é中😀")), max_size=40)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prompt=_TEXT.filter(lambda s: s and not s[0].isspace()), completion=_TEXT)
def test_continuation_property(toks, prompt, completion):
    """For random texts and every tokenizer: the rule (joint ids after the prompt's when they
    start with them, else the fragment), decoding prompt + continuation ids gives the text back,
    and re-encoding the decoded continuation gives the same ids (what is sampled is trained)."""
    for name, tok in toks.items():
        P, J = tok.encode(prompt), tok.encode(prompt + completion)
        C = tok.encode_continuation(prompt, completion)
        if not completion:
            assert C == []
        elif J[: len(P)] == P:
            assert C == J[len(P) :], name
        else:
            assert C == fragment_ids(tok.encode, completion), name
        assert C == continuation_ids(tok.encode, prompt, completion)
        text = tok.decode(P + C)
        assert text == LEAD.get(name, "") + prompt + completion, name
        head = tok.decode(P)
        assert text.startswith(head)
        assert tok.encode_continuation(prompt, text[len(head) :]) == C, name
