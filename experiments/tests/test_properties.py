"""Property tests (hypothesis) of bad input: answer extraction, dataset files, config validation
and the event emitter. Random and adversarial input never raises anything but the documented
error, and every refusal names the file, the line and the field."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from conftest import MICRO_CONFIG, SCHEMA_PATH, micro_config, require
from starlab.config import ConfigError, load_config, validate_config
from starlab.events import EventWriter
from starlab.tasks import DataError, csv_files, data_files
from starlab.tasks.commonsenseqa import SPEC as CQA_SPEC
from starlab.tasks.commonsenseqa import CommonsenseQATask, CQAQuestion
from starlab.tasks.commonsenseqa import parse_row as cqa_row
from starlab.tasks.gsm8k import MAX_NUMBER_CHARS, GSM8KTask, normalize_number
from starlab.tasks.gsm8k import SPEC as GSM_SPEC
from starlab.tasks.gsm8k import parse_row as gsm_row

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
GSM = GSM8KTask()
CQA = CommonsenseQATask()
NORMALISED = re.compile(r"-?(0|[1-9]\d*)(\.\d*[1-9])?")
Q5 = CQAQuestion(qid="q", stem="Where?", choices=tuple(zip("abcde", ["bank", "river bank", "park", "home", "school"])), gold="a")

any_text = st.text(alphabet=st.characters(codec=None), max_size=300)  # surrogates and control characters included


# --------------------------------------------------------------------------- answer extraction
def _with_commas(n: int) -> str:
    return f"{n:,}"


@st.composite
def numbers(draw):
    """(how a number is written, its normalised form)."""
    whole = draw(st.integers(min_value=0, max_value=10**12))
    frac = draw(st.one_of(st.just(""), st.text(alphabet="0123456789", min_size=1, max_size=4)))
    neg = draw(st.booleans())
    commas = draw(st.booleans())
    dollar = draw(st.booleans())
    body = (_with_commas(whole) if commas else str(whole)) + (f".{frac}" if frac else "")
    written = ("-" if neg else "") + ("$" if dollar else "") + body
    d = Decimal(f"{whole}.{frac}" if frac else str(whole))
    if neg:
        d = -d
    want = "0" if d == 0 else format(d.normalize(), "f")
    return written, want


@SETTINGS
@given(numbers(), st.sampled_from(["", ".", " dollars.", "\n\nQ: next"]), st.text(alphabet="abc xyz,.", max_size=40))
def test_gsm8k_reads_the_number_after_the_marker(num, tail, before):
    written, want = num
    assert GSM.extract_answer(f" {before}\n#### {written}{tail}") == want
    assert GSM.extract_answer(f" {before} The answer is {written}{tail}") == want
    assert normalize_number(written) == want


@SETTINGS
@given(any_text)
def test_gsm8k_extraction_never_raises_and_returns_a_normalised_number(text):
    for t in (text, "#### " + text, text + " answer is " + text, "\\boxed{" + text + "}"):
        got = GSM.extract_answer(t)
        assert got is None or NORMALISED.fullmatch(got), got


@SETTINGS
@given(st.integers(min_value=MAX_NUMBER_CHARS + 1, max_value=5000))
def test_gsm8k_huge_numbers_are_no_answer_and_a_huge_gold_is_refused(n):
    digits = "9" * n  # beyond Python's int-to-str limit (4300 digits) too
    assert GSM.extract_answer(f" #### {digits}") is None
    with pytest.raises(ValueError, match=f"over the limit of {MAX_NUMBER_CHARS}"):
        gsm_row({"question": "q", "answer": f"#### {digits}"}, "train", 0)


@SETTINGS
@given(
    st.sampled_from("abcdeABCDE"), st.sampled_from(["the answer is ({})", "So the answer is {}.", "answer: ({}) bank", "({})"]), any_text
)
def test_commonsenseqa_reads_the_letter(letter, template, before):
    assume("answer" not in before.lower())
    text = " Therefore, " + template.format(letter)
    assert CQA.extract_answer(text, Q5) == letter.lower()
    assert CQA.extract_answer(text) == letter.lower()


@SETTINGS
@given(any_text)
def test_commonsenseqa_extraction_never_raises_and_returns_a_label(text):
    for t in (text, "the answer is " + text, text + " (c)"):
        assert CQA.extract_answer(t) in (None, *"abcde")
        assert CQA.extract_answer(t, Q5) in (None, *Q5.labels)


# --------------------------------------------------------------------------- dataset files
GOOD_GSM = {"question": "How many?", "answer": "2 + 2 = 4\n#### 4"}
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=5), kids, max_size=3),
    max_leaves=8,
)


@st.composite
def gsm_lines(draw):
    """(raw bytes of one line, kind): ok, blank, bad (a row the parser refuses), bytes (not UTF-8)."""
    kind = draw(st.sampled_from(["ok", "ok", "blank", "bad_field", "bad_json", "bytes", "deep", "bigint", "surrogate"]))
    if kind == "ok":
        row = dict(
            GOOD_GSM,
            question=draw(st.text(min_size=1, max_size=50).filter(lambda s: s.split() and not any("\ud800" <= c <= "\udfff" for c in s))),
        )
        return json.dumps(row, ensure_ascii=draw(st.booleans())).encode("utf-8"), "ok", None
    if kind == "blank":
        return draw(st.sampled_from([b"", b"  ", b"\t", b"\r"])), "blank", None
    if kind == "bad_field":
        field = draw(st.sampled_from(["question", "answer"]))
        row = dict(GOOD_GSM)
        if draw(st.booleans()):
            del row[field]
        else:
            row[field] = draw(json_values.filter(lambda v: not isinstance(v, str)))
        return json.dumps(row).encode("utf-8"), "bad", field
    if kind == "bad_json":
        return draw(st.sampled_from([b"{", b"[1,", b'{"question": }', b"not json", b"\xef\xbb\xbf{}"])), "bad", None
    if kind == "bytes":
        good = json.dumps(GOOD_GSM).encode()
        at = draw(st.integers(0, len(good)))
        return good[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xe9t\xe9", b"\xed\xa0\x80"])) + good[at:], "bytes", at
    if kind == "deep":
        n = draw(st.integers(2000, 200_000))
        return b"[" * n + b"]" * n, "bad", None
    if kind == "bigint":
        return b'{"question": "q", "answer": ' + b"9" * draw(st.integers(5000, 20000)) + b"}", "bad", None
    return b'{"question": "q\\ud800", "answer": "#### 1"}', "bad", "question"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(gsm_lines(), min_size=1, max_size=8), st.booleans())
def test_dataset_files_load_or_name_file_line_and_field(lines, bom):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "train.jsonl"
        data = (b"\xef\xbb\xbf" if bom else b"") + b"\n".join(raw for raw, _, _ in lines) + b"\n"
        path.write_bytes(data)
        # the decode fails before any row is read, so the first non-UTF-8 line wins; else the first bad row
        first_bytes = next((i for i, (_, k, _) in enumerate(lines) if k == "bytes"), None)
        first_bad = next((i for i, (_, k, _) in enumerate(lines) if k == "bad"), None)
        expect = first_bytes if first_bytes is not None else first_bad
        try:
            rows, _ = data_files.read_jsonl(path, gsm_row, "train")
        except DataError as e:
            msg = str(e)
            if expect is None:
                assert all(k == "blank" for _, k, _ in lines) and msg == f"{path}: no rows (the file is empty)"
                return
            assert msg.startswith(f"{path}:{expect + 1}: "), msg
            raw, kind, extra = lines[expect]
            if kind == "bytes":
                offset = (3 if bom else 0) + sum(len(r) + 1 for r, _, _ in lines[:expect]) + extra
                assert f"at byte offset {offset} " in msg, msg
            elif extra is not None:
                assert repr(extra) in msg, msg  # the field is named
        else:
            assert expect is None
            assert len(rows) == sum(k == "ok" for _, k, _ in lines)


@SETTINGS
@given(json_values)
def test_random_rows_are_rows_or_value_errors(obj):
    """The row parsers raise ValueError (turned into '<file>:<line>: …' by read_jsonl) and nothing else."""
    for parse in (gsm_row, cqa_row):
        try:
            parse(obj, "train", 0)
        except ValueError as e:
            assert str(e)
    for parse, shape in (
        (cqa_row, {"question": {"stem": "s", "choices": obj}, "answerKey": "A"}),
        (cqa_row, {"question": "s", "choices": obj, "answerKey": obj}),
        (gsm_row, {"question": obj, "answer": obj}),
    ):
        try:
            parse(shape, "eval", 0)
        except ValueError as e:
            assert str(e)


def test_size_limits_are_named(tmp_path, monkeypatch):
    p = tmp_path / "train.jsonl"
    p.write_text(json.dumps({"question": "q" * (data_files.MAX_LINE_BYTES + 1), "answer": "#### 1"}) + "\n")
    with pytest.raises(DataError, match=re.escape(f"{p}:1: line is ") + r"\d+ bytes, over the limit of 1048576 bytes per row"):
        data_files.read_jsonl(p, gsm_row, "train")
    monkeypatch.setattr(data_files, "MAX_FILE_BYTES", 10)
    with pytest.raises(DataError, match=re.escape(f"{p}: file is ") + r"\d+ bytes, over the limit of 10 bytes"):
        data_files.read_jsonl(p, gsm_row, "train")


def test_utf16_and_latin1_files_are_refused_with_a_hint(tmp_path):
    p = tmp_path / "train.jsonl"
    p.write_bytes(json.dumps(GOOD_GSM).encode("utf-16"))
    with pytest.raises(DataError, match=re.escape(f"{p}:1: not UTF-8 text: byte 0xff at byte offset 0 (column 1)") + ".*UTF-16"):
        data_files.read_jsonl(p, gsm_row, "train")
    p.write_bytes(b'{"question": "ok", "answer": "#### 1"}\n{"question": "caf\xe9", "answer": "#### 1"}\n')
    with pytest.raises(DataError, match=re.escape(f"{p}:2: not UTF-8 text: byte 0xe9 at byte offset 56 (column 18)") + ".*Latin-1"):
        data_files.read_jsonl(p, gsm_row, "train")


def test_csv_files_are_read_only_by_import(tmp_path):
    p = tmp_path / "train.csv"
    p.write_text("question,answer\nq,#### 1\n")
    with pytest.raises(DataError, match=re.escape(f"{p}: CSV files are read only by import: `starlab import-data`")):
        data_files.read_jsonl(p, gsm_row, "train")


# --------------------------------------------------------------------------- CSV / TSV files
LINE_END = re.compile(r"\r\n|\r|\n")  # the csv module's line ends (not U+2028 and friends)
csv_text = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40)  # unicode, controls
csv_cell = st.one_of(
    csv_text,
    st.sampled_from(["", " ", "a,b", 'say "hi"', '"', "two\nlines", "cr\r\nlf", "\t", "\ufeffbom", "\u200b", "café ½ 北京", "=1+1"]),
)
filled = csv_cell.map(lambda s: "x " + s)  # never blank


def mostly(good, bad, n=6):
    """``good`` about n times in n + 1."""
    return st.one_of(*[good] * n, bad)


gsm_answer = mostly(
    st.one_of(filled.map(lambda s: s + "\n#### 5"), st.sampled_from(["#### 5", " 1,234.00 ", "-7"])),
    st.one_of(csv_cell, st.sampled_from(["#### five", "it is 5", "#### " + "9" * (MAX_NUMBER_CHARS + 1)])),
)


def _blank(cell: str) -> bool:
    return not " ".join(data_files.fold_text(cell).split())


def _write_csv(path: Path, header: list[str], rows: list[list[str] | None], delimiter: str, terminator: str, bom: bool) -> list[int]:
    """The file written with Python's csv writer (None: a blank line); the line each row starts on."""
    buf = io.StringIO()
    # QUOTE_MINIMAL quotes only the lineterminator's characters: with "\n" a bare "\r" in a cell
    # would go out unquoted and end the record (the csv module's limit, not the loader's)
    lone_cr = terminator == "\n" and any("\r" in c for r in rows if r for c in r)
    w = csv.writer(buf, delimiter=delimiter, lineterminator=terminator, quoting=csv.QUOTE_ALL if lone_cr else csv.QUOTE_MINIMAL)
    w.writerow(header)
    starts = []
    for r in rows:
        starts.append(len(LINE_END.findall(buf.getvalue())) + 1)
        w.writerow(r or [])
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + buf.getvalue().encode("utf-8"))
    return starts


def _expect(path: Path, starts: list[int], rows: list[list[str] | None], required: list[str], header: list[str], to_obj, parse):
    """What the loader must do, worked out row by row: (objects, None) or (None, the error message)."""
    objs = []
    for line, r in zip(starts, rows):
        if r is None or all(_blank(c) for c in r):
            continue
        cells = dict(zip(header, r))
        empty = next((c for c in required if _blank(cells[c])), None)
        if empty:
            return None, f"{path}:{line}: column {empty!r} is empty"
        obj = to_obj(cells)
        try:
            parse(obj, "train", len(objs))
        except ValueError as e:
            return None, f"{path}:{line}: {e}"
        objs.append(obj)
    if not objs:
        return None, f"{path}: no rows (only a header, on line 1)"
    return objs, None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    st.lists(st.one_of(st.none(), st.tuples(mostly(filled, csv_cell), gsm_answer, csv_cell)), min_size=1, max_size=6),
    st.booleans(),
    st.sampled_from(["\r\n", "\n"]),
    st.sampled_from([".csv", ".tsv"]),
    st.permutations([0, 1, 2]),
)
def test_gsm8k_csv_round_trips_or_names_file_line_and_column(rows, bom, terminator, ext, order):
    names = ["question", "answer", "notes"]  # 'notes': an unknown column, ignored
    header = [names[i] for i in order]
    written = [None if r is None else [r[i] for i in order] for r in rows]
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"train{ext}"
        starts = _write_csv(path, header, written, "\t" if ext == ".tsv" else ",", terminator, bom)
        want, err = _expect(
            path, starts, written, ["question", "answer"], header, lambda c: {"question": c["question"], "answer": c["answer"]}, gsm_row
        )
        try:
            parsed, got = csv_files.read_csv_rows(path, GSM_SPEC, "train")
        except DataError as e:
            event("refused")
            assert str(e) == err
        else:
            event("imported")
            assert err is None
            assert [obj for _, obj, _ in got.rows] == want  # exactly the cells written
            assert [json.loads(line) for _, _, line in got.rows] == want
            assert parsed == [gsm_row(o, "train", i) for i, o in enumerate(want)]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(
            st.none(),
            st.tuples(
                mostly(filled, csv_cell),
                mostly(st.sampled_from("ABCDEabcde "), st.sampled_from(["F", "", "AB"])),
                st.lists(mostly(filled, csv_cell, 20), min_size=5, max_size=5),
            ),
        ),
        min_size=1,
        max_size=5,
    ),
    st.booleans(),
    st.booleans(),
)
def test_commonsenseqa_csv_round_trips_or_names_file_line_and_column(rows, bom, hf):
    """Flat choice columns A..E or one 'choices' column with the Hugging Face JSON object."""
    if hf:
        header = ["id", "question", "choices", "answerKey"]
        written = [
            None if r is None else [f"id{i}", r[0], json.dumps({"label": list("ABCDE"), "text": r[2]}), r[1]] for i, r in enumerate(rows)
        ]
        required = ["id", "question", "answerKey", "choices"]

        def to_obj(c):
            return {"id": c["id"], "question": c["question"], "choices": json.loads(c["choices"]), "answerKey": c["answerKey"]}
    else:
        header = ["id", "question", "answerKey", "A", "B", "C", "D", "E"]
        written = [None if r is None else [f"id{i}", r[0], r[1], *r[2]] for i, r in enumerate(rows)]
        required = ["id", "question", "answerKey", *"ABCDE"]

        def to_obj(c):
            return {
                "id": c["id"],
                "answerKey": c["answerKey"],
                "question": {"question_concept": "", "stem": c["question"], "choices": [{"label": x, "text": c[x]} for x in "ABCDE"]},
            }

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "dev.csv"
        starts = _write_csv(path, header, written, ",", "\r\n", bom)
        want, err = _expect(path, starts, written, required, header, to_obj, cqa_row)
        try:
            parsed, got = csv_files.read_csv_rows(path, CQA_SPEC, "train")
        except DataError as e:
            event("refused")
            assert str(e) == err
        else:
            event("imported")
            assert err is None
            assert [obj for _, obj, _ in got.rows] == want
            assert parsed == [cqa_row(o, "train", i) for i, o in enumerate(want)]


GOOD_CSV = b'question,answer\r\n"How many, in all?","2+2=4\n#### 4"\r\nSo?,7\r\n'


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.binary(max_size=300),
        st.tuples(st.integers(0, len(GOOD_CSV)), st.binary(min_size=1, max_size=8)).map(
            lambda t: GOOD_CSV[: t[0]] + t[1] + GOOD_CSV[t[0] :]
        ),
    ),
    st.sampled_from([".csv", ".tsv"]),
)
def test_csv_of_garbage_bytes_loads_or_names_file_and_line(data, ext):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"train{ext}"
        path.write_bytes(data)
        try:
            parsed, got = csv_files.read_csv_rows(path, GSM_SPEC, "train")
        except DataError as e:
            msg = str(e)
            m = re.match(re.escape(str(path)) + r"(:(\d+))?: (.+)", msg, re.S)
            assert m, msg
            if m.group(2) is None:  # only whole-file problems have no line
                assert m.group(3) in ("no rows (the file is empty)",) or m.group(3).startswith("no rows (only a header"), msg
            else:
                assert 1 <= int(m.group(2)) <= data.count(b"\n") + data.count(b"\r") + 1, msg
        else:
            assert len(parsed) == len(got.rows) >= 1


def test_csv_limits_are_named(tmp_path, monkeypatch):
    p = tmp_path / "train.csv"
    cap = csv.field_size_limit()
    big = "q" * (data_files.MAX_LINE_BYTES + 1)  # over the csv module's default cell cap (131072) too
    p.write_text(f'question,answer\nok,1\n"{big}\nsecond line",#### 1\n', encoding="utf-8")
    # {"question": "<1048577 q>\\nsecond line", "answer": "#### 1"}: 14 + 1048590 + 14 + 6 + 2 bytes
    with pytest.raises(
        DataError,
        match=re.escape(
            f"{p}:3: row is 1048626 bytes as JSONL, over the limit of 1048576 bytes per row (column 'question' holds 1048589 bytes)"
        ),
    ):
        csv_files.read_csv(p, GSM_SPEC)
    assert csv.field_size_limit() == cap  # the module-wide cap is put back
    fine = "q" * 200_000  # over the csv module's default cap, under ours
    p.write_text(f"question,answer\n{fine},1\n", encoding="utf-8")
    assert csv_files.read_csv(p, GSM_SPEC).rows[0][1]["question"] == fine
    monkeypatch.setattr(data_files, "MAX_FILE_BYTES", 10)
    with pytest.raises(DataError, match=re.escape(f"{p}: file is ") + r"\d+ bytes, over the limit of 10 bytes"):
        csv_files.read_csv(p, GSM_SPEC)


# --------------------------------------------------------------------------- config validation
config_values = st.one_of(json_values, st.sampled_from([1e308, -1e308, float("nan"), float("inf"), 10**400, 2**53 + 1, "x" * 5000]))


@SETTINGS
@given(st.dictionaries(st.one_of(st.text(max_size=10), st.sampled_from(list(MICRO_CONFIG))), config_values, max_size=8))
def test_random_dicts_never_crash_the_validator(cfg):
    out, errors = validate_config(cfg)
    assert (out is None) == bool(errors)
    for e in errors:
        assert isinstance(e["field"], str) and e["field"] and isinstance(e["message"], str) and e["message"]


CROSS_FIELD = {"model.n_head", "model.max_len", "task.max_digits", "loop.restart_from_base", "loop.max_new_tokens"}


@SETTINGS
@given(
    st.sampled_from([(s, k) for s, body in MICRO_CONFIG.items() if isinstance(body, dict) for k in body]),
    st.one_of(config_values, st.integers(-10, 10**9), st.floats(allow_nan=True)),
)
def test_a_wrong_value_is_refused_naming_its_field(where, value):
    section, key = where
    out, errors = validate_config(micro_config(**{section: {key: value}}))
    assert {e["field"] for e in errors} <= {f"{section}.{key}"} | CROSS_FIELD
    if out is not None:
        assert out[section][key] == value or float(out[section][key]) == float(value)


@SETTINGS
@given(st.binary(max_size=200) | st.sampled_from([b"[" * 100_000, b"1" * 5000, b"\xef\xbb\xbf{}", b"\xff\xfe{}"]))
def test_config_files_of_random_bytes_raise_config_error(data):
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "c.json")
        with open(p, "wb") as f:
            f.write(data)
        with pytest.raises(ConfigError) as e:
            load_config(p)
        assert all(err["field"] and err["message"] for err in e.value.errors)


# --------------------------------------------------------------------------- the emitter
floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**400), 10**400), st.booleans())


@pytest.fixture(scope="module")
def validator():
    jsonschema = require("jsonschema")
    schema = json.loads(SCHEMA_PATH.read_text())
    return jsonschema.validators.validator_for(schema)(schema)


@SETTINGS
@given(
    st.dictionaries(st.text(max_size=8), floats, max_size=5),
    floats,
    floats,
    floats,
    st.dictionaries(st.text(max_size=5), floats, max_size=3),
    any_text,
)
def test_the_emitter_writes_only_schema_valid_lines(validator, values, a, b, c, scores, text):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "events.jsonl")
        with EventWriter(path, heartbeat_s=None) as w:
            calls = [
                lambda: w.metrics(0, 1, values),
                lambda: w.metrics(a, b, {"x": c}),
                lambda: w.phase_end(a, "train", b),
                lambda: w.progress(a, "sample", b, c),
                lambda: w.artifact("m", "checkpoint", "a/m", size=a, iteration=b),
                lambda: w.samples(
                    a,
                    [
                        dict(
                            question_id="q",
                            split="train",
                            kind="direct",
                            question=text,
                            text=text,
                            answer=None,
                            gold="1",
                            correct=False,
                            hint_used=False,
                            difficulty=b,
                            scores=scores,
                        )
                    ],
                ),
                lambda: w.log("info", text),
                lambda: w.run_end("failed", error=text),
            ]
            for call in calls:
                try:
                    call()
                except ValueError:
                    pass  # the documented refusal: nothing written
        data = Path(path).read_bytes()
        assert data == b"" or data.endswith(b"\n")
        seqs = []
        for line in data.decode("utf-8").split("\n")[:-1]:  # not splitlines(): U+2028 etc. are not line ends
            event = json.loads(line)
            errors = list(validator.iter_errors(event))
            assert not errors, (line[:200], errors[0].message)
            seqs.append(event["seq"])
        assert seqs == list(range(1, len(seqs) + 1))
