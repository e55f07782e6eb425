"""GSM8K (Cobbe et al., 2021) in the STaR paper's format.

Files (JSONL, one row per line: ``question``; ``answer`` = worked solution with calculator
annotations ``<<expr=value>>`` and a last line ``#### N``, or a bare number ``N`` (a row with
no solution: its reference is just ``#### N``)): ``train.jsonl`` (train) and
``test.jsonl`` (eval); the Hugging Face copy ``openai/gsm8k`` (config ``main``) has the same
names and rows. See ``data_files`` for where they are looked for. Question ids are
``train-NNNNN`` / ``test-NNNNN`` (0-based row index in the file; the rows have no ids). CSV/TSV files with the
columns ``question`` and ``answer`` (same contents) are imported by converting them to these
files (``csv_layout``, ``csv_files``).

Format (version ``FORMAT_VERSION``)::

    prompt        Q: {question}\\nA:
    hinted        Q: {question} ({N})\\nA:          only the final number, never the solution
    completion     {step 1}\\n{step 2}\\n…\\n#### {N}   (leading space; no blank line inside)

Text is normalised once, when a row is read: curly quotes, dashes and the minus sign, ×, ÷
and odd spaces are folded to ASCII, runs of spaces collapsed (``data_files.fold_text``), the
question put on one line. Reference solutions (``reference(q)``) drop the calculator
annotations and blank lines and end with ``#### N`` where N is the normalised gold number.

Answer extraction (version ``EXTRACTOR_VERSION``) reads the completion up to its first stop
string: the first number after the first ``####``; failing that the first number after the
last "answer is" / "answer:" / "answer =", or in ``\\boxed{…}``. A bare number with no marker
is not an answer (a kept rationale must commit to one). Numbers are normalised: ``$``,
thousands commas, a trailing period or text are dropped, ``18.00`` → ``18``, ``0.50`` →
``0.5``, a leading ``-`` kept. Gold is the number after ``####`` (or the bare number)
normalised the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from .base import Splits, Task
from .csv_files import CsvLayout, need_columns
from .data_files import DatasetSpec, HubSource, clean_lines, fold_text, load_splits, one_line, split_exemplars

FORMAT_VERSION = "gsm8k-star-v1"
EXTRACTOR_VERSION = "gsm8k-extract-v1"
PROMPT_FILE = Path(__file__).resolve().parent.parent / "prompts" / "gsm8k.txt"
ALPHABET = "".join(chr(i) for i in range(32, 127)) + "\n"

_ANNOTATION = re.compile(r"<<[^<>]*>>")
_NUMBER = re.compile(r"(?<![\w.])(?P<s1>-)?\$?(?P<s2>-)?(?P<num>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)(?!\d)")
_FULL_NUMBER = re.compile(r"\s*-?\$?-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?\s*\.?\s*|\s*-?\$?-?\.\d+\s*")
_ANSWER_IS = re.compile(r"\banswer\s*(?:is\b|:|=)", re.IGNORECASE)
_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")


#: Longest number (digits, commas and point) read as an answer; longer ones are no answer (a
#: gold over it is refused). GSM8K's largest answer has 9 digits.
MAX_NUMBER_CHARS = 64


def _norm_decimal(num: str, negative: bool) -> str | None:
    if len(num) > MAX_NUMBER_CHARS:
        return None
    try:
        d = Decimal(num.replace(",", ""))
    except InvalidOperation:
        return None
    if d == 0:
        return "0"  # never "-0"
    if negative:
        d = -d
    # format(…, "f") rather than int(): no exponent, and no int-to-str digit limit
    return format(d.normalize(), "f")


def normalize_number(text: str) -> str | None:
    """The first number in ``text``, normalised (``"$1,234.00."`` → ``"1234"``), or None (also
    when it is longer than ``MAX_NUMBER_CHARS``)."""
    m = _NUMBER.search(fold_text(text))
    if not m:
        return None
    return _norm_decimal(m.group("num"), bool(m.group("s1")) != bool(m.group("s2")))


def strip_annotations(text: str) -> str:
    """The text without GSM8K's calculator annotations ``<<expr=value>>``."""
    return _ANNOTATION.sub("", text)


@dataclass(frozen=True)
class GSM8KQuestion:
    qid: str
    #: the question on one line (folded; see the module doc)
    question: str
    #: the reference solution's lines before ``####``, annotations removed
    solution: tuple[str, ...]
    #: the normalised final number
    gold: str
    #: calculator annotations in the original solution
    annotations: int = 0
    split: str = "train"


def parse_row(obj: Any, split: str, index: int) -> GSM8KQuestion:
    """One JSONL row as a question; ValueError says what is wrong with it."""
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object with 'question' and 'answer', got {type(obj).__name__}")
    for key in ("question", "answer"):
        if key not in obj:
            raise ValueError(f"missing field {key!r}")
        if not isinstance(obj[key], str):
            raise ValueError(f"field {key!r} must be a string, got {type(obj[key]).__name__}")
    question = one_line(obj["question"])
    if not question:
        raise ValueError("field 'question' is empty")
    answer = obj["answer"]
    if "####" in answer:
        body, _, final = answer.rpartition("####")
    elif _FULL_NUMBER.fullmatch(fold_text(answer)):  # a bare number: the gold, no solution
        body, final = "", answer
    else:
        raise ValueError("field 'answer' has no final '#### N' line and is not a bare number")
    final = fold_text(final)
    if not _FULL_NUMBER.fullmatch(final):
        raise ValueError(f"field 'answer' must end with '#### N' (a number), got '#### {final.strip()[:40]}'")
    gold = normalize_number(final)
    m = _NUMBER.search(final)
    if gold is None and m and len(m.group("num")) > MAX_NUMBER_CHARS:
        raise ValueError(
            f"field 'answer': the number after '####' has {len(m.group('num'))} characters, over the limit of {MAX_NUMBER_CHARS}"
        )
    if gold is None:
        raise ValueError(f"cannot read the number after '####': {final.strip()[:40]!r}")
    prefix = "train" if split == "train" else "test"
    return GSM8KQuestion(
        qid=f"{prefix}-{index:05d}",
        question=question,
        solution=tuple(clean_lines(strip_annotations(body))),
        gold=gold,
        annotations=len(_ANNOTATION.findall(body)),
        split=split,
    )


def _hub_row(r: dict[str, Any]) -> dict[str, Any]:
    return {"question": r["question"], "answer": r["answer"]}


def csv_layout(header: list[str]) -> CsvLayout:
    """CSV columns ``question`` and ``answer``: the JSONL row's fields, cell for field."""
    need_columns(header, ("question", "answer"))
    return CsvLayout(required=("question", "answer"), to_row=lambda c: {"question": c["question"], "answer": c["answer"]})


SPEC = DatasetSpec(
    name="gsm8k",
    files={"train": ("train.jsonl",), "eval": ("test.jsonl",)},
    parse=parse_row,
    csv=csv_layout,
    hub=HubSource(repo_id="openai/gsm8k", pattern="main/*.parquet", splits={"train": "train", "eval": "test"}, convert=_hub_row),
    notes="The original files are train.jsonl and test.jsonl of github.com/openai/grade-school-math.",
)


class GSM8KTask(Task):
    """GSM8K behind the Task interface (see tasks/base.py and the module doc)."""

    name = "gsm8k"
    difficulty_name = "steps"
    format_version = FORMAT_VERSION
    extractor_version = EXTRACTOR_VERSION
    stop_strings = ("\n\n", "\nQ:")
    alphabet = ALPHABET

    # ---------------------------------------------------------------- data
    def load(self, cfg: dict[str, Any], seed: int) -> Splits:
        return load_splits(SPEC, cfg, seed, FORMAT_VERSION)

    # ---------------------------------------------------------------- prompts
    def prompt(self, q: GSM8KQuestion, hint: bool = False) -> str:
        return f"Q: {q.question}" + (f" ({q.gold})" if hint else "") + "\nA:"

    def reference(self, q: GSM8KQuestion) -> str:
        return " " + "\n".join(q.solution + (f"#### {q.gold}",))

    def training_completion(self, q: GSM8KQuestion, completion: str) -> str:
        """A completion cleaned of its leading space gets it back (``A: …`` as in the prompt files)."""
        if completion and not completion[0].isspace():
            completion = " " + completion
        return completion

    def few_shot_prefix(self, seed: int = 0, hint: bool = False) -> str:
        """The shipped exemplars (``prompts/gsm8k.txt``, the same for every seed), each
        followed by a blank line; with ``hint`` their questions show the answer as the
        rationalization prompt does."""
        return "".join(self.prompt(q, hint) + c + "\n\n" for q, c in exemplars())

    def example_question(self) -> GSM8KQuestion:
        return exemplars()[0][0]

    # ---------------------------------------------------------------- answers
    def extract_answer(self, completion: str, q: GSM8KQuestion | None = None) -> str | None:
        text = fold_text(self.clean_completion(completion))
        i = text.find("####")
        if i != -1:
            n = normalize_number(text[i + 4 :].split("\n", 1)[0])
            if n is not None:
                return n
        for m in reversed(list(_ANSWER_IS.finditer(text))):
            n = normalize_number(text[m.end() :].split("\n", 1)[0])
            if n is not None:
                return n
        for m in reversed(list(_BOXED.finditer(text))):
            n = normalize_number(m.group(1))
            if n is not None:
                return n
        return None

    def is_correct(self, answer: str | None, gold: str) -> bool:
        return answer is not None and answer == gold

    # ---------------------------------------------------------------- records
    def difficulty(self, q: GSM8KQuestion) -> int:
        """Reasoning steps: lines of the reference solution before ``####`` (the annotation
        count where a solution has no lines)."""
        return len(q.solution) or q.annotations

    def question_record(self, q: GSM8KQuestion) -> dict[str, Any]:
        return super().question_record(q) | {"split": q.split, "reference": self.reference(q)}

    def prompt_spec(self, q: GSM8KQuestion) -> dict[str, Any]:
        return super().prompt_spec(q) | {"reference": self.reference(q)}


_EXEMPLARS: list[tuple[GSM8KQuestion, str]] | None = None


def exemplars() -> list[tuple[GSM8KQuestion, str]]:
    """The shipped few-shot exemplars as (question, completion) pairs."""
    global _EXEMPLARS
    if _EXEMPLARS is None:
        task = GSM8KTask()
        out = []
        for i, (p, c) in enumerate(split_exemplars(PROMPT_FILE.read_text(encoding="utf-8"))):
            gold = task.extract_answer(c)
            if gold is None or not p.startswith("Q: ") or not p.endswith("\nA:"):
                raise ValueError(f"{PROMPT_FILE}: exemplar {i + 1} is not 'Q: …\\nA: … #### N'")
            lines = c.strip().split("\n")
            out.append((GSM8KQuestion(qid=f"shot-{i}", question=p[3:-3], solution=tuple(lines[:-1]), gold=gold, split="prompt"), c))
        _EXEMPLARS = out
    return _EXEMPLARS
