"""`python -m starlab run` end to end, as the Node side spawns it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

from conftest import assert_valid_stream, micro_config, read_events, subprocess_env


def _start(tmp_path, cfg, **env):
    run_dir = tmp_path / "run"
    run_dir.mkdir(exist_ok=True)
    cfg_path = run_dir / "config.json"
    cfg_path.write_text(json.dumps(cfg) if not isinstance(cfg, str) else cfg)
    events = run_dir / "events.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "starlab", "run", "--config", str(cfg_path)],
        cwd=run_dir,
        env=subprocess_env(STARLAB_EVENTS=events, STARLAB_RUN_DIR=run_dir, STARLAB_RUN_ID="test-run", HF_HUB_OFFLINE=1, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, run_dir, events


def test_run_end_to_end(tmp_path, event_validator):
    proc, run_dir, events_path = _start(tmp_path, micro_config())
    out, err = proc.communicate(timeout=150)
    assert proc.returncode == 0, err
    events = read_events(events_path)
    assert_valid_stream(events, event_validator)
    assert events[0]["type"] == "run_start"
    start = events[0]
    assert start["config"]["model"]["name"] == "micro-llama"
    assert start["env"]["torch"] and start["env"]["transformers"] and start["env"]["pid"] == proc.pid
    assert set(start["hashes"]) == {"config", "data", "prompt"} and all(len(h) == 64 for h in start["hashes"].values())
    assert events[-1]["type"] == "run_end" and events[-1]["status"] == "completed" and not events[-1].get("error")
    accs = {e["iteration"]: e["values"]["eval/accuracy"] for e in events if e["type"] == "metrics" and "eval/accuracy" in e["values"]}
    assert sorted(accs) == [0, 1, 2]
    arts = [e for e in events if e["type"] == "artifact"]
    assert {"artifacts/iter_1/kept.jsonl", "artifacts/iter_2/kept.jsonl", "artifacts/summary.json"} <= {a["path"] for a in arts}
    for a in arts:
        assert (run_dir / a["path"]).stat().st_size == a["size"]
    summary = json.loads((run_dir / "artifacts/summary.json").read_text())
    assert summary["accuracy"] == [accs[0], accs[1], accs[2]]
    # the same config gives the same data hash (seeded)
    again = tmp_path / "again"
    again.mkdir()
    proc2, _, ev2 = _start(again, micro_config())
    proc2.communicate(timeout=150)
    assert read_events(ev2)[0]["hashes"] == start["hashes"]


def test_sigterm_stops_cleanly(tmp_path, event_validator):
    cfg = micro_config(warmup={"steps": 1000000})
    proc, _, events_path = _start(tmp_path, cfg)
    deadline = time.time() + 120
    while time.time() < deadline:  # wait until training is under way
        if events_path.exists() and any(e["type"] == "progress" and e["phase"] == "warmup" for e in _complete_lines(events_path)):
            break
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.2)
    else:
        raise AssertionError("warm-up never started")
    t0 = time.time()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert time.time() - t0 < 10, "stopping took too long"
    assert proc.returncode == 0, err
    events = read_events(events_path)
    assert_valid_stream(events, event_validator)
    assert events[-1]["type"] == "run_end" and events[-1]["status"] == "stopped"
    assert sum(e["type"] == "run_end" for e in events) == 1


def _complete_lines(path):
    data = path.read_text()
    return [json.loads(x) for x in data.split("\n")[:-1] if x]


def test_malformed_config_exits_2_naming_the_field(tmp_path, event_validator):
    cfg = micro_config(loop={"iterations": 2, "bogus_knob": 1})
    del cfg["warmup"]["steps"]
    proc, _, events_path = _start(tmp_path, cfg)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "loop.bogus_knob" in err and "warmup.steps" in err
    events = read_events(events_path)
    assert_valid_stream(events, event_validator)
    assert events[-1]["type"] == "run_end" and events[-1]["status"] == "failed"
    assert "loop.bogus_knob" in events[-1]["error"]


def test_unparseable_config_exits_2(tmp_path, event_validator):
    proc, _, events_path = _start(tmp_path, "{oops")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "not valid JSON" in err
    events = read_events(events_path)
    assert_valid_stream(events, event_validator)
    assert events[-1]["status"] == "failed"


def test_exception_ends_run_failed_with_the_message(tmp_path, event_validator):
    """The hub path with weights that are not there: a clear error, run_end failed, exit 1."""
    cfg = micro_config(model={"source": "hub", "name": str(tmp_path / "no-such-model")})
    proc, _, events_path = _start(tmp_path, cfg)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert "Traceback" in err and "could not load hub model" in err
    events = read_events(events_path)
    assert_valid_stream(events, event_validator)
    assert events[-1]["type"] == "run_end" and events[-1]["status"] == "failed"
    assert "could not load hub model" in events[-1]["error"]
