"""V-STaR's loop on a micro model: the verifier buffer keeps every sample (right and wrong),
the generator's data accumulates, every test-time candidate is stored with its scores, and
the Pass@k / majority / Best-of-k curves are the estimators over those stored candidates."""
from __future__ import annotations

import copy
import json

import pytest

from conftest import MICRO_CONFIG, assert_valid_stream, read_events
from starlab import estimators
from starlab.config import validate_config
from starlab.events import EventWriter
from starlab.stopping import StopFlag, StopRequested
from starlab.variants import star, vstar

N = 4


def vstar_config(**loop):
    cfg = copy.deepcopy(MICRO_CONFIG)
    cfg["variant"] = "v-star"
    cfg["loop"].pop("p_rationalization")
    cfg["loop"].update({"iterations": 2, "samples_per_question": 3, "temperature": 1.0, **loop})
    cfg["verifier"] = {"beta": 0.1, "pairs_per_question": 2, "steps": 4, "lr": 0.001, "batch_size": 4,
                       "candidates": N, "temperature": 1.0, "orm_steps": 3, "orm_lr": 0.001}
    assert validate_config(cfg)[1] == []
    return cfg


def _scripted(monkeypatch):
    """Training samples alternate right/wrong per question (so pairs exist); evaluation and
    test-time candidates come from the real model."""
    real = star.StarRun._decode

    def decode(self, questions, *, hint, iteration, phase, samples=1, temperature=None):
        if phase != "sample":
            return real(self, questions, hint=hint, iteration=iteration, phase=phase, samples=samples,
                        temperature=temperature)
        out = []
        for q in questions:
            for j in range(samples):
                ok = (j + iteration + q.a) % 2 == 0
                out.append(self.task.reference(q) if ok else f"{j}00{iteration};=" + str(int(q.gold) + 1)[::-1])
        return out

    monkeypatch.setattr(star.StarRun, "_decode", decode)


def _run(run_dir, cfg, **kw):
    w = EventWriter(run_dir / "events.jsonl", heartbeat_s=None)
    runner = {}

    class Spy(vstar.VStarRun):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            runner["r"] = self

    try:
        star.run(cfg, w, run_dir=str(run_dir), emit_run_start=False, runner_cls=Spy, **kw)
    finally:
        w.close()
    return runner["r"], read_events(run_dir / "events.jsonl")


def test_buffer_generator_data_candidates_and_curves(tmp_path, monkeypatch, event_validator):
    _scripted(monkeypatch)
    cfg = vstar_config()
    r, events = _run(tmp_path, cfg)
    train = r.splits.train
    # D_VER: every distinct sample of every iteration, right and wrong
    assert set(r.buffer) == {q.qid for q in train}
    assert all(True in c.values() and False in c.values() for c in r.buffer.values())
    # D_GEN: correct samples only, accumulated (iteration 2 trains on iteration 1's too)
    assert r.gen_data and all(row["completion"] == r.task.reference(
        next(q for q in train if q.qid == row["question_id"])) for row in r.gen_data.values())
    sets = {e["iteration"]: e["values"] for e in events if e["type"] == "metrics" and "train/train_set" in e["values"]}
    assert sets[2]["train/train_set"] >= sets[2]["train/kept"] and sets[2]["train/train_set"] >= sets[1]["train/train_set"]
    assert not any(e["type"] == "phase_start" and e["phase"] == "rationalize" for e in events)

    for n in (1, 2):
        cands = [it for e in events if e["type"] == "samples" and e["iteration"] == n for it in e["items"]
                 if it["kind"] == "candidate"]
        assert len(cands) == N * len(r.splits.eval)
        assert all({"logp", "logp_norm", "reward", "ref_logp", "orm"} <= set(c["scores"]) for c in cands)
        # the logged curves are the estimators over exactly these stored candidates
        by_q: dict[str, list] = {}
        for c in cands:
            by_q.setdefault(c["question_id"], []).append({"answer": c["answer"], "correct": c["correct"], **c["scores"]})
        assert all(len(v) == N for v in by_q.values())
        vals = next(e["values"] for e in events if e["type"] == "metrics" and e["iteration"] == n and "vstar/pass@1" in e["values"])
        qs = list(by_q.values())
        for k in range(1, N + 1):
            assert vals[f"vstar/best_of_k/dpo@{k}"] == pytest.approx(
                estimators.curves_over_questions(qs, [k], method="best_of_k", score_key="reward")[k])
            assert vals[f"vstar/best_of_k/orm@{k}"] == pytest.approx(
                estimators.curves_over_questions(qs, [k], method="best_of_k", score_key="orm")[k])
            assert vals[f"vstar/majority@{k}"] == pytest.approx(estimators.curves_over_questions(qs, [k], method="majority")[k])
        assert vals["vstar/pass@1"] == pytest.approx(sum(c["correct"] for c in cands) / len(cands))
        assert vals["verifier/pairs"] > 0 and "verifier/final_pair_accuracy" in vals
        assert (tmp_path / f"artifacts/iter_{n}/vstar_curves.json").exists()
    # verifier training curves were logged, and the stream is valid protocol
    assert any(e["type"] == "metrics" and "verifier/loss" in e["values"] for e in events)
    assert any(e["type"] == "metrics" and "orm/loss" in e["values"] for e in events)
    assert any(e["type"] == "phase_start" and e["phase"] == "verify" for e in events)
    assert_valid_stream(events, event_validator)


def test_resume_restores_the_buffers(tmp_path, monkeypatch):
    _scripted(monkeypatch)
    cfg = vstar_config(iterations=2)
    stop = StopFlag()
    hooks = star.Hooks(on_iteration_end=lambda n, vals: stop.request() if n == 1 else None)
    with pytest.raises(StopRequested):
        _run(tmp_path, cfg, stop=stop, hooks=hooks)
    state = json.loads((tmp_path / "checkpoint" / "state.json").read_text())["state"]
    assert state["buffer"] and state["gen_data"]
    r, events = _run(tmp_path, cfg, resume=True)
    assert sum(len(c) for c in r.buffer.values()) > sum(len(c) for c in state["buffer"].values())
    assert {e["iteration"] for e in events if e["type"] == "metrics" and "vstar/pass@1" in e["values"]} == {1, 2}
