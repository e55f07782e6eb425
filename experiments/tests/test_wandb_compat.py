"""`import starlab.compat.wandb as wandb`: a wandb script reports into the lab unchanged."""

from __future__ import annotations

import argparse
import json

import pytest

from conftest import assert_valid_stream, read_events
from starlab.compat import wandb


@pytest.fixture
def lab(monkeypatch, tmp_path):
    for var in ("STARLAB_EVENTS", "STARLAB_RUN_DIR", "STARLAB_MODE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("STARLAB_DATA_DIR", str(tmp_path))
    yield tmp_path
    wandb.finish()


def only_run(lab) -> tuple[dict, list[dict]]:
    (run_dir,) = (lab / "runs").iterdir()
    return json.loads((run_dir / "config.json").read_text()), read_events(run_dir / "events.jsonl")


def points(events: list[dict]) -> list[tuple[int, dict]]:
    return [(e["step"], e["values"]) for e in events if e["type"] == "metrics"]


def test_a_typical_script(lab, event_validator):
    args = argparse.Namespace(lr=0.1, epochs=2)
    run = wandb.init(project="p", name="n", config=args)
    wandb.config.update({"batch": 8})  # before the first log: part of the run's config
    wandb.config.warmup = 3
    assert wandb.run is run and wandb.config.lr == 0.1 and wandb.config["batch"] == 8
    for i in range(3):
        wandb.log({"train": {"loss": 1.0 / (i + 1)}})
    wandb.log({"a": 1.0}, commit=False)
    wandb.log({"b": 2.0})  # commits a and b at one step
    wandb.log({"c": 3.0}, step=10)
    wandb.log({"d": 4.0}, step=10)
    wandb.log({"late": 5.0}, step=2)  # below the current step: dropped, as wandb does
    wandb.summary["best"] = 0.75
    wandb.finish()
    assert wandb.run is None
    config, events = only_run(lab)
    assert config == {"lr": 0.1, "epochs": 2, "batch": 8, "warmup": 3}
    assert_valid_stream(events, event_validator)
    assert points(events) == [
        (0, {"train.loss": 1.0}),
        (1, {"train.loss": 0.5}),
        (2, {"train.loss": 1.0 / 3}),
        (3, {"a": 1.0, "b": 2.0}),
        (10, {"c": 3.0}),
        (10, {"d": 4.0}),
        (10, {"summary/best": 0.75}),
    ]
    assert any(e["type"] == "log" and "below the current step" in e["message"] for e in events)
    assert events[-1] == {**events[-1], "type": "run_end", "status": "completed"}


def test_define_metric_with_a_custom_step(lab):
    wandb.init(project="p")
    wandb.define_metric("epoch")
    wandb.define_metric("eval/*", step_metric="epoch")
    for step in range(6):
        wandb.log({"loss": float(step)})
        if step % 3 == 2:
            wandb.log({"eval/acc": step / 10, "epoch": step // 3})
    wandb.log({"eval/f1": 0.5})  # no epoch in this call: the last one logged
    wandb.finish()
    _, events = only_run(lab)
    evals = [(s, v) for s, v in points(events) if any(k.startswith("eval/") for k in v)]
    assert evals == [(0, {"eval/acc": 0.2}), (1, {"eval/acc": 0.5}), (1, {"eval/f1": 0.5})]
    assert [s for s, v in points(events) if "epoch" in v] == [3, 7]  # the step metric itself, at the global step


def test_failure_and_exit_codes(lab):
    with pytest.raises(ValueError), wandb.init(name="boom") as run:
        run.log({"x": 1.0})
        raise ValueError("bad batch")
    _, events = only_run(lab)
    assert events[-1]["type"] == "run_end" and events[-1]["status"] == "failed" and "bad batch" in events[-1]["error"]
    run = wandb.init(name="code")
    run.log({"x": 1.0})
    run.finish(exit_code=3)
    ends = [read_events(d / "events.jsonl")[-1] for d in (lab / "runs").iterdir()]
    assert sorted(e["error"] or "" for e in ends) == ["ValueError: bad batch", "exit code 3"]


def test_config_changes_after_the_first_log_are_reported_not_lost_silently(lab):
    wandb.init()
    wandb.log({"x": 1.0})
    with pytest.warns(UserWarning, match="not recorded"):
        wandb.config.update({"late": 1})
    wandb.finish()
    config, events = only_run(lab)
    assert config == {}
    assert any(e["type"] == "log" and e["level"] == "warning" and "not recorded" in e["message"] for e in events)


def test_modes(lab, tmp_path, monkeypatch):
    wandb.init(mode="disabled").log({"x": 1.0})
    wandb.finish()
    assert not (lab / "runs").exists()
    with pytest.raises(ValueError, match="mode must be"):
        wandb.init(mode="cloud")
    with pytest.raises(RuntimeError, match="before wandb.init"):
        wandb.log({"x": 1.0})
    monkeypatch.chdir(tmp_path)
    wandb.init(mode="offline").log({"x": 1.0})
    wandb.finish()
    assert len(list((tmp_path / "starlab-runs").iterdir())) == 1
