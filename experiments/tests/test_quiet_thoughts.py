"""Quiet-STaR's training-time thoughts with their rewards: quiet_loss(record=True) returns row 0's
first thought, reward and weight per position without changing the loss, gradients or RNG
stream; the runner writes them as artifacts/train_<i>/thoughts.jsonl, announced as artifacts,
small, and rewritten the same after a resume."""

from __future__ import annotations

import json
import math

import pytest
import torch
from test_quiet_star import _docs, _model, _quiet_micro

from conftest import read_events
from starlab import quiet
from starlab.events import EventWriter
from starlab.variants import quiet_star


def _loss_and_grads(record: bool):
    qm, tok = _model(head=True)
    qm.train()
    ids, doc = quiet.pack_documents(_docs(tok, 6), 40, tok.pad_id)
    gen = torch.Generator().manual_seed(3)
    out = quiet.quiet_loss(qm, ids, doc, n_thoughts=2, thought_len=3, n_ahead=3, generator=gen, record=record)
    out.loss.backward()
    grads = [p.grad.clone() for p in qm.parameters() if p.grad is not None]
    return out, grads, gen.get_state(), ids, doc


def test_recording_changes_nothing_and_returns_row_zero():
    a, ga, sa, ids, doc = _loss_and_grads(False)
    b, gb, sb, _, _ = _loss_and_grads(True)
    assert a.sample is None
    assert torch.equal(a.loss, b.loss)  # bit-identical
    assert a.stats == b.stats
    assert len(ga) == len(gb) and all(torch.equal(x, y) for x, y in zip(ga, gb))
    assert torch.equal(sa, sb)  # the generator advanced the same
    s = b.sample
    T = ids.shape[1]
    assert s["ids"] == ids[0].tolist() and s["doc"] == doc[0].tolist()
    assert len(s["thoughts"]) == T and all(len(th) == 3 for th in s["thoughts"])
    d = b.details
    # row 0 of the repeated batch is input row 0's first thought
    assert s["thoughts"] == d["thoughts"][0].tolist()
    assert s["reward"] == pytest.approx(d["reward"][0].tolist())
    assert s["w"] == pytest.approx(d["w"][0, 0].tolist())
    assert s["valid"] == d["valid"][0, 0].tolist()
    # the reward is Σ_m (mixed − base) log-likelihood over the valid targets, by hand at one position
    t = next(i for i, ok in enumerate(s["valid"]) if ok)
    by_hand = float(((d["mixed_logp"][0, :, t] - d["base_logp"][0, :, t]) * d["valid"][0, :, t].float()).sum())
    assert s["reward"][t] == pytest.approx(by_hand, abs=1e-6)
    assert any(r != 0 for r in s["reward"])  # a non-zero head: thoughts matter


def test_record_steps():
    assert quiet_star.record_steps(3) == {1, 2, 3}
    assert quiet_star.record_steps(100) == {100, 87, 74, 61, 48, 35, 22, 9}
    assert quiet_star.record_steps(16, 8) == {2, 4, 6, 8, 10, 12, 14, 16}
    assert quiet_star.record_steps(0) == set() and quiet_star.record_steps(5, 0) == set()


def _run(tmp_path, name, cfg, **kw):
    seen: list[dict] = []
    w = EventWriter(tmp_path / name / "events.jsonl", heartbeat_s=None)
    hooks = kw.pop("hooks", None) or quiet_star.Hooks(on_step=lambda s, st: seen.append(dict(st)))
    quiet_star.run(cfg, w, run_dir=str(tmp_path / name), emit_run_start=False, hooks=hooks, **kw)
    w.close()
    return seen, read_events(tmp_path / name / "events.jsonl")


def test_runner_writes_training_thoughts(tmp_path, monkeypatch):
    cfg = _quiet_micro()  # 4 quiet steps, evaluations after steps 3 and 4
    seen, events = _run(tmp_path, "rec", cfg)
    arts = [e for e in events if e["type"] == "artifact" and e["path"].startswith("artifacts/train_")]
    assert [(a["path"], a["iteration"], a["name"]) for a in arts] == [
        ("artifacts/train_1/thoughts.jsonl", 1, "thoughts.jsonl"),
        ("artifacts/train_2/thoughts.jsonl", 2, "thoughts.jsonl"),
    ]
    for it, steps in ((1, [1, 2, 3]), (2, [4])):
        f = tmp_path / "rec" / f"artifacts/train_{it}/thoughts.jsonl"
        assert f.stat().st_size < 64 * 1024
        rows = [json.loads(x) for x in f.read_text().splitlines()]
        assert [r["quiet_step"] for r in rows] == steps
        # "step" is the metrics' step: the quiet step plus the warm-up's steps
        assert len({r["step"] - r["quiet_step"] for r in rows}) == 1 and rows[0]["step"] >= rows[0]["quiet_step"]
        for r in rows:
            toks = r["tokens"]
            assert 0 < len(toks) <= quiet_star.TRAIN_THOUGHT_POSITIONS
            assert r["text"] and all(t["thought"].startswith("<|startthought|>") for t in toks)
            rewards = [t["reward"] for t in toks if t["reward"] is not None]
            assert rewards and all(math.isfinite(x) for x in rewards)
            # w is unbounded in this implementation (no sigmoid, as the reference code); 0 at init
            assert all(isinstance(t["w"], float) and math.isfinite(t["w"]) for t in toks)
            assert any(t["reward"] is None for t in toks) or len(toks) == quiet_star.TRAIN_THOUGHT_POSITIONS

    # the same run without recording: identical losses and statistics, no training artifact
    monkeypatch.setattr(quiet_star, "record_steps", lambda n, rows=0: set())
    plain, events2 = _run(tmp_path, "plain", cfg)
    assert plain == seen
    assert not any(e["type"] == "artifact" and e["path"].startswith("artifacts/train_") for e in events2)


def test_training_thoughts_survive_a_resume(tmp_path):
    """Stopped after evaluation 1 and resumed: train_2's thoughts equal an uninterrupted run's."""
    from starlab.stopping import StopFlag, StopRequested

    cfg = _quiet_micro()
    cfg["quiet"].update({"steps": 4, "eval_every": 2})
    _run(tmp_path, "a", cfg)
    stop = StopFlag()
    hooks = quiet_star.Hooks(on_eval_end=lambda i, res: stop.request() if i == 1 else None)
    with pytest.raises(StopRequested):
        _run(tmp_path, "b", cfg, stop=stop, hooks=hooks)
    assert not (tmp_path / "b" / "artifacts/train_2").exists()
    _run(tmp_path, "b", cfg, resume=True)
    for it in (1, 2):
        a = (tmp_path / "a" / f"artifacts/train_{it}/thoughts.jsonl").read_text()
        b = (tmp_path / "b" / f"artifacts/train_{it}/thoughts.jsonl").read_text()
        assert a == b and a


def test_artifact_rows_write_non_finite_floats_as_null(tmp_path):
    from starlab.variants.common import _finite

    row = {"tokens": [{"reward": float("nan"), "w": float("inf")}, {"reward": 0.5, "w": -float("inf")}], "step": 3}
    assert _finite(row) == {"tokens": [{"reward": None, "w": None}, {"reward": 0.5, "w": None}], "step": 3}
    json.dumps(_finite(row), allow_nan=False)  # valid JSON now
