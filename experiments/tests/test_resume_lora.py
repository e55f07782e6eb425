"""Resuming at iteration boundaries gives the same run as never stopping; LoRA fine-tuning
trains a fresh adapter per iteration and leaves the base weights alone."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import micro_config, read_events
from starlab import checkpoint
from starlab.events import EventWriter
from starlab.safe_state import load_weights
from starlab.stopping import StopFlag, StopRequested
from starlab.variants import star

ENV = {
    "python": "3",
    "torch": None,
    "transformers": None,
    "cuda": None,
    "gpus": [],
    "host": "h",
    "platform": "p",
    "pid": 1,
    "git_commit": None,
}


def _accuracies(events):
    return {e["iteration"]: e["values"]["eval/accuracy"] for e in events if e["type"] == "metrics" and "eval/accuracy" in e["values"]}


def _losses(events, after_iteration=0):
    """Every logged training loss of the iterations after ``after_iteration`` (a resumed run
    must reproduce them exactly: same weights, same data, same RNG streams)."""
    return [
        (e["iteration"], e["step"], e["values"]["train/loss"])
        for e in events
        if e["type"] == "metrics" and "train/loss" in e["values"] and "train/kept" not in e["values"] and e["iteration"] > after_iteration
    ]


def _solve_all(monkeypatch):
    """Training samples are the reference rationales (so every iteration trains); evaluation
    is the real model's."""
    real_decode = star.StarRun._decode

    def decode(self, questions, *, hint, iteration, phase, samples=1, temperature=None):
        if phase == "evaluate":
            return real_decode(self, questions, hint=hint, iteration=iteration, phase=phase, samples=samples, temperature=temperature)
        return [self.task.reference(q) for q in questions for _ in range(samples)]

    monkeypatch.setattr(star.StarRun, "_decode", decode)


def _run(run_dir, cfg, *, stop=None, hooks=None, resume=False):
    w = EventWriter(run_dir / "events.jsonl", heartbeat_s=None)
    try:
        star.run(cfg, w, run_dir=str(run_dir), stop=stop or StopFlag(), hooks=hooks, emit_run_start=False, resume=resume)
    finally:
        w.close()
    return read_events(run_dir / "events.jsonl")


@pytest.mark.parametrize("finetune", ["full", "lora"])
def test_resume_after_a_stop_matches_an_uninterrupted_run(tmp_path, monkeypatch, finetune):
    _solve_all(monkeypatch)
    cfg = micro_config(loop={"iterations": 3, "finetune": finetune, "lr": 0.01})
    straight_events = _run(tmp_path / "a", cfg)
    straight = _accuracies(straight_events)
    assert set(straight) == {0, 1, 2, 3}

    # stop once iteration 1 has ended: its checkpoint is written, iteration 2 never starts
    stop = StopFlag()
    hooks = star.Hooks(on_iteration_end=lambda n, vals: stop.request() if n == 1 else None)
    run_dir = tmp_path / "b"
    with pytest.raises(StopRequested):
        _run(run_dir, cfg, stop=stop, hooks=hooks)
    assert checkpoint.read_state(str(run_dir))["iteration"] == 1
    first = read_events(run_dir / "events.jsonl")
    assert set(_accuracies(first)) == {0, 1}

    events = _run(run_dir, cfg, resume=True)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))  # seq continues in the same file
    resumed = _accuracies(events[len(first) :])
    assert set(resumed) == {2, 3}  # no warm-up, no repeated iteration
    assert not any(e["type"] == "phase_start" and e["phase"] == "warmup" for e in events[len(first) :])
    assert resumed == {n: straight[n] for n in (2, 3)}
    resumed_losses, straight_losses = _losses(events[len(first) :], 1), _losses(straight_events, 1)
    assert [x[:2] for x in resumed_losses] == [x[:2] for x in straight_losses]
    assert [x[2] for x in resumed_losses] == pytest.approx([x[2] for x in straight_losses], rel=1e-5)
    assert len(_losses(straight_events, 1)) > 4

    # cumulative counters continue: the optimizer step of iteration 2 equals the straight run's
    def steps(evs):
        return {e["iteration"]: e["step"] for e in evs if e["type"] == "metrics" and "train/kept" in e["values"]}

    assert steps(events)[2] == steps(_run(tmp_path / "c", cfg))[2]
    assert checkpoint.read_state(str(run_dir))["iteration"] == 3


def test_resume_refuses_another_config_other_data_or_a_missing_checkpoint(tmp_path):
    cfg = micro_config(loop={"iterations": 2})
    stop = StopFlag()
    with pytest.raises(StopRequested):
        _run(tmp_path, cfg, stop=stop, hooks=star.Hooks(on_iteration_end=lambda n, v: stop.request()))
    with pytest.raises(checkpoint.CheckpointError, match="different config"):
        _run(tmp_path, micro_config(loop={"iterations": 2, "lr": 0.002}), resume=True)
    meta_path = tmp_path / "checkpoint" / "state.json"
    meta = json.loads(meta_path.read_text())
    assert set(meta["identity"]) == {"data", "prompt", "dataset", "format", "extractor"}
    meta["identity"]["data"] = "0" * 64
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(checkpoint.CheckpointError, match="data changed"):
        _run(tmp_path, cfg, resume=True)
    with pytest.raises(RuntimeError, match="nothing to resume"):
        _run(tmp_path / "empty", cfg, resume=True)


def test_lora_trains_only_a_fresh_adapter_per_iteration(tmp_path, monkeypatch):
    _solve_all(monkeypatch)
    cfg = micro_config(loop={"iterations": 2, "finetune": "lora", "lora_r": 2, "lora_alpha": 4, "lr": 0.01})
    seen = {}

    def on_warmup_end(model):
        seen["base"] = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def on_train_start(n, model, kept):
        trainable = [name for name, p in model.named_parameters() if p.requires_grad]
        assert trainable and all("lora_" in name for name in trainable)
        # a fresh adapter: B starts at zero, so the model computes exactly the base function
        assert all(float(p.detach().abs().max()) == 0 for name, p in model.named_parameters() if "lora_B" in name)
        seen.setdefault("starts", []).append(n)

    run_dir = tmp_path
    events = _run(run_dir, cfg, hooks=star.Hooks(on_warmup_end=on_warmup_end, on_train_start=on_train_start))
    assert seen["starts"] == [1, 2]
    assert any(e["type"] == "metrics" and "train/loss" in e["values"] and e["iteration"] == 2 for e in events)
    # the checkpoint holds an adapter and the (warm-up) base weights
    state = json.loads((run_dir / "checkpoint" / "state.json").read_text())
    assert state["lora"] is True and (run_dir / "checkpoint" / "adapter").is_dir()
    base = load_weights(str(run_dir / "checkpoint" / "base.safetensors"))  # tied names come back too
    assert set(base) == set(seen["base"]) and all(torch.equal(base[k], seen["base"][k]) for k in base)


def test_a_crash_between_the_renames_of_a_save_keeps_the_previous_checkpoint(tmp_path):
    cfg = micro_config(loop={"iterations": 2})
    stop = StopFlag()
    with pytest.raises(StopRequested):
        _run(tmp_path, cfg, stop=stop, hooks=star.Hooks(on_iteration_end=lambda n, v: stop.request()))
    (tmp_path / "checkpoint").rename(tmp_path / "checkpoint.old")  # the state right after `rename(final, old)`
    assert checkpoint.read_state(str(tmp_path))["iteration"] == 1
    events = _run(tmp_path, cfg, resume=True)
    assert 2 in _accuracies(events) and checkpoint.read_state(str(tmp_path))["iteration"] == 2
