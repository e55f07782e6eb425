"""Pair sum: find the one pair of a list of two-digit numbers that adds up to a target (this
project's own synthetic task, built for V-STaR at tiny scale: checking a proposed pair is one
addition, finding it is a search over every pair, so a small verifier can learn to check what
the generator cannot yet find reliably).

Format (version ``FORMAT_VERSION``), for the list 41 27 63 15 58 32 and target 78:

    question (the prompt)       41 27 63 15 58 32|78:
    hinted prompt               41 27 63 15 58 32|78(63+15):     the gold pair as the hint
    completion                  63+15=78                         the pair, in list order, and its sum
    answer (gold)               15+63

The numbers are distinct, with ``task.digits`` digits each (1: 0–9, the tiny preset, which a
2-layer character model can copy and add; 2: 10–99, the issue's design); exactly one pair of
them sums to the target. The answer is
the pair (written smaller first, whatever order the completion used); the sum a completion
writes is its rationale, not part of the answer. The hint only ever appears in the prompt.

Difficulty = the list's length (``numbers_6`` … in metric names): more numbers, more pairs to
search, while checking a pair stays one addition.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass
from typing import Any

from .base import Splits, Task

FORMAT_VERSION = "pair-sum-v1"
EXTRACTOR_VERSION = "pair-sum-extract-v1"


def value_range(digits: int) -> tuple[int, int]:
    """The numbers' range for ``digits`` digits (1: 0–9)."""
    return (0, 9) if digits == 1 else (10 ** (digits - 1), 10**digits - 1)


@dataclass(frozen=True)
class Question:
    qid: str
    numbers: tuple[int, ...]
    target: int
    #: positions of the pair in ``numbers`` (i < j)
    i: int
    j: int

    @property
    def pair(self) -> tuple[int, int]:
        return self.numbers[self.i], self.numbers[self.j]

    @property
    def gold(self) -> str:
        a, b = sorted(self.pair)
        return f"{a}+{b}"


def prompt(q: Question, hint: bool = False) -> str:
    core = " ".join(str(x) for x in q.numbers) + f"|{q.target}"
    if hint:
        a, b = q.pair
        core += f"({a}+{b})"
    return core + ":"


def reference(q: Question) -> str:
    a, b = q.pair
    return f"{a}+{b}={a + b}"


_ANSWER_RE = re.compile(r"^([0-9]+)\+([0-9]+)=([0-9]+)$")


def clean_completion(text: str) -> str:
    return text.split("\n", 1)[0].strip()


def extract_answer(completion: str) -> str | None:
    """The pair a completion commits to, as ``a+b`` with a ≤ b (no leading zeros), or None when
    the completion is not ``a+b=s``."""
    m = _ANSWER_RE.match(clean_completion(completion))
    if not m:
        return None
    a, b = sorted((int(m.group(1)), int(m.group(2))))
    return f"{a}+{b}"


def pair_sums(numbers: tuple[int, ...], target: int) -> list[tuple[int, int]]:
    """Every position pair (i < j) whose numbers sum to ``target``."""
    n = len(numbers)
    return [(i, j) for i in range(n) for j in range(i + 1, n) if numbers[i] + numbers[j] == target]


def make_question(rng: random.Random, qid: str, n: int, digits: int = 2) -> Question:
    """A list of ``n`` distinct ``digits``-digit numbers and a target that exactly one pair
    sums to; the pair's positions are uniform over the position pairs."""
    lo, hi = value_range(digits)
    if not 2 <= n <= hi - lo + 1:
        raise ValueError(f"cannot draw {n} distinct {digits}-digit numbers")
    while True:
        nums = rng.sample(range(lo, hi + 1), n)
        i, j = sorted(rng.sample(range(n), 2))
        target = nums[i] + nums[j]
        if pair_sums(tuple(nums), target) == [(i, j)]:
            return Question(qid, tuple(nums), target, i, j)


def max_sequence_length(n: int, digits: int = 2) -> int:
    """Tokens of the longest sequence (char tokenizer: <bos>, hinted prompt, completion, <eos>)
    for lists of up to ``n`` ``digits``-digit numbers: n·(digits+1) + 6·digits + 10."""
    top = 10**digits - 1
    q = Question("x", tuple([top] * n), 2 * top, 0, 1)
    return 1 + len(prompt(q, hint=True)) + len(reference(q)) + 1


def max_completion_length(digits: int = 2) -> int:
    """New tokens a completion needs (with <eos>): 3·digits + 4."""
    top = 10**digits - 1
    return len(f"{top}+{top}={2 * top}") + 1


def _key(q: Question) -> tuple[tuple[int, ...], int]:
    return q.numbers, q.target


def make_splits(
    *,
    seed: int,
    min_numbers: int,
    max_numbers: int,
    train_per_length: int,
    eval_per_length: int,
    digits: int = 2,
    warmup_examples: int = 0,
    hinted_fraction: float = 0.0,
) -> Splits:
    """Held-out eval questions per list length first, then training questions and warm-up
    examples (spread evenly over the lengths, a ``hinted_fraction`` of them hinted), none of
    them an eval question (same list and target)."""
    rng = random.Random(f"pair-sum:{digits}:{seed}")
    lengths = list(range(min_numbers, max_numbers + 1))
    evals: list[Question] = []
    seen: set[tuple[tuple[int, ...], int]] = set()

    def draw(prefix: str, n: int, k: int, exclude: set) -> list[Question]:
        out: list[Question] = []
        while len(out) < k:
            q = make_question(rng, f"{prefix}-{n}-{len(out):05d}", n, digits)
            if _key(q) not in exclude:
                exclude.add(_key(q))
                out.append(q)
        return out

    for n in lengths:
        evals += draw("eval", n, eval_per_length, seen)
    eval_keys = set(seen)
    trains: list[Question] = []
    for n in lengths:
        trains += draw("train", n, train_per_length, seen)
    warm: list[tuple[Question, bool]] = []
    if warmup_examples > 0:
        per = [warmup_examples // len(lengths) + (1 if i < warmup_examples % len(lengths) else 0) for i in range(len(lengths))]
        for n, k in zip(lengths, per):
            warm += [(q, False) for q in draw("warmup", n, k, set(eval_keys))]  # may repeat a training question
        rng.shuffle(warm)
        n_hint = round(hinted_fraction * len(warm))
        warm = [(q, i < n_hint) for i, (q, _) in enumerate(warm)]
        rng.shuffle(warm)
    h = hashlib.sha256(f"{FORMAT_VERSION}:{digits}".encode())
    for name, qs in (("train", trains), ("eval", evals), ("warmup", [q for q, _ in warm])):
        h.update(name.encode())
        for q in qs:
            h.update(f"{q.qid}:{q.numbers}|{q.target};".encode())
    h.update(json.dumps([hinted for _, hinted in warm]).encode())
    return Splits(train=trains, eval=evals, warmup=warm, hash=h.hexdigest())


def few_shot_prefix(seed: int, k: int = 4, hint: bool = False, digits: int = 2, lengths: tuple[int, ...] = (6, 7, 8)) -> str:
    rng = random.Random(f"pair-sum-fewshot:{digits}:{seed}")
    lines = []
    for i in range(k):
        q = make_question(rng, f"shot-{i}", lengths[i % len(lengths)], digits)
        lines.append(prompt(q, hint=hint) + reference(q))
    return "\n".join(lines) + "\n"


class PairSumTask(Task):
    name = "pair-sum"
    format_version = FORMAT_VERSION
    extractor_version = EXTRACTOR_VERSION
    stop_strings = ("\n",)
    alphabet = "0123456789 +=|:()\n"
    difficulty_name = "numbers"

    def load(self, cfg: dict[str, Any], seed: int) -> Splits:
        t, w = cfg["task"], cfg["warmup"]
        self.digits = t["digits"]
        self.lengths = tuple(range(t["min_numbers"], t["max_numbers"] + 1))
        return make_splits(
            seed=seed,
            min_numbers=t["min_numbers"],
            max_numbers=t["max_numbers"],
            train_per_length=t["train_per_length"],
            eval_per_length=t["eval_per_length"],
            digits=t["digits"],
            warmup_examples=w["examples"],
            hinted_fraction=w["hinted_fraction"],
        )

    def prompt(self, q: Question, hint: bool = False) -> str:
        return prompt(q, hint=hint)

    def reference(self, q: Question) -> str:
        return reference(q)

    def extract_answer(self, completion: str, q: Question | None = None) -> str | None:
        return extract_answer(completion)

    def clean_completion(self, text: str) -> str:
        return clean_completion(text)

    def leaks_hint(self, q: Question, completion: str) -> bool:
        return "(" in completion or ")" in completion

    def difficulty(self, q: Question) -> int:
        return len(q.numbers)

    def few_shot_prefix(self, seed: int, hint: bool = False) -> str:
        """Exemplars like the run's questions (its digits and list lengths; call after ``load``)."""
        return few_shot_prefix(seed, hint=hint, digits=getattr(self, "digits", 2), lengths=getattr(self, "lengths", (6, 7, 8)))

    def question_record(self, q: Question) -> dict[str, Any]:
        return {
            "qid": q.qid,
            "question": prompt(q),
            "gold": q.gold,
            "difficulty": len(q.numbers),
            "numbers": list(q.numbers),
            "target": q.target,
            "positions": [q.i, q.j],
        }

    def prompt_spec(self, q: Question) -> dict[str, Any]:
        return super().prompt_spec(q) | {"reference": reference(q)}

    def example_question(self) -> Question:
        return Question("x", (41, 27, 63, 15, 58, 32), 78, 2, 3)

    def max_sequence_length(self, cfg: dict[str, Any]) -> int:
        return max_sequence_length(cfg["task"]["max_numbers"], cfg["task"]["digits"])
