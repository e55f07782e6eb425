"""The wandb-like SDK writes valid protocol events; `import starlab` stays light."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import starlab
from conftest import assert_valid_stream, read_events, subprocess_env


def test_init_log_finish(tmp_path, event_validator):
    path = tmp_path / "events.jsonl"
    run = starlab.init(config={"lr": 3e-4, "name": "demo"}, events_path=str(path), heartbeat=False)
    run.log({"loss": 0.3}, step=10)
    run.log({"loss": 0.2})  # step defaults to one past the last step
    run.log({"eval/accuracy": 0.5}, step=20, iteration=1)
    (tmp_path / "out.txt").write_text("hi")
    run.log_artifact(str(tmp_path / "out.txt"), kind="text")
    run.finish()
    run.finish()  # idempotent
    events = read_events(path)
    assert_valid_stream(events, event_validator)
    assert events[0]["type"] == "run_start" and events[0]["config"] == {"lr": 3e-4, "name": "demo"}
    metrics = [e for e in events if e["type"] == "metrics"]
    assert [(m["iteration"], m["step"], m["values"]) for m in metrics] == [
        (0, 10, {"loss": 0.3}),
        (0, 11, {"loss": 0.2}),
        (1, 20, {"eval/accuracy": 0.5}),
    ]
    art = [e for e in events if e["type"] == "artifact"][0]
    assert art["path"] == "out.txt" and art["size"] == 2
    assert events[-1]["type"] == "run_end" and events[-1]["status"] == "completed"
    assert sum(e["type"] == "run_end" for e in events) == 1


def test_context_manager_marks_failure(tmp_path, event_validator):
    path = tmp_path / "events.jsonl"
    try:
        with starlab.init(events_path=str(path), heartbeat=False) as run:
            run.log({"x": 1})
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    events = read_events(path)
    assert_valid_stream(events, event_validator)
    assert events[-1]["status"] == "failed" and "boom" in events[-1]["error"]


def _script(body: str, tmp_path, **env):
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(body))
    return subprocess.run([sys.executable, str(script)], env=subprocess_env(**env), capture_output=True, text=True, timeout=60)


def test_script_reports_through_env_and_finishes_at_exit(tmp_path, event_validator):
    path = tmp_path / "run" / "events.jsonl"
    proc = _script(
        """
        import starlab
        run = starlab.init(config={"a": 1})
        for i in range(3):
            run.log({"loss": 1.0 / (i + 1)}, step=i)
            print("library noise on stdout")
    """,
        tmp_path,
        STARLAB_EVENTS=path,
    )
    assert proc.returncode == 0, proc.stderr
    events = read_events(path)
    assert_valid_stream(events, event_validator)
    assert [e["type"] for e in events] == ["run_start", "metrics", "metrics", "metrics", "run_end"]
    assert events[-1]["status"] == "completed"


def test_uncaught_exception_ends_run_failed(tmp_path, event_validator):
    path = tmp_path / "events.jsonl"
    proc = _script(
        """
        import starlab
        run = starlab.init()
        run.log({"loss": 1.0})
        raise ValueError("bad data")
    """,
        tmp_path,
        STARLAB_EVENTS=path,
    )
    assert proc.returncode != 0 and "bad data" in proc.stderr
    events = read_events(path)
    assert_valid_stream(events, event_validator)
    assert events[-1]["type"] == "run_end" and events[-1]["status"] == "failed"
    assert "ValueError: bad data" in events[-1]["error"]


def test_import_starlab_does_not_import_torch(tmp_path):
    proc = _script(
        """
        import sys, starlab
        assert callable(starlab.init)
        print(sorted(m for m in ("torch", "transformers", "numpy") if m in sys.modules))
    """,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_log_samples_chunks_any_number_of_any_size(tmp_path, event_validator):
    from starlab.events import MAX_LINE_BYTES

    path = tmp_path / "events.jsonl"
    run = starlab.init(config={}, events_path=str(path), heartbeat=False)
    items = [
        dict(
            question_id=f"q{i}",
            split="eval",
            kind="eval",
            question="Q",
            text="x" * 100_000,
            answer=None,
            gold="1",
            correct=False,
            hint_used=False,
        )
        for i in range(500)
    ]  # 50 MB in all
    run.log_samples(items, iteration=2)
    run.finish()
    events = read_events(path)
    assert_valid_stream(events, event_validator)
    batches = [e for e in events if e["type"] == "samples"]
    assert len(batches) > 5
    assert sum(len(b["items"]) for b in batches) == 500
    assert all(len(line) <= MAX_LINE_BYTES for line in path.read_bytes().splitlines())
