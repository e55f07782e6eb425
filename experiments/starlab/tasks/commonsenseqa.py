"""CommonsenseQA (Talmor et al., 2019) in the STaR paper's format.

Files (JSONL): ``train_rand_split.jsonl`` (train) and ``dev_rand_split.jsonl`` (eval; the
test split has no labels), rows ``{"id", "answerKey", "question": {"stem", "choices":
[{"label", "text"}], "question_concept"}}``. Also accepted: the Hugging Face names
``train.jsonl`` and ``validation.jsonl`` (or ``dev.jsonl``), and the Hugging Face row shape
of ``tau/commonsense_qa`` (``question`` a string, ``choices: {"label": [...], "text":
[...]}``, ``question_concept`` and ``answerKey`` at the top). See ``data_files`` for where
the files are looked for. CSV/TSV files are imported by converting them to these files
(``csv_layout``): columns ``question`` (the stem), ``answerKey``, optional ``id`` and
``question_concept``, and the choices either as columns ``A``, ``B``, … (one per choice,
``A``–``E`` in the usual flat export) or as one ``choices`` column holding the Hugging Face
JSON object ``{"label": [...], "text": [...]}``.

Format (version ``FORMAT_VERSION``)::

    prompt        Q: {stem}\\nAnswer Choices:\\n(a) {text}\\n…\\n(e) {text}\\nA:
    hinted        the same with " (CORRECT)" after the gold choice's text
    completion     {rationale} Therefore, the answer is {text} ({label}).

Labels are lower-cased (as in the paper's prompts); gold is the lower-case letter. Text is
folded to ASCII punctuation and one line (``data_files.one_line``).

The data has no rationales: ``reference(q)`` is a TEMPLATE, `` Therefore, the answer is
{text} ({label}).``, that only states the answer in the paper's format (it teaches a
warm-up model the format, not reasoning).

Answer extraction (version ``EXTRACTOR_VERSION``) reads the completion up to its first stop
string. After the last "answer is" / "answer:" (tried from the last to the first): a
parenthesised letter ``(b)``/``(B)``; else a lone letter (``the answer is b.``, ``answer:
B``, ``option (c)``); else, when the question is passed (``extract_answer(text, q)``), the
one choice whose text the phrase names (a choice contained in a longer named choice does
not count; two named choices → no answer). Without any such phrase: a completion that ends
with ``(x)`` or is only a letter, or (with ``q``) is exactly a choice's text. Letters must
be labels of ``q`` (a–e without ``q``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .base import Splits, Task
from .csv_files import CsvLayout, need_columns
from .data_files import DatasetSpec, HubSource, fold_text, load_splits, one_line, split_exemplars

FORMAT_VERSION = "commonsenseqa-star-v1"
EXTRACTOR_VERSION = "commonsenseqa-extract-v1"
PROMPT_FILE = Path(__file__).resolve().parent.parent / "prompts" / "commonsenseqa.txt"
ALPHABET = "".join(chr(i) for i in range(32, 127)) + "\n"
HINT_MARK = " (CORRECT)"
DEFAULT_LABELS = ("a", "b", "c", "d", "e")


@dataclass(frozen=True)
class CQAQuestion:
    qid: str
    stem: str
    #: (label, text) pairs; labels lower-case
    choices: tuple[tuple[str, str], ...]
    #: the gold label, lower-case
    gold: str
    concept: str = ""
    split: str = "train"

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(label for label, _ in self.choices)

    def choice_text(self, label: str) -> str:
        return dict(self.choices)[label]


# ------------------------------------------------------------------------------- rows
def _need_str(obj: dict, key: str, where: str = "") -> str:
    if key not in obj:
        raise ValueError(f"missing field {where + key!r}")
    v = obj[key]
    if not isinstance(v, str):
        raise ValueError(f"field {where + key!r} must be a string, got {type(v).__name__}")
    return v


def parse_row(obj: Any, split: str, index: int) -> CQAQuestion:
    """One JSONL row (the original or the Hugging Face shape) as a question; ValueError says
    what is wrong with it."""
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    if "question" not in obj:
        raise ValueError("missing field 'question'")
    qv = obj["question"]
    if isinstance(qv, dict):  # original: question.stem, question.choices[{label,text}]
        stem = _need_str(qv, "stem", "question.")
        if "choices" not in qv:
            raise ValueError("missing field 'question.choices'")
        raw = qv["choices"]
        if not isinstance(raw, list):
            raise ValueError(f"field 'question.choices' must be a list, got {type(raw).__name__}")
        pairs = []
        for j, c in enumerate(raw):
            if not isinstance(c, dict):
                raise ValueError(f"question.choices[{j}] must be an object with 'label' and 'text'")
            pairs.append((_need_str(c, "label", f"question.choices[{j}]."), _need_str(c, "text", f"question.choices[{j}].")))
        concept = qv.get("question_concept", "")
    elif isinstance(qv, str):  # Hugging Face: question, choices{label[], text[]}
        stem = qv
        if "choices" not in obj:
            raise ValueError("missing field 'choices'")
        ch = obj["choices"]
        if not isinstance(ch, dict) or not isinstance(ch.get("label"), list) or not isinstance(ch.get("text"), list):
            raise ValueError("field 'choices' must be an object with lists 'label' and 'text'")
        if len(ch["label"]) != len(ch["text"]):
            raise ValueError("'choices.label' and 'choices.text' differ in length")
        pairs = []
        for j, (lab, txt) in enumerate(zip(ch["label"], ch["text"])):
            if not isinstance(lab, str) or not isinstance(txt, str):
                raise ValueError(f"choices[{j}]: label and text must be strings")
            pairs.append((lab, txt))
        concept = obj.get("question_concept", "")
    else:
        raise ValueError(f"field 'question' must be an object (or a string), got {type(qv).__name__}")
    stem = one_line(stem)
    if not stem:
        raise ValueError("the question stem is empty")
    if len(pairs) < 2:
        raise ValueError(f"needs at least 2 answer choices, got {len(pairs)}")
    choices = []
    for lab, txt in pairs:
        lab = lab.strip().lower()
        if not re.fullmatch(r"[a-z]", lab):
            raise ValueError(f"choice label {lab!r} is not a single letter")
        if not one_line(txt):
            raise ValueError(f"choice ({lab}) has no text")
        choices.append((lab, one_line(txt)))
    labels = [lab for lab, _ in choices]
    if len(set(labels)) != len(labels):
        raise ValueError(f"repeated choice labels {labels}")
    if "answerKey" not in obj or obj["answerKey"] in ("", None):
        raise ValueError(
            "missing field 'answerKey'" + (" (the CommonsenseQA test split has no labels: evaluate on dev)" if split == "eval" else "")
        )
    key = obj["answerKey"]
    if not isinstance(key, str):
        raise ValueError(f"field 'answerKey' must be a string, got {type(key).__name__}")
    gold = key.strip().lower()
    if gold not in labels:
        raise ValueError(f"answerKey {key!r} is not among the labels {[lab.upper() for lab in labels]}")
    qid = obj.get("id")
    if not isinstance(qid, str) or not qid:
        qid = f"{'train' if split == 'train' else 'dev'}-{index:05d}"
    return CQAQuestion(
        qid=qid, stem=stem, choices=tuple(choices), gold=gold, concept=concept if isinstance(concept, str) else "", split=split
    )


def _hub_row(r: dict[str, Any]) -> dict[str, Any]:
    ch = r.get("choices") or {}
    return {
        "answerKey": r.get("answerKey", ""),
        "id": r.get("id", ""),
        "question": {
            "question_concept": r.get("question_concept", ""),
            "choices": [{"label": lab, "text": txt} for lab, txt in zip(ch.get("label", []), ch.get("text", []))],
            "stem": r.get("question", ""),
        },
    }


def csv_layout(header: list[str]) -> CsvLayout:
    """The CSV columns (see the module doc) as a row of the original shape (choice columns) or
    of the Hugging Face shape (a ``choices`` column), for ``parse_row``."""
    need_columns(header, ("question", "answerKey"))
    letters = [h for h in header if len(h) == 1 and h.isascii() and h.isalpha()]
    if "choices" in header and letters:
        raise ValueError(f"the header has both a 'choices' column and choice columns ({', '.join(letters)}): keep one")
    optional = tuple(k for k in ("id", "question_concept") if k in header)
    if "choices" in header:

        def hf_row(c: dict[str, str]) -> dict[str, Any]:
            try:
                choices = json.loads(c["choices"])
            except (ValueError, RecursionError) as e:
                raise ValueError(
                    f"column 'choices' is not JSON ({getattr(e, 'msg', e)}); expected an object like "
                    f'{{"label": ["A", "B"], "text": ["bank", "park"]}}'
                ) from None
            return {**{k: c[k] for k in optional}, "question": c["question"], "choices": choices, "answerKey": c["answerKey"]}

        return CsvLayout(required=("id",) * ("id" in optional) + ("question", "answerKey", "choices"), to_row=hf_row)
    if not letters:
        found = ", ".join(h for h in header if h)
        raise ValueError(
            f"no answer choices in header: expected columns A, B, C, D, E (one per choice) or one "
            f'\'choices\' column (JSON {{"label": [...], "text": [...]}}): found {found}'
        )
    upper = [x.upper() for x in letters]
    for x in upper:
        if upper.count(x) > 1:
            raise ValueError(
                f"choice column {x!r} appears twice in the header (as {' and '.join(repr(h) for h in letters if h.upper() == x)})"
            )
    want = [chr(ord("A") + i) for i in range(len(upper))]
    if sorted(upper) != want:
        gap = next(x for x in want if x not in upper)
        raise ValueError(f"choice columns must be A, B, C, … without a gap: found {', '.join(sorted(upper))}, column {gap!r} missing")
    if len(letters) < 2:
        raise ValueError(f"needs at least 2 choice columns (A, B, …), found {', '.join(letters)}")
    cols = sorted(letters, key=str.upper)

    def flat_row(c: dict[str, str]) -> dict[str, Any]:
        row: dict[str, Any] = {"id": c["id"]} if "id" in optional else {}
        row["answerKey"] = c["answerKey"]
        row["question"] = {
            "question_concept": c.get("question_concept", ""),
            "stem": c["question"],
            "choices": [{"label": col.upper(), "text": c[col]} for col in cols],
        }
        return row

    return CsvLayout(required=("id",) * ("id" in optional) + ("question", "answerKey") + tuple(cols), to_row=flat_row)


SPEC = DatasetSpec(
    name="commonsenseqa",
    files={"train": ("train_rand_split.jsonl", "train.jsonl"), "eval": ("dev_rand_split.jsonl", "validation.jsonl", "dev.jsonl")},
    parse=parse_row,
    csv=csv_layout,
    hub=HubSource(
        repo_id="tau/commonsense_qa", pattern="data/*.parquet", splits={"train": "train", "eval": "validation"}, convert=_hub_row
    ),
    notes="The test split has no labels and is not used (dev is the evaluation split).",
)


# ------------------------------------------------------------------------------- extraction
_ANSWER_IS = re.compile(r"\banswer\s*(?:is\b|:|=)", re.IGNORECASE)
_PAREN_LETTER = re.compile(r"\(\s*([A-Za-z])\s*\)")
_LONE_LETTER = re.compile(r"\s*(?:(?:option|choice|letter)\s+)?\(?\s*([A-Za-z])\s*\)?(?=\s*$|[.,;:!?)])", re.IGNORECASE)
_TRAILING_PAREN = re.compile(r"\(\s*([A-Za-z])\s*\)[\s.!?]*$")
_ONLY_LETTER = re.compile(r"[\s(]*([A-Za-z])[\s).!?]*")
_ARTICLES = ("the ", "a ", "an ")


def _norm(s: str) -> str:
    return " ".join(re.sub(r"[^0-9a-z]+", " ", s.lower()).split())


def _strip_article(s: str) -> str:
    for a in _ARTICLES:
        if s.startswith(a):
            return s[len(a) :]
    return s


def _first_sentence(seg: str) -> str:
    return re.split(r"(?<=[.!?])\s", seg.strip(), maxsplit=1)[0]


def _by_text(phrase: str, q: CQAQuestion) -> str | None:
    """The one choice that ``phrase`` names, or None."""
    p = _norm(_PAREN_LETTER.sub(" ", phrase))
    if not p:
        return None
    exact = [lab for lab, txt in q.choices if _strip_article(_norm(txt)) == _strip_article(p)]
    if len(exact) == 1:
        return exact[0]
    named = [(lab, _norm(txt)) for lab, txt in q.choices if _norm(txt) and f" {_norm(txt)} " in f" {p} "]
    maximal = [lab for lab, t in named if not any(t != u and f" {t} " in f" {u} " for _, u in named)]
    return maximal[0] if len(maximal) == 1 else None


def extract_choice(text: str, q: CQAQuestion | None = None) -> str | None:
    labels = set(q.labels) if q is not None else set(DEFAULT_LABELS)

    def ok(letter: str) -> str | None:
        letter = letter.lower()
        return letter if letter in labels else None

    for m in reversed(list(_ANSWER_IS.finditer(text))):
        seg = text[m.end() :].split("\n", 1)[0]
        sentence = _first_sentence(seg)
        pm = _PAREN_LETTER.search(sentence)
        if pm and ok(pm.group(1)):
            return ok(pm.group(1))
        lm = _LONE_LETTER.match(sentence)
        if lm and ok(lm.group(1)):
            return ok(lm.group(1))
        if q is not None:
            hit = _by_text(sentence, q)
            if hit:
                return hit
    tm = _TRAILING_PAREN.search(text)
    if tm and ok(tm.group(1)):
        return ok(tm.group(1))
    om = _ONLY_LETTER.fullmatch(text)
    if om and ok(om.group(1)):
        return ok(om.group(1))
    if q is not None:
        p = _strip_article(_norm(text))
        exact = [lab for lab, txt in q.choices if p and _strip_article(_norm(txt)) == p]
        if len(exact) == 1:
            return exact[0]
    return None


# ------------------------------------------------------------------------------- task
class CommonsenseQATask(Task):
    """CommonsenseQA behind the Task interface (see tasks/base.py and the module doc)."""

    name = "commonsenseqa"
    format_version = FORMAT_VERSION
    extractor_version = EXTRACTOR_VERSION
    stop_strings = ("\n\n", "\nQ:")
    alphabet = ALPHABET

    def load(self, cfg: dict[str, Any], seed: int) -> Splits:
        return load_splits(SPEC, cfg, seed, FORMAT_VERSION)

    def prompt(self, q: CQAQuestion, hint: bool = False) -> str:
        lines = [f"Q: {q.stem}", "Answer Choices:"]
        for label, text in q.choices:
            lines.append(f"({label}) {text}" + (HINT_MARK if hint and label == q.gold else ""))
        lines.append("A:")
        return "\n".join(lines)

    def reference(self, q: CQAQuestion) -> str:
        """A TEMPLATE completion (the data has no rationales): it states the gold answer in
        the paper's format and nothing else."""
        return f" Therefore, the answer is {q.choice_text(q.gold)} ({q.gold})."

    def leaks_hint(self, q: CQAQuestion, completion: str) -> bool:
        return HINT_MARK.strip().lower() in completion.lower()

    def training_completion(self, q: CQAQuestion, completion: str) -> str:
        """A completion cleaned of its leading space gets it back (``A: …`` as in the prompt files)."""
        if completion and not completion[0].isspace():
            completion = " " + completion
        return completion

    def extract_answer(self, completion: str, q: CQAQuestion | None = None) -> str | None:
        """The lower-case label the completion commits to (see the module doc); pass ``q`` to
        accept a choice's text in place of its letter."""
        return extract_choice(fold_text(self.clean_completion(completion)), q)

    def is_correct(self, answer: str | None, gold: str) -> bool:
        return answer is not None and answer == gold.lower()

    def few_shot_prefix(self, seed: int = 0, hint: bool = False) -> str:
        """The shipped exemplars (``prompts/commonsenseqa.txt``, the same for every seed), each
        followed by a blank line; with ``hint`` the gold choices are marked (CORRECT) as the
        rationalization prompt does."""
        return "".join(self.prompt(q, hint) + c + "\n\n" for q, c in exemplars())

    def example_question(self) -> CQAQuestion:
        return exemplars()[0][0]

    def question_record(self, q: CQAQuestion) -> dict[str, Any]:
        return super().question_record(q) | {
            "stem": q.stem,
            "choices": [{"label": lab, "text": txt} for lab, txt in q.choices],
            "concept": q.concept,
            "split": q.split,
        }

    def prompt_spec(self, q: CQAQuestion) -> dict[str, Any]:
        return super().prompt_spec(q) | {"reference": self.reference(q)}


def parse_prompt_block(prompt: str, qid: str = "x", gold: str = "") -> CQAQuestion:
    """A question from a ``Q: …\\nAnswer Choices:\\n(a) …\\nA:`` block (a ``(CORRECT)`` mark,
    if any, gives the gold label)."""
    lines = prompt.split("\n")
    if not lines[0].startswith("Q: ") or lines[1] != "Answer Choices:" or lines[-1] != "A:":
        raise ValueError(f"not a CommonsenseQA prompt block: {prompt[:60]!r}")
    choices = []
    for ln in lines[2:-1]:
        m = re.fullmatch(r"\(([a-z])\) (.*?)( \(CORRECT\))?", ln)
        if not m:
            raise ValueError(f"not a choice line: {ln!r}")
        choices.append((m.group(1), m.group(2)))
        if m.group(3):
            gold = m.group(1)
    return CQAQuestion(qid=qid, stem=lines[0][3:], choices=tuple(choices), gold=gold, split="prompt")


_EXEMPLARS: list[tuple[CQAQuestion, str]] | None = None


def exemplars() -> list[tuple[CQAQuestion, str]]:
    """The shipped few-shot exemplars as (question, completion) pairs."""
    global _EXEMPLARS
    if _EXEMPLARS is None:
        out = []
        for i, (p, c) in enumerate(split_exemplars(PROMPT_FILE.read_text(encoding="utf-8"))):
            q = parse_prompt_block(p, qid=f"shot-{i}")
            gold = extract_choice(c, q)
            if gold is None:
                raise ValueError(f"{PROMPT_FILE}: exemplar {i + 1} does not end 'Therefore, the answer is … (x).'")
            out.append((CQAQuestion(qid=q.qid, stem=q.stem, choices=q.choices, gold=gold, split="prompt"), c))
        _EXEMPLARS = out
    return _EXEMPLARS
