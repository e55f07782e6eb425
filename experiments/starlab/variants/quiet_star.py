"""Quiet-STaR (Zelikman et al. 2024) on any task: thoughts after every token, a mixing head,
REINFORCE on the gain in log-likelihood of the next n_ahead true tokens (see starlab/quiet.py).

warm-up:     as STaR's — a tiny model is fine-tuned on the warm-up questions' reference
             completions (a hub model with warmup.steps = 0 starts as it is, with the task's
             few-shot prefix in its eval prompts when task.few_shot).
eval 0:      the model with the start/end-of-thought tokens and a zero-initialised mixing
             head (so it predicts exactly as the base model), on the held-out questions.
             quiet.warmup_format "direct": the gold answers written straight after the prompts
             instead, each step's work between thought markers with probability
             quiet.warmup_thoughts (the task's thought_completion; addition).
training:    quiet.steps optimizer steps on a corpus of the TRAIN questions' reference texts
             (prompt + reference completion, <bos> … <eos>, packed into rows of seq_len,
             attention never crossing a document) — or, with quiet.corpus, their direct answers,
             a local JSONL/text file or a hub dataset (starlab/corpus.py; _corpus_docs) — each
             step on batch_size rows × n_thoughts
             thoughts of thought_len tokens at every position; evaluation every eval_every
             steps (and after the last one) — evaluation i is "iteration" i of the events.
evaluation:  the paper's metric (eval_helpers.compute_metrics of the reference code), zero-shot
             unless task.few_shot: the gold answer teacher-forced after each held-out question
             (direct_answer), its scored tokens' probabilities renormalised over the valid answer
             tokens and multiplied; the mean over questions is eval/accuracy (the mixed prediction
             after a greedy thought at each answer position; per difficulty as STaR names it) and
             eval/base_accuracy (the same model without thoughts); eval/answer_logprob and
             eval/base_answer_logprob are the mean gold-answer log-probabilities (whole
             vocabulary), eval/argmax_accuracy / eval/base_argmax_accuracy the share of questions
             whose every scored token is the most likely valid one. Then greedy decoding where
             every token comes from the mixed head after a greedy thought, scored by exact match
             (eval/exact_match, per difficulty; the samples' "correct"), and without thoughts
             (eval/base_exact_match).
optimisation: quiet.grad_accum micro-batches per step; the thought embeddings at
             quiet.embedding_scale × the learning rate; REINFORCE log-probs at
             quiet.reinforce_temperature; optional LoRA (quiet.finetune) and gradient
             checkpointing (quiet.grad_checkpoint) — see QUIET_DEFAULTS.

Events: phases warmup (iteration 0), evaluate (iteration i), train (iteration i ≥ 1: the steps
leading to evaluation i); per-step metrics throttled to about 20 per train phase (window
means); eval metrics at (iteration i, step = optimizer steps so far, warm-up included).
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from .. import optim, quiet, seeds
from ..batches import EpochBatches
from ..dist import Dist
from ..events import EventWriter
from ..stopping import NEVER, StopFlag
from ..tasks import Task
from ..train import lr_lambda
from .common import LOSS_EVENTS_PER_TRAIN, PROGRESS_MIN_INTERVAL_S, _Throttle, sample_item
from .runner import Runner, drive

THOUGHT_EXAMPLES = 20  # eval questions whose per-token thoughts are written to an artifact
# Training thoughts with their rewards (artifacts/train_<i>/thoughts.jsonl): at most this many
# steps of each train phase, evenly spaced and ending at its last step, each the first batch
# row's first thought at up to TRAIN_THOUGHT_POSITIONS positions — a few KB per phase.
TRAIN_THOUGHT_ROWS = 8
TRAIN_THOUGHT_POSITIONS = 64
#: Optional quiet.* keys and what their absence means (the behaviour before they existed):
#: grad_accum — micro-batches per optimizer step; embedding_scale — start/end-of-thought
#: embeddings stored ÷ and used × it (the reference's 100 ≈ 100× their learning rate);
#: reinforce_temperature — the REINFORCE log-probs' temperature (None: the sampling
#: temperature; the reference's 3); finetune/lora_r/lora_alpha/lora_lr — LoRA on the LM's linear
#: layers (lora_lr None: quiet.lr) while the mixing head and thought embeddings train at quiet.lr;
#: grad_checkpoint — recompute each transformer forward of a step in backward; exact_match_limit —
#: eval questions also decoded greedily for exact match (None: all; the teacher-forced metric
#: always covers all of them).
QUIET_DEFAULTS: dict[str, Any] = {
    "grad_accum": 1,
    "embedding_scale": 1.0,
    "reinforce_temperature": None,
    "finetune": "full",
    "lora_r": 16,
    "lora_alpha": 32.0,
    "lora_lr": None,
    "grad_checkpoint": False,
    "exact_match_limit": None,
    # the training corpus (starlab/corpus.py; None: the task's references, a long
    # one split into seq_len chunks, as before)
    "corpus": None,
    "corpus_path": "",
    "corpus_field": "text",
    "corpus_limit": 0,
    # warm-up completions: "reference" (the task's, as before) or "direct" (the gold
    # answer straight after the prompt), warmup_thoughts of the direct ones written with
    # the work between thought markers (the task's thought_completion)
    "warmup_format": "reference",
    "warmup_thoughts": 0.0,
}
STEP_METRICS = (
    "loss",
    "base_loss",
    "mixed_loss",
    "policy_loss",
    "reward_mean",
    "reward_std",
    "mix_weight_mean",
    "mix_weight_std",
    "mix_weight_min",
    "mix_weight_max",
)


@dataclass
class Hooks:
    """Optional callbacks (tests and embedders)."""

    on_warmup_end: Callable[[torch.nn.Module], None] | None = None
    on_step: Callable[[int, dict[str, float]], None] | None = None  # (quiet step, stats)
    on_eval_end: Callable[[int, EvalResult], None] | None = None  # (evaluation index, result)


@dataclass
class EvalResult:
    iteration: int  # evaluation index 0, 1, 2, …
    step: int  # Quiet-STaR optimizer steps so far (warm-up not included)
    #: the paper's metric (eval/accuracy): mean over questions of the teacher-forced gold-answer
    #: probability, renormalised over the valid answer tokens (see TF_METRIC), thought-mixed model
    accuracy: float
    by_difficulty: dict[int, float]
    base_accuracy: float  # the same, without thoughts (eval/base_accuracy)
    base_by_difficulty: dict[int, float]
    extra: dict[str, Any] = field(default_factory=dict)
    #: greedy decoding scored by exact match (eval/exact_match, eval/base_exact_match)
    exact_match: float = 0.0
    em_by_difficulty: dict[int, float] = field(default_factory=dict)
    base_exact_match: float = 0.0
    base_em_by_difficulty: dict[int, float] = field(default_factory=dict)
    #: mean over questions of the gold answer's log-probability (eval/answer_logprob, …)
    answer_logprob: float = 0.0
    base_answer_logprob: float = 0.0
    #: share of questions whose every scored gold token is the argmax over the valid tokens
    argmax_accuracy: float = 0.0
    base_argmax_accuracy: float = 0.0


_DICT_FIELDS = ("by_difficulty", "base_by_difficulty", "em_by_difficulty", "base_em_by_difficulty")


def eval_result_from_dict(r: dict[str, Any]) -> EvalResult:
    """An EvalResult from ``dataclasses.asdict`` (a checkpoint's state): difficulty keys back to int."""
    names = {f.name for f in dataclasses.fields(EvalResult)}
    kw = {k: v for k, v in r.items() if k in names}
    for k in _DICT_FIELDS:
        if k in kw:
            kw[k] = {int(d): a for d, a in kw[k].items()}
    return EvalResult(**kw)


#: What eval/accuracy is (also written to artifacts/summary.json).
TF_METRIC = (
    "teacher-forced gold answer after the question, zero-shot unless task.few_shot (the reference's "
    "compute_metrics): per "
    "question the product over the answer's scored tokens of p(gold) renormalised over the valid "
    "answer tokens (digits + end for numbers, the choice labels + end for multiple choice), "
    "averaged over questions; with thoughts = the mixed prediction after a greedy thought"
)


@dataclass(frozen=True)
class DirectAnswer:
    """How a gold answer is written straight after its prompt for the teacher-forced evaluation:
    ``text`` then ``end`` (a newline, or "" for <eos>); ``kind`` picks the valid tokens the
    probabilities are renormalised over: "number" (every digit token), "choice" (the question's
    ``labels`` as they follow the prompt) or "text" (no renormalisation)."""

    text: str
    end: str
    kind: str
    labels: tuple[str, ...] = ()


def direct_answer(task: Task, q: Any) -> DirectAnswer:
    """The reference's direct answer formats: GSM8K ``"Q: …⏎A:" + " 72" + "⏎"``, CQA
    ``"…⏎A:" + " b" + "⏎"`` (⏎ a newline; this project's lower-case labels); addition (no paper format) the
    answer part of its own completions, ``"374+982:" + "=267"`` + <eos> (reversed digits, the
    end of every training document)."""
    gold = str(q.gold)
    if task.name == "addition":
        return DirectAnswer("=" + str(int(gold))[::-1], "", "number")
    if task.name == "pair-sum":  # the completion as trained (the pair in list order, its sum), then <eos>
        return DirectAnswer(task.reference(q), "", "text")
    if task.name == "commonsenseqa":
        return DirectAnswer(" " + gold, "\n", "choice", tuple(q.labels))
    if task.name == "gsm8k" or re.fullmatch(r"-?\d+(\.\d+)?", gold):
        return DirectAnswer(" " + gold, "\n", "number")
    return DirectAnswer(" " + gold, "\n", "text")


@dataclass
class TFItem:
    """One eval question tokenized for the teacher-forced metric."""

    ids: list[int]  # prompt (with the prefix, if any) + answer + end, <bos> first
    n_prompt: int  # tokens of the prompt
    query: list[int]  # positions whose next token is scored
    targets: list[int]  # the scored gold tokens (ids[query[i] + 1])
    valid: list[int] | None  # the ids the probabilities are renormalised over (None: none)


def em_subset(n: int, limit: int | None) -> list[int]:
    """Indices of the eval questions decoded for exact match: all, or ``limit`` evenly spaced
    ones (the eval split is ordered by difficulty for addition, so not the first ``limit``)."""
    if limit is None or limit >= n:
        return list(range(n))
    return sorted({(i * n) // limit for i in range(limit)})


def record_steps(n: int, rows: int = TRAIN_THOUGHT_ROWS) -> set[int]:
    """Steps 1..n of a train phase whose thoughts are recorded: ≤ rows, evenly spaced, ending at n."""
    if n <= 0 or rows <= 0:
        return set()
    every = max(1, -(-n // rows))
    return {n - k * every for k in range(rows) if n - k * every >= 1}


def eval_schedule(steps: int, eval_every: int) -> list[int]:
    """Quiet steps after which an evaluation runs (besides step 0): every eval_every, and the last."""
    pts = list(range(eval_every, steps + 1, eval_every))
    if not pts or pts[-1] != steps:
        pts.append(steps)
    return pts


class QuietRun(Runner):
    unit = "evaluation"
    COUNTERS = ("total_steps", "quiet_steps", "tokens_generated", "tokens_trained", "examples_trained")

    def __init__(
        self,
        cfg: dict[str, Any],
        events: EventWriter,
        *,
        run_dir: str | None = None,
        stop: StopFlag = NEVER,
        hooks: Hooks | None = None,
        dist: Dist | None = None,
    ):
        super().__init__(cfg, events, run_dir=run_dir, stop=stop, hooks=hooks or Hooks(), dist=dist)
        # total_steps counts the warm-up's optimizer steps too; tokens_generated: thought tokens in
        # training + text and thought tokens at eval; tokens_trained: real tokens of the training
        # batches (warm-up included); examples_trained: warm-up examples + documents in the batches
        self.q = cfg["quiet"]
        self.quiet_steps = 0  # Quiet-STaR optimizer steps
        self.last_sample: dict[str, list] | None = None  # the last recorded step's thoughts (train_step)

    # ------------------------------------------------------------------ helpers
    def _doc_ids(self, text: str) -> list[int]:
        eos = [self.tok.eos_id] if self.tok.eos_id is not None else []
        return self._bos() + self.tok.encode(text) + eos

    def _eval_metrics(self, res: EvalResult) -> dict[str, float]:
        """eval/accuracy (the headline) is the paper's teacher-forced metric with thoughts;
        eval/exact_match is greedy decoding's exact match (eval/accuracy before this metric)."""
        vals = {
            "eval/accuracy": res.accuracy,
            "eval/base_accuracy": res.base_accuracy,
            "eval/answer_logprob": res.answer_logprob,
            "eval/base_answer_logprob": res.base_answer_logprob,
            "eval/argmax_accuracy": res.argmax_accuracy,
            "eval/base_argmax_accuracy": res.base_argmax_accuracy,
            "eval/exact_match": res.exact_match,
            "eval/base_exact_match": res.base_exact_match,
        }
        for metric, by in (
            ("accuracy", res.by_difficulty),
            ("base_accuracy", res.base_by_difficulty),
            ("exact_match", res.em_by_difficulty),
            ("base_exact_match", res.base_em_by_difficulty),
        ):
            vals.update(self.difficulty_metrics(f"eval/{metric}", by))
        return vals

    # ------------------------------------------------------------------ setup
    def finetune_mode(self) -> str:
        return self.qkey("finetune")

    def qkey(self, key: str) -> Any:
        """A quiet.* key added after configs were stored: its value, or QUIET_DEFAULTS' (the
        behaviour before the key) where the config has none."""
        return self.q.get(key, QUIET_DEFAULTS[key])

    # ------------------------------------------------------------------ warm-up (as STaR's)
    def warmup_examples(self) -> tuple[list[tuple[list[int], list[int]]], list[dict[str, Any]]]:
        """The warm-up questions with their reference completions, or with quiet.warmup_format
        "direct" their gold answers (some steps' work between thought markers: warmup_thoughts)."""
        examples, rows = [], []
        direct = self.qkey("warmup_format") == "direct"
        thought_share = float(self.qkey("warmup_thoughts"))
        if thought_share > 0 and not direct:
            raise ValueError(
                'quiet.warmup_thoughts > 0 needs quiet.warmup_format "direct" (direct answers whose '
                "steps show their work between thought markers with that probability)"
            )
        if thought_share > 0 and not hasattr(self.task, "thought_completion"):
            raise ValueError(
                f"quiet.warmup_thoughts: the {self.task.name} task cannot write its work between thought markers (addition can)"
            )
        rng = random.Random(f"quiet-warmup:{self.seed}")
        for q, hinted in self.splits.warmup:
            if not direct:
                ref = self.task.reference(q)
            elif thought_share > 0:  # each step's work (digits, end) marked with probability warmup_thoughts
                marked = [rng.random() < thought_share for _ in range(self.task.answer_steps(q))]
                ref = self.task.thought_completion(q, marked)
            else:
                da = direct_answer(self.task, q)
                ref = da.text + da.end
            if ref is None:
                continue
            p = self.task.prompt(q, hint=hinted)
            examples.append((self._train_prompt_ids(p), self._completion_ids(p, self.task.training_completion(q, ref))))
            rows.append({"question_id": q.qid, "prompt": p, "completion": ref, "hinted": hinted})
        return examples, rows

    def warmup_finetune(self, examples: list[tuple[list[int], list[int]]]) -> list[float]:
        w = self.cfg["warmup"]
        steps = w["steps"] if examples else 0
        if steps:
            self.ev.progress(0, "warmup", 0, steps)
        losses = self._finetune_logged(
            0, "warmup", examples, steps=steps, lr=w["lr"], batch_size=w["batch_size"], seed=seeds.derive(self.seed, "quiet_warmup")
        )
        if losses:  # estimated from the mean example length (STaR counts the batches' own tokens)
            mean_len = sum(len(p) + len(c) for p, c in examples) / len(examples)
            n_seen = len(losses) * min(w["batch_size"], len(examples))
            self.examples_trained += n_seen
            self.tokens_trained += int(round(n_seen * mean_len))
        return losses

    # ------------------------------------------------------------------ Quiet-STaR
    def setup_quiet(self) -> None:
        """Thought tokens + mixing head, the training corpus and the optimizer."""
        self.qm = quiet.QuietModel(self.model, self.tok, embedding_scale=self.qkey("embedding_scale"))
        self.qm.to(self.device)
        self.peft = None
        if self.qkey("finetune") == "lora":
            # adapters on every linear layer of the LM (peft, in place: qm.lm keeps its class); the
            # LM's own weights freeze, the mixing head and thought embeddings (outside qm.lm) train
            from .. import lora

            self.peft = lora.add_adapter(
                self.qm.lm, r=self.qkey("lora_r"), alpha=self.qkey("lora_alpha"), seed=seeds.derive(self.seed, "quiet_lora")
            )
        self.qm.grad_checkpoint = bool(self.qkey("grad_checkpoint"))
        docs, split_long, source, notes = self._corpus_docs()
        order = torch.randperm(len(docs), generator=torch.Generator().manual_seed(seeds.derive(self.seed, "quiet_doc_order"))).tolist()
        skipped: list[int] = []
        self.rows, self.row_docs = quiet.pack_documents(
            [docs[i] for i in order], self.q["seq_len"], self.qm.pad_id, skipped=skipped, split_long=split_long
        )
        long_docs = sum(1 for d in docs if len(d) > self.q["seq_len"])
        self.n_docs = len(docs)
        n_tokens = int((self.row_docs >= 0).sum())
        self.corpus_info = {
            "source": source,
            "documents": self.n_docs,
            "tokens": n_tokens,
            "truncated_from_front": len(skipped),
            "split_long": long_docs if split_long else 0,
        }
        for note in notes:
            self.ev.log("warning", f"quiet-star corpus: {note}")
        if skipped:
            self.ev.log(
                "warning",
                f"quiet-star corpus: {len(skipped)} document(s) longer than quiet.seq_len = "
                f"{self.q['seq_len']} tokens truncated from the front to their last seq_len tokens "
                f"(the answer is never cut from its question's end)",
            )
        elif split_long and long_docs:
            self.ev.log(
                "warning",
                f"quiet-star corpus: {long_docs} document(s) longer than quiet.seq_len = "
                f"{self.q['seq_len']} tokens split into seq_len chunks",
            )
        params: Any = self.qm.parameters()
        if self.peft is not None:  # the adapters at quiet.lora_lr (None: quiet.lr), the head and thought embeddings at quiet.lr
            own = [p for p in (*self.qm.head.parameters(), self.qm.thought_embeddings) if p.requires_grad]
            own_ids = {id(p) for p in own}
            lm_params = [p for p in self.qm.parameters() if p.requires_grad and id(p) not in own_ids]
            lm_lr = self.q["lr"] if self.qkey("lora_lr") is None else self.qkey("lora_lr")
            params = [{"params": lm_params, "lr": lm_lr}, {"params": own, "lr": self.q["lr"]}]
        self.opt, self.sched = optim.adamw(params, lr=self.q["lr"], weight_decay=0.001, schedule=lr_lambda(self.q["steps"]))
        self.batches = EpochBatches(len(self.rows), self.q["batch_size"], seeds.derive(self.seed, "quiet_batches"))
        self.thought_gen = torch.Generator(device=self.device).manual_seed(seeds.derive(self.seed, "quiet_thoughts"))
        self.ev.log(
            "info",
            f"quiet-star corpus ({source}): {self.n_docs} documents, {n_tokens} tokens packed into "
            f"{len(self.rows)} rows of {self.q['seq_len']} tokens; thought tokens "
            f"{self.qm.start_id}/{self.qm.end_id}",
        )

    def _corpus_docs(self) -> tuple[list[list[int]], bool, str, list[str]]:
        """The training corpus (quiet.corpus, see starlab/corpus.py) as token lists, whether a
        document longer than seq_len is split into chunks (True: text corpora and configs from
        before quiet.corpus) or truncated from the front (a task's question + answer documents,
        never cut between the two), its source and log notes."""
        from .. import corpus

        src = self.qkey("corpus")
        if src in (None, "task"):
            docs = []
            for q in self.splits.train:
                ref = self.task.reference(q)
                if ref is not None:
                    docs.append(self._doc_ids(self.task.training_text(q, ref)))
            if not docs:
                raise RuntimeError(
                    "quiet-star needs reference completions of the train questions; the task has none "
                    '(set quiet.corpus to "direct", "file" or "hub")'
                )
            return docs, src is None, "task", []
        if src == "direct":
            docs = [self._doc_ids(self._direct_text(q)) for q in self.splits.train]
            if not docs:
                raise RuntimeError('quiet-star corpus "direct": the task has no train questions')
            return docs, False, "direct", []
        limit = int(self.qkey("corpus_limit"))
        if src == "file":
            tc = corpus.read_file(self.qkey("corpus_path"), self.qkey("corpus_field"), limit)
        elif src == "hub":
            tc = corpus.read_hub(self.qkey("corpus_path"), self.qkey("corpus_field"), limit)
        else:
            raise ValueError(f"unknown quiet.corpus {src!r} (known: {', '.join(corpus.CORPUS_SOURCES)})")
        return [self._doc_ids(d) for d in tc.docs], True, tc.source, tc.notes

    def _direct_text(self, q: Any) -> str:
        """A question with its gold answer straight after the prompt, as the evaluation writes it
        (direct_answer: its text, then its end where the end is text; <eos> is _doc_ids')."""
        da = direct_answer(self.task, q)
        return self.task.prompt(q) + da.text + da.end

    def _batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        idx = self.batches.next()
        return self.rows[idx], self.row_docs[idx]

    def train_step(self, record: bool = False) -> dict[str, float]:
        """One optimizer step; with ``record``, the first row's thoughts are kept in ``last_sample``
        (from tensors the loss computes anyway: no extra forward, the same RNG stream)."""
        q = self.q
        self.qm.train()
        accum = int(self.qkey("grad_accum"))
        self.opt.zero_grad(set_to_none=True)
        parts: list[dict[str, float]] = []
        d = self.dist
        for a in range(accum):  # quiet.grad_accum micro-batches of quiet.batch_size rows, one optimizer step
            ids, doc = self._batch()  # the same rows on every rank
            self.examples_trained += int(sum(len(torch.unique(r[r >= 0])) for r in doc))
            # under torchrun, rank r takes rows r, r + W, … normalised by the whole batch's counts;
            # their gradients are summed over the ranks below (QuietModel's parts are called
            # directly, so DDP cannot wrap its forward)
            norms = quiet.batch_norms(doc, q["n_ahead"], q["n_thoughts"]) if d.enabled else None
            mine = slice(d.rank, None, d.world) if d.enabled else slice(None)
            out = None
            if len(ids[mine]):
                with self.precision.context(self.device, cache=True):
                    out = quiet.quiet_loss(
                        self.qm,
                        ids[mine],
                        doc[mine],
                        n_thoughts=q["n_thoughts"],
                        thought_len=q["thought_len"],
                        n_ahead=q["n_ahead"],
                        temperature=q["thought_temperature"],
                        policy_weight=q["policy_weight"],
                        generator=self.thought_gen,
                        record=record and a == 0,
                        reinforce_temperature=self.qkey("reinforce_temperature"),
                        norms=norms,
                    )
                # the mean of the micro-batches' losses, as the reference's Trainer (loss ÷ accumulation steps)
                (out.loss / accum if accum > 1 else out.loss).backward()
            if a == 0:
                self.last_sample = out.sample if out is not None else None
            if d.enabled:
                stats = quiet.combine_stats(d.objects(out.stats if out is not None else {}))
            else:
                assert out is not None
                stats = out.stats
            parts.append(stats)
            self.tokens_trained += stats["tokens_trained"]
            self.tokens_generated += stats["tokens_generated"]
            del out
        d.sum_grads(self.qm.parameters())
        torch.nn.utils.clip_grad_norm_(self.qm.parameters(), 1.0)
        self.opt.step()
        self.sched.step()
        self.total_steps += 1
        self.quiet_steps += 1
        if accum == 1:
            return parts[0]
        stats = {k: sum(p[k] for p in parts) / accum for k in parts[0]}
        stats["mix_weight_min"] = min(p["mix_weight_min"] for p in parts)
        stats["mix_weight_max"] = max(p["mix_weight_max"] for p in parts)
        for k in ("tokens_trained", "tokens_generated"):
            stats[k] = sum(p[k] for p in parts)
        return stats

    def _thought_row(self, sample: dict[str, list]) -> dict[str, Any]:
        """A recorded sample as an artifact row: the window's text and, per token, the thought
        sampled after it, its reward (null where the position has no target) and mixing weight."""
        n = min(TRAIN_THOUGHT_POSITIONS, sum(1 for d in sample["doc"] if d >= 0))
        ids = sample["ids"][:n]
        tokens = []
        for t in range(n):
            ok = bool(sample["valid"][t])
            tokens.append(
                {
                    "token": self.tok.decode([ids[t]], skip_special=False),
                    "thought": quiet.decode_thought(self.tok, self.qm, sample["thoughts"][t]),
                    "reward": round(float(sample["reward"][t]), 5) if ok else None,
                    "w": round(float(sample["w"][t]), 5),
                }
            )
        # "step" is the metrics' step (warm-up included) so a row lines up with the training curves
        return {"step": self.total_steps, "quiet_step": self.quiet_steps, "text": self.tok.decode(ids), "tokens": tokens}

    def train_until(self, iteration: int, target: int) -> None:
        """Quiet-STaR steps up to quiet step ``target`` (the train phase of evaluation ``iteration``)."""
        n = target - self.quiet_steps
        throttle = _Throttle(PROGRESS_MIN_INTERVAL_S)
        every = max(1, n // LOSS_EVENTS_PER_TRAIN)
        window: dict[str, list[float]] = {k: [] for k in STEP_METRICS}
        # The whole phase reruns after a resume (checkpoints follow evaluations), and so do its rows.
        recorded, thought_rows = record_steps(n), []
        if self.dist.enabled:
            # each rank its own thought stream, seeded per training phase: a resume (at a checkpoint,
            # after an evaluation) draws what the uninterrupted run would have, on every rank
            self.thought_gen.manual_seed(seeds.rank_seed(seeds.derive(self.seed, "quiet_thoughts", iteration), self.dist.rank))
        with self.ev.phase(iteration, "train") as ph:
            self.ev.progress(iteration, "train", 0, n)
            for i in range(1, n + 1):
                self.stop.check()
                stats = self.train_step(record=i in recorded)
                if i in recorded and self.last_sample is not None:
                    thought_rows.append(self._thought_row(self.last_sample))
                for k in STEP_METRICS:
                    window[k].append(stats[k])
                if self.hooks.on_step:
                    self.hooks.on_step(self.quiet_steps, stats)
                if i % every == 0 or i == n:
                    mean = {k: sum(v) / len(v) for k, v in window.items() if v}
                    vals = {"train/loss": mean["loss"], "train/lr": self.sched.get_last_lr()[0]}
                    if i < n:  # the last window shares its step with the evaluation's row, which writes these
                        vals.update(
                            {
                                "quiet/step": self.quiet_steps,
                                "compute/tokens_trained": self.tokens_trained,
                                "compute/tokens_generated": self.tokens_generated,
                            }
                        )
                    vals.update({f"quiet/{k}": v for k, v in mean.items() if k != "loss"})
                    vals["quiet/mix_weight_min"] = min(window["mix_weight_min"])
                    vals["quiet/mix_weight_max"] = max(window["mix_weight_max"])
                    self.ev.metrics(iteration, self.total_steps, vals)
                    for v in window.values():
                        v.clear()
                self._progress(throttle, iteration, "train", i, n)
            if thought_rows:
                self._artifact(f"artifacts/train_{iteration}/thoughts.jsonl", "jsonl", iteration, thought_rows)
        self.last_train_s = ph.duration_s

    # ------------------------------------------------------------------ evaluation
    def _digit_ids(self) -> list[int]:
        """Every text token that is only digits (with surrounding spaces): the valid tokens of a
        numeric answer. For Mistral/Llama/Qwen tokenizers these are the ten single digits — the
        reference's list; for a tokenizer with multi-digit tokens (GPT-2 BPE) those count too."""
        if getattr(self, "_digits", None) is None:
            n = self.qm.text_vocab
            inner = getattr(self.tok, "tok", None)
            if inner is not None and hasattr(inner, "batch_decode"):
                texts = inner.batch_decode([[i] for i in range(n)], skip_special_tokens=True)
            else:
                texts = [self.tok.decode([i]) for i in range(n)]
            self._digits = [i for i, t in enumerate(texts) if t.strip() and all(c in "0123456789" for c in t.strip())]
        return self._digits

    def tf_item(self, x: Any) -> TFItem:
        """A question tokenized for the teacher-forced metric: <bos>, prefix (task.few_shot, else
        none: zero-shot), prompt, then the gold answer written as :func:`direct_answer` says, its
        ids as they follow the prompt's (``encode_continuation``). Scored are the answer's tokens
        that are valid tokens — digits (and the end) of a number, the label (and the end) of a
        choice — as the reference scores the digits and newline after " " and the letter and newline;
        the rest (a space token, "=", "-", ".") is skipped like the reference's non-valid tokens."""
        da = direct_answer(self.task, x)
        prompt = self.task.prompt(x)
        head = self.prefix + prompt
        p_ids = self._prompt_ids(prompt)
        body = self.tok.encode_continuation(head, da.text)
        if da.end:
            ans = self.tok.encode_continuation(head, da.text + da.end)
        else:
            ans = body + [self.tok.eos_id]
        k = 0
        while k < min(len(ans), len(body)) and ans[k] == body[k]:
            k += 1
        end_ids = ans[k:]
        valid: list[int] | None
        if da.kind == "number":
            valid = sorted(set(self._digit_ids()) | set(end_ids))
        elif da.kind == "choice":
            labs = {i for lab in da.labels for i in self.tok.encode_continuation(head, " " + lab) if self.tok.decode([i]).strip()}
            valid = sorted(labs | set(end_ids))
        else:
            valid = None
        vset = None if valid is None else set(valid)
        scored = [j for j, t in enumerate(ans) if vset is None or t in vset]
        if not scored:  # nothing valid (an unusual tokenizer): score every answer token, unrenormalised
            scored, valid = list(range(len(ans))), None
        n = len(p_ids)
        return TFItem(p_ids + ans, n, [n + j - 1 for j in scored], [ans[j] for j in scored], valid)

    def _teacher_forced(self, items: list[TFItem], on_batch: Callable[[int], None] | None = None) -> list[dict[str, float]]:
        """Each item's scores with and without thoughts (quiet.answer_logits + quiet.score_answer),
        in batches of gen_batch sequences sorted by length."""
        order = sorted(range(len(items)), key=lambda i: len(items[i].ids))
        out: list[dict[str, float]] = [{} for _ in items]
        text_mask = self.qm.text_logit_mask()
        done = 0
        for s0 in range(0, len(order), self.gen_batch):
            self.local_stop.check()  # under torchrun the ranks' shares take different numbers of batches
            idx = order[s0 : s0 + self.gen_batch]
            T = max(len(items[i].ids) for i in idx)
            S = max(len(items[i].query) for i in idx)
            ids = torch.full((len(idx), T), self.qm.pad_id, dtype=torch.long)
            qp = torch.zeros((len(idx), S), dtype=torch.long)
            for r, i in enumerate(idx):
                ids[r, : len(items[i].ids)] = torch.tensor(items[i].ids, dtype=torch.long)
                qp[r, : len(items[i].query)] = torch.tensor(items[i].query, dtype=torch.long)
            lengths = torch.tensor([len(items[i].ids) for i in idx], dtype=torch.long)
            with self.precision.context(self.device, cache=True):
                lg = quiet.answer_logits(self.qm, ids, lengths, qp, thought_len=self.q["thought_len"])
            for r, i in enumerate(idx):
                it, n = items[i], len(items[i].query)
                m = quiet.score_answer(lg["mixed"][r, :n], it.targets, it.valid, text_mask)
                b = quiet.score_answer(lg["base"][r, :n], it.targets, it.valid, text_mask)
                out[i] = {
                    "answer_prob": m.prob,
                    "base_answer_prob": b.prob,
                    "answer_logprob": m.logprob,
                    "base_answer_logprob": b.logprob,
                    "argmax": float(m.argmax),
                    "base_argmax": float(b.argmax),
                    "answer_mix_weight": float(lg["w"][r, :n].mean()),
                    "n_tokens": n,
                }
            done += len(idx)
            if on_batch is not None:
                on_batch(done)
        return out

    def evaluate(self, iteration: int) -> EvalResult:
        """The paper's zero-shot teacher-forced metric on every eval question (eval/accuracy with
        thoughts, eval/base_accuracy without; see TF_METRIC), then greedy decoding with and
        without thoughts scored by exact match (eval/exact_match, eval/base_exact_match). The
        prompts carry the task's few-shot prefix only where task.few_shot is set."""
        q = self.q
        qs = self.splits.eval
        with self.ev.phase(iteration, "evaluate") as ph:
            # greedy decoding (exact match) on all of them, or on quiet.exact_match_limit evenly spaced ones
            sel = em_subset(len(qs), self.qkey("exact_match_limit"))
            gq = [qs[i] for i in sel]
            prompts = [self._prompt_ids(self.task.prompt(x)) for x in gq]
            throttle = _Throttle(PROGRESS_MIN_INTERVAL_S)
            n_tf, n_q = len(qs), len(prompts)
            total = n_tf + 2 * n_q
            self.ev.progress(iteration, "evaluate", 0, total)
            t0 = time.perf_counter()
            if getattr(self, "_tf_items", None) is None:  # the same sequences at every evaluation
                self._tf_items = [self.tf_item(x) for x in qs]
            # under torchrun each rank scores and decodes its share (greedy: what one process gets)
            W = self.dist.world
            items_tf = self._tf_items
            tf = self.across_ranks(
                len(items_tf),
                lambda idx: self._teacher_forced(
                    [items_tf[i] for i in idx], on_batch=lambda d: self._progress(throttle, iteration, "evaluate", min(n_tf, d * W), total)
                ),
            )
            t_tf = time.perf_counter() - t0
            common = dict(
                max_new_tokens=q["max_new_tokens"],
                thought_len=q["thought_len"],
                stop_strings=self.task.stop_strings,
                batch_size=self.gen_batch,
                stop=self.local_stop,
            )

            def decode(thoughts: bool, offset: int) -> list[quiet.Generation]:
                with self.precision.context(self.device, cache=True):
                    return self.across_ranks(
                        n_q,
                        lambda idx: quiet.generate(
                            self.qm,
                            self.tok,
                            [prompts[i] for i in idx],
                            use_thoughts=thoughts,
                            thought_temperature=0.0,
                            on_batch=lambda d, t: self._progress(throttle, iteration, "evaluate", offset + min(n_q, d * W), total),
                            **common,
                        ),
                    )

            t0 = time.perf_counter()
            gens = decode(True, n_tf)
            t_think = time.perf_counter() - t0
            t0 = time.perf_counter()
            base = decode(False, n_tf + n_q)
            t_base = time.perf_counter() - t0
            items, correct, base_correct, thought_rows, all_w = [], [], [], [], []
            for i, (x, g, b) in enumerate(zip(gq, gens, base)):
                text = self.task.clean_completion(self.tok.decode(g.ids))
                ans = self.task.extract_answer(text, x)
                ok = self.task.is_correct(ans, x.gold)
                btext = self.task.clean_completion(self.tok.decode(b.ids))
                bok = self.task.is_correct(self.task.extract_answer(btext, x), x.gold)
                correct.append(ok)
                base_correct.append(bok)
                all_w.extend(g.weights)
                # "correct" (the sample's) is the generated text's exact match; the teacher-forced
                # scores of the gold answer are beside it
                scores = {"base_correct": float(bok)}
                scores.update(
                    {k: float(tf[sel[i]][k]) for k in ("answer_prob", "base_answer_prob", "answer_logprob", "base_answer_logprob")}
                )
                if g.weights:
                    scores["mix_weight_mean"] = sum(g.weights) / len(g.weights)
                items.append(sample_item(self.task, x, text, ans, ok, split="eval", kind="eval", scores=scores))
                if i < THOUGHT_EXAMPLES:
                    thought_rows.append(
                        {
                            "question_id": x.qid,
                            "question": self.task.question_text(x),
                            "gold": x.gold,
                            "completion": text,
                            "correct": ok,
                            "base_completion": btext,
                            "base_correct": bok,
                            "tokens": [
                                {"token": self.tok.decode([t]), "thought": quiet.decode_thought(self.tok, self.qm, th), "w": round(w, 5)}
                                for t, th, w in zip(g.ids, g.thoughts, g.weights)
                            ],
                        }
                    )
            self._emit_samples(iteration, items)
            self._artifact(f"artifacts/eval_{iteration}/thoughts.jsonl", "jsonl", iteration, thought_rows)
        n_text = sum(len(g.ids) for g in gens) + sum(len(b.ids) for b in base)
        n_thought = sum(len(g.ids) * (q["thought_len"] + 2) for g in gens)
        n_tf = sum(int(r["n_tokens"]) for r in tf) * (q["thought_len"] + 2)  # thoughts at the scored positions
        self.tokens_generated += n_text + n_thought + n_tf
        nq = max(1, len(qs))

        def mean(key: str) -> float:
            return sum(float(r[key]) for r in tf) / nq

        res = EvalResult(
            iteration,
            self.quiet_steps,
            mean("answer_prob"),
            self.by_difficulty(qs, [r["answer_prob"] for r in tf]),
            mean("base_answer_prob"),
            self.by_difficulty(qs, [r["base_answer_prob"] for r in tf]),
            exact_match=sum(correct) / max(1, len(gq)),
            em_by_difficulty=self.by_difficulty(gq, correct),
            base_exact_match=sum(base_correct) / max(1, len(gq)),
            base_em_by_difficulty=self.by_difficulty(gq, base_correct),
            answer_logprob=mean("answer_logprob"),
            base_answer_logprob=mean("base_answer_logprob"),
            argmax_accuracy=mean("argmax"),
            base_argmax_accuracy=mean("base_argmax"),
        )
        res.extra = {
            "time/evaluate_s": ph.duration_s,
            "time/evaluate_teacher_forced_s": t_tf,
            "eval/tokens_per_s": sum(len(g.ids) for g in gens) / max(t_think, 1e-9),
            "eval/base_tokens_per_s": sum(len(b.ids) for b in base) / max(t_base, 1e-9),
        }
        if tf:
            res.extra["eval/answer_mix_weight_mean"] = mean("answer_mix_weight")
        if all_w:
            res.extra["eval/mix_weight_mean"] = sum(all_w) / len(all_w)
        return res

    def _record_eval(self, res: EvalResult) -> None:
        self.results.append(res)
        vals = {**self._eval_metrics(res), **res.extra, "quiet/step": res.step, **self._compute_metrics()}
        if res.iteration > 0:
            vals["time/train_s"] = self.last_train_s
        self.ev.metrics(res.iteration, self.total_steps, vals)
        by = ", ".join(f"{d}: {a:.2f}" for d, a in res.by_difficulty.items())
        self.ev.log(
            "info",
            f"evaluation {res.iteration} (quiet step {res.step}): teacher-forced accuracy "
            f"{res.accuracy:.3f}"
            + (f" ({by})" if by else "")
            + f", without thoughts {res.base_accuracy:.3f}; answer log-prob {res.answer_logprob:.3f} "
            f"(without {res.base_answer_logprob:.3f}); greedy exact match {res.exact_match:.3f} "
            f"(without {res.base_exact_match:.3f})",
        )
        if self.hooks.on_eval_end:
            self.hooks.on_eval_end(res.iteration, res)

    # ------------------------------------------------------------------ the run
    def evaluate_start(self) -> None:
        """Evaluation 0: the warmed-up model with the thought tokens and a zero-initialised mixing
        head, which predicts exactly as the model alone."""
        self.setup_quiet()
        self._record_eval(self.evaluate(0))

    def iterations(self) -> int:
        return len(eval_schedule(self.q["steps"], self.q["eval_every"]))

    def iteration(self, n: int) -> EvalResult:
        """Quiet-STaR steps up to evaluation n's point of the schedule, then evaluation n."""
        self.train_until(n, eval_schedule(self.q["steps"], self.q["eval_every"])[n - 1])
        res = self.evaluate(n)
        self._record_eval(res)
        return res

    def summary(self) -> dict[str, Any]:
        return {
            "accuracy_metric": TF_METRIC,
            "accuracy": [r.accuracy for r in self.results],
            "base_accuracy": [r.base_accuracy for r in self.results],
            "by_difficulty": [{str(d): a for d, a in r.by_difficulty.items()} for r in self.results],
            "answer_logprob": [r.answer_logprob for r in self.results],
            "base_answer_logprob": [r.base_answer_logprob for r in self.results],
            "exact_match": [r.exact_match for r in self.results],
            "base_exact_match": [r.base_exact_match for r in self.results],
            "few_shot": bool(self.prefix),
            "steps": [r.step for r in self.results],
            "thought_tokens": [self.qm.start_id, self.qm.end_id],
            "corpus": {**self.corpus_info, "rows": len(self.rows), "seq_len": self.q["seq_len"]},
        }

    def save_model(self, rel: str) -> None:
        if not self.is_main:  # under torchrun rank 0 alone writes files
            return
        path = os.path.join(self.run_dir, rel)
        if self.peft is not None:  # LoRA: the adapters merged into the weights
            self.peft.merge_and_unload()
        with torch.no_grad():  # the trained thought embeddings in the saved matrix's rows
            w_in = self.qm.lm.get_input_embeddings().weight
            tv = self.qm.thought_vectors().to(w_in.dtype)
            w_in[self.qm.start_id] = tv[0]
            w_in[self.qm.end_id] = tv[1]
        self.qm.lm.save_pretrained(path)
        self.tok.save_pretrained(path)
        # safetensors + JSON, like the checkpoints: nothing in a run directory is a pickle
        from ..safe_state import save_weights

        save_weights(dict(self.qm.head.state_dict()), os.path.join(path, "quiet_head.safetensors"))
        with open(os.path.join(path, "quiet_head.json"), "w", encoding="utf-8") as f:
            json.dump({"start_id": self.qm.start_id, "end_id": self.qm.end_id}, f)
        self.ev.artifact("final_model", "model", rel, iteration=len(self.results) - 1)

    # ------------------------------------------------------------------ resume
    def save_checkpoint(self, iteration: int) -> None:
        """Everything the next training step depends on: the model with its thought embeddings and
        mixing head, the optimizer and schedule, the data order and both RNG streams — tensors
        and plain values only (checkpoint.save_tensors writes them without pickle; the tensors
        are stored detached, on the CPU, tied weights once)."""
        from .. import checkpoint

        if not self.is_main:  # under torchrun rank 0 alone writes files (every rank holds the same state)
            return
        data_gen, perm, pos = self.batches.state()
        tensors = {
            "qm": self.qm.state_dict(),
            "opt": self.opt.state_dict(),
            "sched": self.sched.state_dict(),
            "data_gen": data_gen,
            "thought_gen": self.thought_gen.get_state(),
            "perm": perm,
            "pos": pos,
        }
        checkpoint.save_tensors(self.run_dir, iteration, self.cfg, tensors, self.checkpoint_state(), identity=self.identity())

    def result_from_dict(self, r: dict[str, Any]) -> EvalResult:
        return eval_result_from_dict(r)

    def resume(self) -> int | None:
        from .. import checkpoint

        ck = checkpoint.load_tensors(self.run_dir, self.cfg, identity=self.identity())
        if ck is None:
            return None
        n, tensors, state = ck
        self.setup_quiet()  # the same thought tokens, corpus and optimizer shapes as the first process
        self.qm.load_state_dict(tensors["qm"])
        self.opt.load_state_dict(tensors["opt"])
        self.sched.load_state_dict(tensors["sched"])
        self.batches.load_state(tensors["data_gen"], tensors["perm"], tensors["pos"])
        self.thought_gen.set_state(tensors["thought_gen"])
        self.load_checkpoint_state(state)
        self.start_iteration = n + 1
        return n


def run(
    cfg: dict[str, Any],
    events: EventWriter,
    *,
    run_dir: str | None = None,
    stop: StopFlag = NEVER,
    hooks: Hooks | None = None,
    emit_run_start: bool = True,
    run_id: str | None = None,
    resume: bool = False,
    dist: Dist | None = None,
) -> list[EvalResult]:
    """Run Quiet-STaR: run_start (config, environment, hashes), warm-up, evaluation 0, then
    training with an evaluation every eval_every steps, checkpointed after each evaluation;
    with ``resume``, continue after the run directory's last checkpoint. ``dist``: this
    process's rank under torchrun (starlab/dist.py)."""
    r = QuietRun(cfg, events, run_dir=run_dir, stop=stop, hooks=hooks, dist=dist)
    return drive(r, cfg, events, emit_run_start=emit_run_start, run_id=run_id, resume=resume)
