"""What a task (dataset) gives the variants: splits, prompts, hints, answer extraction.

Every variant drives a task only through this interface, so adding a dataset never touches
the training loops. A task's questions are its own dataclass; the loops read only ``qid``
and ``gold`` from them and ask the task for everything else.

Prompt conventions shared by all tasks:
- ``prompt(q)`` is the hint-free prompt; a kept sample is trained on ``prompt(q) +
  completion`` — the rationalization hint (``prompt(q, hint=True)``) is only ever used to
  sample, never saved (STaR's rule).
- A completion ends at the task's ``stop_strings`` (the generator cuts there) and is cleaned
  by ``clean_completion`` before extraction.
- ``gold`` is already normalised; ``is_correct(extract_answer(text), gold)`` decides.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Protocol


class QuestionLike(Protocol):
    qid: str

    @property
    def gold(self) -> str: ...


@dataclass
class Splits:
    """The questions of one run: ``train`` (sampled each iteration), ``eval`` (held out),
    ``warmup`` ((question, hinted) pairs whose reference completions fine-tune a tiny model
    before iteration 0, standing in for the few-shot prompt)."""

    train: list[Any]
    eval: list[Any]
    warmup: list[tuple[Any, bool]] = field(default_factory=list)
    #: hash of everything the splits were built from (file contents, selection, format)
    hash: str = ""

    def data_hash(self) -> str:
        return self.hash


class DataError(ValueError):
    """A dataset file is missing or malformed; the message names the file (and line)."""


class Task(ABC):
    #: dataset name as configs use it
    name: str = ""
    #: versions of the prompt format and the answer extractor (recorded with every run)
    format_version: str = ""
    extractor_version: str = ""
    #: where the generator stops a completion (the stop string itself is cut off)
    stop_strings: tuple[str, ...] = ("\n",)
    #: characters of the tiny models' character tokenizer for this task
    alphabet: str = ""
    #: name of the difficulty levels in metric names (eval/accuracy/{difficulty_name}_{d})
    difficulty_name: str = "difficulty"

    @abstractmethod
    def load(self, cfg: dict[str, Any], seed: int) -> Splits:
        """The run's splits from its resolved config (``cfg["task"]``, ``cfg["warmup"]``)."""

    @abstractmethod
    def prompt(self, q: Any, hint: bool = False) -> str:
        """What the model is given (after any few-shot prefix); with ``hint`` the gold answer
        is shown as the paper's rationalization hint."""

    @abstractmethod
    def reference(self, q: Any) -> str | None:
        """A reference completion (rationale + answer) for warm-up, or None where the data has none."""

    @abstractmethod
    def extract_answer(self, completion: str, q: Any = None) -> str | None:
        """The normalised answer a completion commits to, or None. With the question, a task
        may also match an answer stated in words (CommonsenseQA: a choice's text)."""

    def is_correct(self, answer: str | None, gold: str) -> bool:
        return answer is not None and answer == gold

    def clean_completion(self, text: str) -> str:
        """Cut at the first stop string and strip surrounding whitespace."""
        cut = len(text)
        for s in self.stop_strings:
            i = text.find(s)
            if i != -1:
                cut = min(cut, i)
        return text[:cut].strip()

    def question_text(self, q: Any) -> str:
        return self.prompt(q, hint=False)

    def training_completion(self, q: Any, completion: str) -> str:
        """The completion as it is trained on (after ``question_text``): a task whose prompts
        end in ``A:`` gives back the leading space that ``clean_completion`` stripped, so the
        first trained token is the one the model samples."""
        return completion

    def training_text(self, q: Any, completion: str) -> str:
        """What a kept sample is trained on: the hint-free prompt and the completion."""
        return self.question_text(q) + self.training_completion(q, completion)

    def leaks_hint(self, q: Any, completion: str) -> bool:
        """True when a rationalized completion copies the hint's marker itself (it is then not
        kept: the hint must never reach training text)."""
        return False

    def difficulty(self, q: Any) -> int | None:
        """A per-question difficulty for per-difficulty curves (None: the task has none)."""
        return None

    def few_shot_prefix(self, seed: int, hint: bool = False) -> str:
        """Exemplars put before every prompt (task.few_shot); with ``hint`` the same exemplars
        in the hinted form, put before rationalization prompts (the paper's P_hint)."""
        return ""

    def question_record(self, q: Any) -> dict[str, Any]:
        """A JSON row describing the question (the run's data artifacts)."""
        return {"qid": q.qid, "question": self.question_text(q), "gold": q.gold, "difficulty": self.difficulty(q)}

    def prompt_spec(self, q: Any) -> dict[str, Any]:
        """What defines this task's prompts, shown on one example question."""
        return {
            "format": self.format_version,
            "extractor": self.extractor_version,
            "prompt": self.prompt(q),
            "hinted": self.prompt(q, hint=True),
        }

    def prompt_spec_hash(self, example: Any, prefix: str = "") -> str:
        spec = self.prompt_spec(example) | {"prefix": prefix}
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
