"""starlab.init outside the lab registers its run where the app finds it (the app's side is
tests/unit/script-runs.test.ts): a run directory with the config verbatim, a run.json naming the
script's process, and an announcement in inbox/; offline, the same directory under ./starlab-runs/."""

from __future__ import annotations

import json
import os

import pytest

import starlab
from conftest import assert_valid_stream, read_events
from starlab import lab_dir


@pytest.fixture
def outside_the_lab(monkeypatch, tmp_path):
    for var in ("STARLAB_EVENTS", "STARLAB_RUN_DIR", "STARLAB_MODE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("STARLAB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_registers_a_run_the_app_adopts(outside_the_lab, event_validator):
    run = starlab.init(project="probe", name="first", config={"lr": 3e-4, "layers": [1, 2]}, heartbeat=False)
    run.log({"loss": 1.0}, step=0)
    data = outside_the_lab / "data"
    run_dir = data / "runs" / run.id
    assert run.dir == str(run_dir)
    # announced only once its run_start is written: the app never adopts half a run
    assert (data / "inbox" / run.id).read_text() == ""
    assert json.loads((run_dir / "config.json").read_text()) == {"lr": 3e-4, "layers": [1, 2]}
    record = json.loads((run_dir / "run.json").read_text())
    assert record["id"] == run.id and record["format"] == 1 and record["group"] is None
    script = record["script"]
    assert (script["project"], script["name"], script["pid"]) == ("probe", "first", os.getpid())
    with open("/proc/self/stat", encoding="utf8") as f:
        stat = f.read()
    assert script["startTime"] == int(stat[stat.rindex(")") + 2 :].split()[19])
    run.finish()
    events = read_events(run_dir / "events.jsonl")
    assert_valid_stream(events, event_validator)
    assert [e["type"] for e in events] == ["run_start", "metrics", "run_end"]


def test_offline_mode_writes_a_run_directory_for_sync(outside_the_lab):
    run = starlab.init(name="away", mode="offline", heartbeat=False)
    run.finish()
    assert run.dir == str(outside_the_lab / "starlab-runs" / run.id)
    assert {p.name for p in (outside_the_lab / "starlab-runs" / run.id).iterdir()} == {"config.json", "run.json", "events.jsonl"}
    assert not (outside_the_lab / "data").exists()  # nothing announced to a lab


def test_inside_a_lab_run_and_with_events_path_nothing_is_registered(outside_the_lab, monkeypatch):
    path = outside_the_lab / "given" / "events.jsonl"
    starlab.init(events_path=str(path), heartbeat=False).finish()
    monkeypatch.setenv("STARLAB_EVENTS", str(outside_the_lab / "launched.jsonl"))
    starlab.init(name="ignored", heartbeat=False).finish()
    assert path.exists() and (outside_the_lab / "launched.jsonl").exists()
    assert not (outside_the_lab / "data").exists()


def test_bad_arguments_are_refused_before_anything_is_written(outside_the_lab):
    with pytest.raises(ValueError, match="mode must be"):
        starlab.init(mode="cloud")
    with pytest.raises(TypeError, match="config must be a mapping"):
        starlab.init(config=[1, 2])
    assert not (outside_the_lab / "data").exists()


def test_a_config_json_cannot_hold_is_written_as_text(outside_the_lab):
    run = starlab.init(config={"path": outside_the_lab, "ok": 1, "bad": float("nan"), 2: (1, 2)}, heartbeat=False)
    run.finish()
    expected = {"path": str(outside_the_lab), "ok": 1, "bad": "nan", "2": [1, 2]}
    assert json.loads((outside_the_lab / "data" / "runs" / run.id / "config.json").read_text()) == expected
    assert read_events(outside_the_lab / "data" / "runs" / run.id / "events.jsonl")[0]["config"] == expected


def test_data_dir_resolution():
    assert lab_dir.resolve_data_dir("rel", {}) == os.path.abspath("rel")
    assert lab_dir.resolve_data_dir(None, {"STARLAB_DATA_DIR": "/d"}) == "/d"
    assert lab_dir.default_data_dir({"XDG_DATA_HOME": "/x"}, "linux") == "/x/starlab"
    assert lab_dir.default_data_dir({"XDG_DATA_HOME": "x"}, "linux").endswith(os.path.join(".local", "share", "starlab"))


def test_the_earlier_positional_call_and_bad_types(outside_the_lab):
    path = outside_the_lab / "old" / "events.jsonl"
    starlab.init({"lr": 1}, str(path), heartbeat=False).finish()  # init(config, events_path), as before
    assert read_events(path)[0]["config"] == {"lr": 1}
    with pytest.raises(TypeError, match="project must be a string"):
        starlab.init(project=3)
    with pytest.raises(TypeError, match="name must be a string"):
        starlab.init(name=["x"])


def test_labels_beyond_what_the_app_reads_are_cut_not_lost(outside_the_lab):
    run = starlab.init(project="p" * 500, name="n" * 500, heartbeat=False)
    run.finish()
    script = json.loads((outside_the_lab / "data" / "runs" / run.id / "run.json").read_text())["script"]
    assert (len(script["project"]), len(script["name"])) == (200, 200)
