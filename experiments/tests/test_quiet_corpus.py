"""Quiet-STaR's training corpus (starlab/corpus.py, quiet.corpus*) and warm-up formats
(quiet.warmup_format / warmup_thoughts): reading files safely, packing a task corpus without
cutting an answer from its question, and the runner's use of them."""

from __future__ import annotations

import json

import pytest
from test_quiet_star import _quiet_micro

from starlab import corpus, quiet
from starlab.config import validate_config
from starlab.events import EventWriter
from starlab.tasks.addition import AdditionTask, Question, thought_completion
from starlab.variants import quiet_star


# ------------------------------------------------------------------ reading
def test_jsonl_bad_lines_are_counted_skipped_and_named(tmp_path):
    p = tmp_path / "c.jsonl"
    p.write_text('{"text": "one"}\n{not json\n\n{"content": "no text field"}\n{"text": 3}\n{"text": "two"}\n', encoding="utf-8")
    c = corpus.read_file(str(p))
    assert c.docs == ["one", "two"]
    assert c.skipped == 3
    assert len(c.notes) == 1 and "line 2: not valid JSON" in c.notes[0] and "line 4: no string field 'text'" in c.notes[0]
    # another field, and a document limit
    c = corpus.read_file(str(p), text_field="content")
    assert c.docs == ["no text field"] and c.skipped == 4
    assert corpus.read_file(str(p), limit=1).docs == ["one"]


def test_jsonl_line_over_the_limit_is_skipped(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus, "MAX_LINE_BYTES", 40)
    p = tmp_path / "c.jsonl"
    p.write_text(json.dumps({"text": "x" * 60}) + "\n" + json.dumps({"text": "short"}) + "\n", encoding="utf-8")
    c = corpus.read_file(str(p))
    assert c.docs == ["short"] and c.skipped == 1 and "over 40 bytes" in c.notes[0]


def test_text_file_documents_are_blank_line_separated(tmp_path):
    p = tmp_path / "c.txt"
    p.write_text("first line\nstill first\n\n\nsecond\n\nthird\n", encoding="utf-8")
    assert corpus.read_file(str(p)).docs == ["first line\nstill first", "second", "third"]
    assert corpus.read_file(str(p), limit=2).docs == ["first line\nstill first", "second"]


def test_missing_empty_too_big_and_non_utf8_files_raise_clear_errors(tmp_path, monkeypatch):
    with pytest.raises(corpus.CorpusError, match="corpus file not found"):
        corpus.read_file(str(tmp_path / "nope.jsonl"))
    with pytest.raises(corpus.CorpusError, match="needs quiet.corpus_path"):
        corpus.read_file("")
    with pytest.raises(corpus.CorpusError, match="not a file"):
        corpus.read_file(str(tmp_path))
    (tmp_path / "bad.jsonl").write_text("{oops\n", encoding="utf-8")
    with pytest.raises(corpus.CorpusError, match="no documents.*1 line"):
        corpus.read_file(str(tmp_path / "bad.jsonl"))
    (tmp_path / "latin.txt").write_bytes(b"caf\xe9\n")
    with pytest.raises(corpus.CorpusError, match="not UTF-8"):
        corpus.read_file(str(tmp_path / "latin.txt"))
    monkeypatch.setattr(corpus, "MAX_FILE_BYTES", 4)
    (tmp_path / "big.txt").write_text("hello world", encoding="utf-8")
    with pytest.raises(corpus.CorpusError, match="over the limit"):
        corpus.read_file(str(tmp_path / "big.txt"))


def test_hub_without_datasets_or_connection_is_a_clear_error():
    def offline(*a, **k):
        raise ConnectionError("no network")

    with pytest.raises(corpus.CorpusError, match="could not be read.*ConnectionError"):
        corpus.read_hub("open-web-math/open-web-math", loader=offline)
    with pytest.raises(corpus.CorpusError, match="needs quiet.corpus_path"):
        corpus.read_hub("", loader=offline)
    rows = [{"text": "a"}, {"other": 1}, {"text": "b"}, {"text": "c"}]
    c = corpus.read_hub("x/y", limit=2, loader=lambda name, split, streaming: iter(rows))
    assert c.docs == ["a", "b"] and c.skipped == 1
    try:
        import datasets  # noqa: F401
    except ImportError:
        with pytest.raises(corpus.CorpusError, match="needs the `datasets` package"):
            corpus.read_hub("open-web-math/open-web-math")


# ------------------------------------------------------------------ packing
def test_task_packing_never_cuts_an_answer_from_its_question():
    docs = [list(range(1, 11)), list(range(20, 26)), list(range(30, 60)), list(range(70, 74))]
    skipped: list[int] = []
    ids, doc = quiet.pack_documents(docs, 12, 0, skipped=skipped, split_long=False)
    assert skipped == [2]
    pieces = []
    for r in range(ids.shape[0]):
        for d in doc[r].unique().tolist():
            if d >= 0:
                pieces.append(ids[r][doc[r] == d].tolist())
    # every document whole, the long one only its last 12 tokens (its end: the answer)
    assert pieces == [docs[0], docs[1], docs[2][-12:], docs[3]]
    # the legacy split cuts the long one into chunks
    ids2, doc2 = quiet.pack_documents(docs, 12, 0)
    assert int(doc2.max()) + 1 == 2 + 3 + 1


# ------------------------------------------------------------------ addition's marked work
def test_thought_completion_marks_the_work_of_the_chosen_steps():
    q = Question("x", 473, 289, 3)
    assert thought_completion(q) == "=-390-2-781-6-421-7-000-"
    assert thought_completion(q, [False] * 4) == "=267"  # the direct answer
    assert thought_completion(q, [False, True, False, True]) == "=2-781-67-000-"
    assert thought_completion(Question("x", 9, 8, 1)) == "=-980-7-001-1-000-"
    assert AdditionTask().answer_steps(q) == 4
    with pytest.raises(ValueError):
        thought_completion(q, [True])


# ------------------------------------------------------------------ the runner
def _run(tmp_path, **quiet_keys):
    cfg = _quiet_micro()
    cfg["quiet"].update(quiet_keys)
    cfg, errors = validate_config(cfg)
    assert not errors, errors
    w = EventWriter(tmp_path / "events.jsonl", heartbeat_s=None)
    r = quiet_star.QuietRun(cfg, w, run_dir=str(tmp_path))
    r.setup_data()
    r.setup_model()
    return r, w


def test_direct_corpus_and_warmup_use_the_evaluation_format(tmp_path):
    r, w = _run(tmp_path, corpus="direct", warmup_format="direct", warmup_thoughts=0.5)
    r.warmup()
    r.setup_quiet()
    rows = [json.loads(x) for x in (tmp_path / "artifacts/warmup.jsonl").read_text().splitlines()]
    comps = [x["completion"] for x in rows]
    assert all(c.startswith("=") for c in comps)
    assert any("-" in c for c in comps) and any("-" not in c for c in comps)  # marked and direct lines
    assert r.corpus_info["source"] == "direct" and r.corpus_info["documents"] == len(r.splits.train)
    texts = [
        r.tok.decode(r.rows[i][r.row_docs[i] == d].tolist()) for i in range(len(r.rows)) for d in r.row_docs[i].unique().tolist() if d >= 0
    ]
    q = r.splits.train[0]
    want = quiet_star.direct_answer(r.task, q)
    assert any(t == r.task.prompt(q) + want.text for t in texts)
    assert r.corpus_info["tokens"] == int((r.row_docs >= 0).sum())
    w.close()


def test_file_corpus_in_the_runner_and_its_summary(tmp_path):
    p = tmp_path / "c.jsonl"
    p.write_text("\n".join([json.dumps({"text": "12+34:=46"})] * 5 + ["{bad"]) + "\n", encoding="utf-8")
    r, w = _run(tmp_path, corpus="file", corpus_path=str(p), corpus_limit=3)
    r.setup_quiet()
    assert r.corpus_info["source"].startswith("file:") and r.corpus_info["documents"] == 3
    w.close()
    r, w = _run(tmp_path, corpus="file", corpus_path=str(tmp_path / "missing.jsonl"))
    with pytest.raises(corpus.CorpusError, match="not found"):
        r.setup_quiet()
    w.close()


def test_warmup_thoughts_need_the_direct_format():
    cfg = _quiet_micro()
    cfg["quiet"].update(warmup_thoughts=0.5)
    r = quiet_star.QuietRun(cfg, EventWriter("/dev/null", heartbeat_s=None))
    r.setup_data()
    r.setup_model()
    with pytest.raises(ValueError, match="warmup_format"):
        r.warmup()


def test_config_accepts_and_refuses_corpus_keys():
    cfg = _quiet_micro()
    cfg["quiet"].update(
        corpus="hub",
        corpus_path="open-web-math/open-web-math",
        corpus_field="text",
        corpus_limit=100,
        warmup_format="direct",
        warmup_thoughts=0.25,
    )
    assert not validate_config(cfg)[1]
    for k, v in (("corpus", "web"), ("corpus_limit", -1), ("warmup_thoughts", 1.5), ("warmup_format", "x"), ("corpus_field", "")):
        bad = dict(cfg, quiet=dict(cfg["quiet"], **{k: v}))
        assert validate_config(bad)[1], k
