"""The emitter: every event type validates against shared/schema/run-events.v1.json, seq is
consecutive, lines are complete, concurrent writers never interleave."""

from __future__ import annotations

import json
import threading

import pytest

from conftest import assert_valid_stream, read_events
from starlab.events import EventWriter, collect_env, make_sample


def _every_event_type(w: EventWriter) -> None:
    w.run_start({"seed": 0, "nested": {"a": [1, 2]}}, collect_env(), {"config": "ab" * 32, "data": "cd" * 32})
    w.phase_start(0, "warmup")
    w.progress(0, "warmup", 5, 10)
    w.metrics(0, 10, {"train/loss": 0.5, "eval/accuracy": 1, "flag": True})
    w.phase_end(0, "warmup", 1.25)
    w.samples(
        1,
        [
            dict(
                question_id="q1",
                split="train",
                kind="direct",
                question="374+982:",
                text="3902;=21",
                answer="12",
                gold="762",
                correct=False,
                hint_used=False,
                kept=False,
                difficulty=3,
            ),
            dict(
                question_id="q1",
                split="train",
                kind="rationalized",
                question="374+982(267):",
                text="3902;=267",
                answer="762",
                gold="762",
                correct=True,
                hint_used=True,
                kept=True,
                difficulty=3,
            ),
            dict(
                question_id="e1",
                split="eval",
                kind="eval",
                question="1+2:",
                text="garbage",
                answer=None,
                gold="3",
                correct=False,
                hint_used=False,
            ),
        ],
    )
    w.artifact("kept.jsonl", "jsonl", "artifacts/iter_1/kept.jsonl", size=123, iteration=1)
    w.artifact("summary.json", "json", "artifacts/summary.json")
    w.heartbeat()
    w.log("info", "hello")
    w.log("warning", "careful")
    w.resumed(1)
    with w.phase(1, "evaluate"):
        pass
    w.run_end("completed")


def test_every_event_type_validates(tmp_path, event_validator):
    path = tmp_path / "events.jsonl"
    with EventWriter(path, heartbeat_s=None) as w:
        _every_event_type(w)
    events = read_events(path)
    assert_valid_stream(events, event_validator)
    types = {e["type"] for e in events}
    assert types == {
        "run_start",
        "phase_start",
        "phase_end",
        "progress",
        "metrics",
        "samples",
        "artifact",
        "heartbeat",
        "log",
        "resumed",
        "run_end",
    }
    assert all(e["v"] == 1 and isinstance(e["t"], float) for e in events)
    env = events[0]["env"]
    for key in ("python", "torch", "transformers", "cuda", "gpus", "host", "platform", "pid", "git_commit"):
        assert key in env
    assert events[-1] == {**events[-1], "type": "run_end", "status": "completed"}


def test_schema_rejects_what_the_protocol_forbids(event_validator):
    """Guards the test itself: the validator does reject bad events."""
    good = {"v": 1, "seq": 1, "t": 1.0, "type": "progress", "iteration": 0, "phase": "train", "done": 1, "total": 2}
    assert not list(event_validator.iter_errors(good))
    for bad in ({**good, "phase": "nope"}, {**good, "done": -1}, {**good, "v": 2}, {k: v for k, v in good.items() if k != "seq"}):
        assert list(event_validator.iter_errors(bad)), bad


def test_non_finite_metrics_are_dropped_with_a_warning(tmp_path, event_validator):
    path = tmp_path / "e.jsonl"
    with EventWriter(path, heartbeat_s=None) as w:
        w.metrics(0, 1, {"ok": 1.0, "nan": float("nan"), "inf": float("inf"), "text": "x"})
        assert w.metrics(0, 2, {"nan": float("nan")}) is None
    events = read_events(path)
    assert_valid_stream(events, event_validator)
    metrics = [e for e in events if e["type"] == "metrics"]
    assert [m["values"] for m in metrics] == [{"ok": 1.0}]
    assert any(e["type"] == "log" and e["level"] == "warning" and "nan" in e["message"] for e in events)


def test_invalid_enum_values_raise_instead_of_writing(tmp_path):
    path = tmp_path / "e.jsonl"
    with EventWriter(path, heartbeat_s=None) as w:
        with pytest.raises(ValueError):
            w.phase_start(0, "dance")
        with pytest.raises(ValueError):
            w.run_end("exploded")
        with pytest.raises(ValueError):
            make_sample(
                question_id="q", split="test", kind="eval", question="", text="", answer=None, gold="1", correct=False, hint_used=False
            )
    assert path.read_text() == ""


def test_concurrent_writers_produce_complete_consecutive_lines(tmp_path, event_validator):
    path = tmp_path / "events.jsonl"
    w = EventWriter(path, heartbeat_s=None)
    big = "x" * 5000  # lines larger than a pipe buffer still arrive whole

    def work(k: int) -> None:
        for i in range(200):
            w.log("info", f"{k}:{i}:{big}")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    w.close()
    events = read_events(path)
    assert len(events) == 800
    assert_valid_stream(events, event_validator)
    assert sorted(e["message"].split(":")[0] for e in events).count("3") == 200


def test_heartbeat_thread_and_run_end_once(tmp_path, event_validator):
    path = tmp_path / "events.jsonl"
    w = EventWriter(path, heartbeat_s=0.05)
    import time

    time.sleep(0.2)
    assert path.read_text() == ""  # no heartbeat before run_start
    w.run_start({}, collect_env(), {})
    time.sleep(0.3)
    assert w.run_end("stopped", "by test") is not None
    assert w.run_end("completed") is None  # only the first run_end is written
    time.sleep(0.15)
    w.close()
    events = read_events(path)
    assert_valid_stream(events, event_validator)
    assert events[0]["type"] == "run_start" and sum(e["type"] == "heartbeat" for e in events) >= 2
    assert events[-1]["type"] == "run_end" and events[-1]["status"] == "stopped"


def test_reopening_continues_seq_and_terminates_a_torn_line(tmp_path, event_validator):
    path = tmp_path / "events.jsonl"
    with EventWriter(path, heartbeat_s=None) as w:
        w.log("info", "one")
        w.log("info", "two")
    with open(path, "ab") as f:
        f.write(b'{"v":1,"seq":3,"t":1,"type":"lo')  # a writer killed mid-line
    with EventWriter(path, heartbeat_s=None) as w:
        w.log("info", "three")
    lines = path.read_text().splitlines()
    assert len(lines) == 4
    with pytest.raises(json.JSONDecodeError):
        json.loads(lines[2])
    good = [json.loads(x) for x in (lines[0], lines[1], lines[3])]
    assert [e["seq"] for e in good] == [1, 2, 3]
    for e in good:
        assert not list(event_validator.iter_errors(e))


def test_events_path_from_environment(tmp_path, monkeypatch):
    path = tmp_path / "sub" / "events.jsonl"
    monkeypatch.setenv("STARLAB_EVENTS", str(path))
    with EventWriter(heartbeat_s=None) as w:
        w.log("info", "x")
    assert json.loads(path.read_text())["message"] == "x"
    monkeypatch.delenv("STARLAB_EVENTS")
    with pytest.raises(ValueError):
        EventWriter(heartbeat_s=None)


# ---------------------------------------------------------------------- limits on one line
from conftest import REPO, SCHEMA_PATH  # noqa: E402
from starlab import events as events_mod  # noqa: E402


def _members(line: str) -> int:
    """Object members of a JSON line, as the ingest side counts them (one per key, every level)."""
    n = 0

    def hook(pairs):
        nonlocal n
        n += len(pairs)
        return dict(pairs)

    json.loads(line, object_pairs_hook=hook)
    return n


def test_limits_come_from_one_file_that_the_schema_carries():
    limits = json.loads((REPO / "experiments" / "starlab" / "limits.json").read_text())
    schema = json.loads(SCHEMA_PATH.read_text())
    assert events_mod.LIMITS == {k: v for k, v in limits.items() if not k.startswith("_")}
    assert schema["x-starlab-limits"] == events_mod.LIMITS
    metrics = next(s for s in schema["oneOf"] if s["properties"]["type"].get("const") == "metrics")
    assert metrics["properties"]["values"]["maxProperties"] == events_mod.MAX_METRIC_NAMES


def _refused(w: EventWriter, path, call, match: str) -> None:
    before, seq = path.read_bytes(), w.seq
    with pytest.raises(ValueError, match=match):
        call()
    assert path.read_bytes() == before and w.seq == seq  # nothing written


def test_emit_refuses_what_ingest_would_refuse(tmp_path):
    path = tmp_path / "events.jsonl"
    w = EventWriter(path, heartbeat_s=None)
    w.log("info", "first")
    # bytes: counted in UTF-8 (fewer characters than the limit, more bytes)
    big = "é" * (events_mod.MAX_LINE_BYTES // 2 + 10)
    _refused(w, path, lambda: w.log("info", big), r"log event is [\d,]+ bytes, over the limit of 8,388,608")
    # metric names in one metrics event
    names = {f"m{i}": i for i in range(events_mod.MAX_METRIC_NAMES + 1)}
    _refused(w, path, lambda: w.metrics(0, 1, names), r"10,001 metric names, over the limit of 10,000")
    # members at every level
    config = {f"k{i}": {"a": 1} for i in range(events_mod.MAX_MEMBERS // 2)}
    _refused(w, path, lambda: w.run_start(config, {}), r"run_start event has 50,00\d keys, over the limit of 50,000")
    # nesting
    deep: dict = {}
    node = deep
    for _ in range(events_mod.MAX_DEPTH):
        node["a"] = {}
        node = node["a"]
    _refused(w, path, lambda: w.emit("custom", x=deep), r"nested deeper than 64 levels")
    # at the limits: written, and counted as ingest counts them
    ok = w.metrics(0, 2, {f"m{i}": i for i in range(events_mod.MAX_METRIC_NAMES)})
    assert ok is not None
    shallow: dict = {}
    node = shallow
    for _ in range(events_mod.MAX_DEPTH - 2):
        node["a"] = {}
        node = node["a"]
    w.emit("custom", x=shallow)  # the event object, x, then 62 more levels: 64
    w.close()
    lines = path.read_text().splitlines()
    assert len(lines) == 3
    assert _members(lines[1]) == 4 + 2 + 1 + events_mod.MAX_METRIC_NAMES  # envelope, iteration/step, values, names
    assert len(lines[1].encode()) < events_mod.MAX_LINE_BYTES


def test_samples_batches_splits_by_count_and_size(tmp_path, event_validator):
    path = tmp_path / "events.jsonl"
    w = EventWriter(path, heartbeat_s=None)
    w.run_start({"seed": 0}, collect_env())
    items = [
        dict(
            question_id=f"q{i}",
            split="train",
            kind="direct",
            question="Q" * 1000,
            text=f"{i}:" + "é" * 40_000,
            answer="1",
            gold="1",
            correct=True,
            hint_used=False,
        )
        for i in range(700)
    ]
    written = w.samples_batches(3, items)
    w.close()
    events = read_events(path)
    assert_valid_stream(events, event_validator)
    batches = [e for e in events if e["type"] == "samples"]
    assert len(batches) == len(written) > 700 // 200  # more events than the count alone needs
    assert [it["question_id"] for b in batches for it in b["items"]] == [f"q{i}" for i in range(700)]
    assert all(b["iteration"] == 3 and 0 < len(b["items"]) <= 200 for b in batches)
    for line in path.read_bytes().splitlines():
        assert len(line) <= events_mod.MAX_LINE_BYTES
    # small samples: batches of 200
    w2 = EventWriter(tmp_path / "small.jsonl", heartbeat_s=None)
    small = w2.samples_batches(0, [dict(items[0], text="t", question="q")] * 450)
    assert [len(e["items"]) for e in small] == [200, 200, 50]
    # one item over the line limit by itself is refused
    with pytest.raises(ValueError, match="over the limit"):
        w2.samples_batches(0, [dict(items[0], text="x" * (events_mod.MAX_LINE_BYTES + 1))])
