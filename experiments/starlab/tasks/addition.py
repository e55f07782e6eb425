"""n-digit addition with a scratchpad rationale (the STaR paper's arithmetic task, in a
compact character format a tiny model can learn on a CPU).

Format (version ``FORMAT_VERSION``), for 473 + 289 = 762:

    question (the prompt)       374+982:              operands least-significant digit first
    hinted prompt               374+982(267):          gold answer (reversed) as the hint
    rationale + answer          3902;7816;4217;=267    one step per digit position, then the answer

Each step is four characters: digit of a, digit of b, carry in, digit out. The answer after
``=`` is the sum written least-significant digit first (a final carry adds one more digit).
The hint only ever appears in the prompt; the training text of a kept sample is always
``question + rationale`` (see :func:`training_text`).

Difficulty = digit count; both operands of a d-digit question have exactly d digits
(1-digit operands are 0–9).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from .base import Splits as TaskSplits
from .base import Task

FORMAT_VERSION = "addition-rev-scratch-v1"
EXTRACTOR_VERSION = "addition-extract-v1"
SEP = ":"


@dataclass(frozen=True)
class Question:
    qid: str
    a: int
    b: int
    digits: int

    @property
    def gold(self) -> str:
        return str(self.a + self.b)

    @property
    def display(self) -> str:
        return f"{self.a}+{self.b}"


def _rev(n: int) -> str:
    return str(n)[::-1]


def prompt(q: Question, hint: bool = False) -> str:
    """What the model is given. With ``hint`` the reversed gold answer follows in parentheses."""
    core = f"{_rev(q.a)}+{_rev(q.b)}"
    if hint:
        core += f"({_rev(q.a + q.b)})"
    return core + SEP


def question_text(q: Question) -> str:
    """The plain (hint-free) prompt; this is what a training text starts with."""
    return prompt(q, hint=False)


def rationale(q: Question) -> str:
    """The reference scratchpad + answer (used for the warm-up examples only)."""
    ra, rb = _rev(q.a), _rev(q.b)
    n = max(len(ra), len(rb))
    ra, rb = ra.ljust(n, "0"), rb.ljust(n, "0")
    carry = 0
    steps = []
    for i in range(n):
        da, db = int(ra[i]), int(rb[i])
        s = da + db + carry
        steps.append(f"{da}{db}{carry}{s % 10}")
        carry = s // 10
    return ";".join(steps) + ";=" + _rev(q.a + q.b)


#: What a thought-marked completion writes around each digit's work (Quiet-STaR's warm-up,
#: quiet.warmup_thoughts): "-", the character the start/end-of-thought tokens' embeddings start
#: from with the char tokenizer (quiet._init_vector: "---" where it is one token, else "-").
THOUGHT_MARK = "-"


def thought_completion(q: Question, marked: Sequence[bool] | None = None, mark: str = THOUGHT_MARK) -> str:
    """The direct answer with the work of each step before it between thought markers: ``=``
    then, per digit position (least significant first, a final carry included) and for the end,
    ``-abc-`` (digit of a, digit of b, carry in; ``000`` for the end, which <eos> follows) and
    the sum's digit. ``marked`` (one bool per digit, then one for the end; None: all) says which
    steps show their work — for 473 + 289 all marked: ``=-390-2-781-6-421-7-000-``, none marked:
    the direct answer ``=267``."""
    ra, rb, rs = _rev(q.a), _rev(q.b), _rev(q.a + q.b)
    if marked is None:
        marked = [True] * (len(rs) + 1)
    if len(marked) != len(rs) + 1:
        raise ValueError(f"marked needs {len(rs) + 1} flags (digits + end), got {len(marked)}")
    out, carry = ["="], 0
    for i, d in enumerate(rs + " "):
        da = int(ra[i]) if i < len(ra) else 0
        db = int(rb[i]) if i < len(rb) else 0
        work = f"{mark}{da}{db}{carry}{mark}" if marked[i] else ""
        out.append(work + d.strip())
        carry = (da + db + carry) // 10
    return "".join(out)


def answer_steps(q: Question) -> int:
    """Steps of a thought-marked completion: the sum's digits, then the end."""
    return len(str(q.a + q.b)) + 1


def training_text(q: Question, completion: str) -> str:
    """The text a kept sample is trained on: the plain question and the completion, never the hint."""
    return question_text(q) + completion


_ANSWER_RE = re.compile(r"=([0-9]+)$")


def clean_completion(text: str) -> str:
    """A completion is one line: cut at the first newline and strip surrounding spaces."""
    return text.split("\n", 1)[0].strip()


def extract_answer(completion: str) -> str | None:
    """The answer a completion commits to, in normal digit order without leading zeros, or
    None. It is the digits after the last ``=``, which must end the (one-line) completion."""
    m = _ANSWER_RE.search(clean_completion(completion))
    if not m:
        return None
    return str(int(m.group(1)[::-1]))


def is_correct(answer: str | None, gold: str) -> bool:
    return answer is not None and answer == str(int(gold))


def max_sequence_length(digits: int) -> int:
    """Tokens of the longest training/generation sequence for ``digits`` (char tokenizer, with
    <bos>, hinted prompt, rationale, answer and <eos>)."""
    q = Question("x", 10**digits - 1, 10**digits - 1, digits)
    return 1 + len(prompt(q, hint=True)) + len(rationale(q)) + 1


def max_completion_length(digits: int) -> int:
    """New tokens needed to write a ``digits``-digit rationale and answer (with <eos>)."""
    q = Question("x", 10**digits - 1, 10**digits - 1, digits)
    return len(rationale(q)) + 1


# ------------------------------------------------------------------------------- data
def _operand_range(d: int) -> tuple[int, int]:
    return (0, 9) if d == 1 else (10 ** (d - 1), 10**d - 1)


def _pair_count(d: int) -> int:
    lo, hi = _operand_range(d)
    return (hi - lo + 1) ** 2


def _sample_pairs(rng: random.Random, d: int, k: int, exclude: set[tuple[int, int]]) -> list[tuple[int, int]]:
    """k distinct (a, b) pairs of d-digit operands not in ``exclude`` (fewer if the domain is smaller)."""
    lo, hi = _operand_range(d)
    avail = _pair_count(d) - sum(1 for (a, b) in exclude if lo <= a <= hi and lo <= b <= hi)
    k = min(k, max(0, avail))
    if _pair_count(d) <= 20000:
        pool = [(a, b) for a in range(lo, hi + 1) for b in range(lo, hi + 1) if (a, b) not in exclude]
        rng.shuffle(pool)
        return pool[:k]
    out: list[tuple[int, int]] = []
    seen = set(exclude)
    while len(out) < k:
        p = (rng.randint(lo, hi), rng.randint(lo, hi))
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out


@dataclass
class Splits:
    train: list[Question]
    eval: list[Question]
    warmup: list[tuple[Question, bool]]  # (question, hinted)

    def data_hash(self) -> str:
        h = hashlib.sha256()
        h.update(FORMAT_VERSION.encode())
        for name, qs in (("train", self.train), ("eval", self.eval), ("warmup", [q for q, _ in self.warmup])):
            h.update(name.encode())
            for q in qs:
                h.update(f"{q.qid}:{q.a}+{q.b};".encode())
        h.update(json.dumps([hinted for _, hinted in self.warmup]).encode())
        return h.hexdigest()


def make_splits(
    *,
    seed: int,
    min_digits: int,
    max_digits: int,
    train_per_digit: int,
    eval_per_digit: int,
    warmup_examples: int = 0,
    warmup_max_digits: int = 1,
    hinted_fraction: float = 0.0,
) -> Splits:
    """Held-out eval questions first (per digit count), then training questions and warm-up
    examples drawn from what is left (never an eval pair). Where a digit count has fewer
    pairs than asked for (1-digit: 100), eval takes at most half of them and the train split
    gets what remains.
    Warm-up examples (standing in for the few-shot prompt) are spread evenly over digit
    counts 1..warmup_max_digits; a ``hinted_fraction`` of them show the hint."""
    rng = random.Random(f"addition:{seed}")
    evals: list[Question] = []
    trains: list[Question] = []
    eval_pairs: set[tuple[int, int]] = set()
    for d in range(min_digits, max_digits + 1):
        # at most half of a small domain (1-digit: 100 pairs) is held out, so training keeps some
        pairs = _sample_pairs(rng, d, min(eval_per_digit, _pair_count(d) // 2), set())
        eval_pairs.update(pairs)
        evals += [Question(f"eval-{d}-{i:05d}", a, b, d) for i, (a, b) in enumerate(pairs)]
    for d in range(min_digits, max_digits + 1):
        pairs = _sample_pairs(rng, d, train_per_digit, eval_pairs)
        trains += [Question(f"train-{d}-{i:05d}", a, b, d) for i, (a, b) in enumerate(pairs)]
    warm: list[tuple[Question, bool]] = []
    if warmup_examples > 0:
        ds = list(range(1, warmup_max_digits + 1))
        per = [warmup_examples // len(ds) + (1 if i < warmup_examples % len(ds) else 0) for i in range(len(ds))]
        for d, k in zip(ds, per):
            lo, hi = _operand_range(d)
            n = 0
            while n < k:  # with replacement when the domain is small (1-digit), never an eval pair
                a, b = rng.randint(lo, hi), rng.randint(lo, hi)
                if (a, b) in eval_pairs:
                    continue
                warm.append((Question(f"warmup-{d}-{n:05d}", a, b, d), False))
                n += 1
        rng.shuffle(warm)
        n_hint = round(hinted_fraction * len(warm))
        warm = [(q, i < n_hint) for i, (q, _) in enumerate(warm)]
        rng.shuffle(warm)
    return Splits(train=trains, eval=evals, warmup=warm)


def few_shot_prefix(seed: int, k: int = 4, max_digits: int = 3, hint: bool = False) -> str:
    """Exemplars (one per line) standing in for the STaR few-shot prompt when a pretrained
    model is used without a warm-up."""
    rng = random.Random(f"fewshot:{seed}")
    lines = []
    for i in range(k):
        d = 1 + i % max_digits
        lo, hi = _operand_range(d)
        q = Question(f"shot-{i}", rng.randint(lo, hi), rng.randint(lo, hi), d)
        lines.append(prompt(q, hint=hint) + rationale(q))
    return "\n".join(lines) + "\n"


def prompt_spec_hash(prefix: str = "") -> str:
    """Hash of what defines the prompts: format and extractor versions, an example of each
    prompt kind, and the few-shot prefix (if any)."""
    q = Question("x", 473, 289, 3)
    spec = {
        "format": FORMAT_VERSION,
        "extractor": EXTRACTOR_VERSION,
        "prompt": prompt(q),
        "hinted": prompt(q, hint=True),
        "rationale": rationale(q),
        "prefix": prefix,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def question_record(q: Question) -> dict:
    return asdict(q) | {"gold": q.gold, "question": question_text(q)}


def digits_of(questions: Iterable[Question]) -> list[int]:
    return sorted({q.digits for q in questions})


# ------------------------------------------------------------------------------- Task
class AdditionTask(Task):
    """The addition task behind the generic Task interface (see tasks/base.py)."""

    name = "addition"
    format_version = FORMAT_VERSION
    extractor_version = EXTRACTOR_VERSION
    stop_strings = ("\n",)
    alphabet = "0123456789+-*=:;()., \n"
    difficulty_name = "digits"

    def load(self, cfg: dict, seed: int) -> TaskSplits:
        t, w = cfg["task"], cfg["warmup"]
        s = make_splits(
            seed=seed,
            min_digits=t["min_digits"],
            max_digits=t["max_digits"],
            train_per_digit=t["train_per_digit"],
            eval_per_digit=t["eval_per_digit"],
            warmup_examples=w["examples"],
            warmup_max_digits=w["max_digits"],
            hinted_fraction=w["hinted_fraction"],
        )
        return TaskSplits(train=s.train, eval=s.eval, warmup=s.warmup, hash=s.data_hash())

    def prompt(self, q: Question, hint: bool = False) -> str:
        return prompt(q, hint=hint)

    def reference(self, q: Question) -> str:
        return rationale(q)

    def thought_completion(self, q: Question, marked: Sequence[bool] | None = None) -> str:
        return thought_completion(q, marked)

    def answer_steps(self, q: Question) -> int:
        return answer_steps(q)

    def extract_answer(self, completion: str, q: Question | None = None) -> str | None:
        return extract_answer(completion)

    def is_correct(self, answer: str | None, gold: str) -> bool:
        return is_correct(answer, gold)

    def clean_completion(self, text: str) -> str:
        return clean_completion(text)

    def difficulty(self, q: Question) -> int:
        return q.digits

    def few_shot_prefix(self, seed: int, hint: bool = False) -> str:
        return few_shot_prefix(seed, hint=hint)

    def question_record(self, q: Question) -> dict:
        return question_record(q)

    def prompt_spec(self, q: Question) -> dict:
        return super().prompt_spec(q) | {"rationale": rationale(q)}

    def example_question(self) -> Question:
        return Question("x", 473, 289, 3)

    def max_sequence_length(self, cfg: dict) -> int:
        return max_sequence_length(max(cfg["task"]["max_digits"], cfg["warmup"]["max_digits"]))
