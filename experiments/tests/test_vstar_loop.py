"""V-STaR's loop on a micro model: the verifier buffer keeps every sample (right and wrong),
the generator's data accumulates, every test-time candidate is stored with its scores, and
the Pass@k / majority / Best-of-k curves are the estimators over those stored candidates."""

from __future__ import annotations

import copy
import json
import math

import pytest

from conftest import MICRO_CONFIG, assert_valid_stream, read_events
from starlab import estimators
from starlab import verifier as V
from starlab.config import validate_config
from starlab.events import EventWriter
from starlab.stopping import StopFlag, StopRequested
from starlab.variants import runner, star, vstar

N = 4


def vstar_config(**loop):
    cfg = copy.deepcopy(MICRO_CONFIG)
    cfg["variant"] = "v-star"
    cfg["loop"].pop("p_rationalization")
    cfg["loop"].update({"iterations": 2, "samples_per_question": 3, "temperature": 1.0, "epochs": 1, "include_sft": True, **loop})
    cfg["verifier"] = {
        "beta": 0.1,
        "pairs_per_question": 2,
        "steps": 4,
        "lr": 0.001,
        "batch_size": 4,
        "candidates": N,
        "temperature": 1.0,
        "orm_steps": 3,
        "orm_lr": 0.001,
    }
    assert validate_config(cfg)[1] == []
    return cfg


def _scripted(monkeypatch, verify=False):
    """Training samples alternate right/wrong per question (so pairs exist); evaluation and
    test-time candidates come from the real model (``verify``: the test-time candidates
    alternate too, so every test question has held-out pairs)."""
    real = star.StarRun._decode
    phases = ("sample", "verify") if verify else ("sample",)

    def decode(self, questions, *, hint, iteration, phase, samples=1, temperature=None):
        if phase not in phases:
            return real(self, questions, hint=hint, iteration=iteration, phase=phase, samples=samples, temperature=temperature)
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
    assert r.gen_data and all(
        row["completion"] == r.task.reference(next(q for q in train if q.qid == row["question_id"])) for row in r.gen_data.values()
    )
    sets = {e["iteration"]: e["values"] for e in events if e["type"] == "metrics" and "train/train_set" in e["values"]}
    assert sets[2]["train/train_set"] >= sets[2]["train/kept"] and sets[2]["train/train_set"] >= sets[1]["train/train_set"]
    assert not any(e["type"] == "phase_start" and e["phase"] == "rationalize" for e in events)

    for n in (1, 2):
        cands = [it for e in events if e["type"] == "samples" and e["iteration"] == n for it in e["items"] if it["kind"] == "candidate"]
        assert len(cands) == N * len(r.splits.eval)
        assert all({"logp", "logp_norm", "reward", "ref_logp", "orm", "gen_logp", "gen_logp_norm"} <= set(c["scores"]) for c in cands)
        # the logged curves are the estimators over exactly these stored candidates
        by_q: dict[str, list] = {}
        for c in cands:
            by_q.setdefault(c["question_id"], []).append({"answer": c["answer"], "correct": c["correct"], **c["scores"]})
        assert all(len(v) == N for v in by_q.values())
        vals = next(e["values"] for e in events if e["type"] == "metrics" and e["iteration"] == n and "vstar/pass@1" in e["values"])
        qs = list(by_q.values())
        for k in range(1, N + 1):
            assert vals[f"vstar/best_of_k/dpo@{k}"] == pytest.approx(
                estimators.curves_over_questions(qs, [k], method="best_of_k", score_key="reward")[k]
            )
            assert vals[f"vstar/best_of_k/orm@{k}"] == pytest.approx(
                estimators.curves_over_questions(qs, [k], method="best_of_k", score_key="orm")[k]
            )
            assert vals[f"vstar/majority@{k}"] == pytest.approx(estimators.curves_over_questions(qs, [k], method="majority")[k])
            assert vals[f"vstar/best_of_k/likelihood@{k}"] == pytest.approx(
                estimators.curves_over_questions(qs, [k], method="best_of_k", score_key="gen_logp_norm")[k]
            )
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


# ---------------------------------------------------------------- the generator's budget, held-out pairs


def _finetune_spy(monkeypatch):
    """Every ``train.finetune`` call of StarRun._train (the warm-up first, then one per
    iteration): the examples passed, the steps asked for, and the rows its forward passes
    actually trained on (counted on the model, not derived from the step count)."""
    calls = []
    real = runner.finetune

    def spy(model, examples, *, steps, batch_size, **kw):
        rows = []
        h = model.register_forward_pre_hook(
            lambda m, args, kwargs: rows.append(kwargs["input_ids"].shape[0]) if "input_ids" in kwargs else None, with_kwargs=True
        )
        try:
            out = real(model, examples, steps=steps, batch_size=batch_size, **kw)
        finally:
            h.remove()
        calls.append(
            {
                "n": len(examples),
                "steps": steps,
                "batch_size": batch_size,
                "seen": sum(rows),
                "lengths": [len(p) + len(c) for p, c in examples],
            }
        )
        return out

    monkeypatch.setattr(runner, "finetune", spy)
    return calls


def _per_iteration(events, key):
    return {e["iteration"]: e["values"] for e in events if e["type"] == "metrics" and key in e["values"]}


def test_generator_trains_epochs_over_d_gen_and_logs_its_budget(tmp_path, monkeypatch):
    _scripted(monkeypatch)
    calls = _finetune_spy(monkeypatch)
    sets = {}
    hooks = star.Hooks(on_train_start=lambda n, model, rows: sets.__setitem__(n, list(rows)))
    epochs = 1.5
    cfg = vstar_config(epochs=epochs, include_sft=True, iterations=3)
    cfg["verifier"].update({"steps": 1, "orm_steps": 0, "candidates": 2})
    r, events = _run(tmp_path, cfg, hooks=hooks)
    vals = _per_iteration(events, "train/examples")
    assert sorted(vals) == [1, 2, 3]
    warm = [q.qid for q, _ in r.splits.warmup]
    refs = {q.qid: r.task.reference(q) for q in r.splits.train}
    n_gen = 0
    for n in (1, 2, 3):
        rows = sets[n]
        # D_GEN = D_SFT (the warm-up examples as the warm-up trained on them) ∪ every distinct
        # correct sample so far (scripted: the reference), growing with the iterations
        sft = [x for x in rows if x.get("sft")]
        assert [x["question_id"] for x in sft] == warm == [x["question_id"] for x in rows[: len(warm)]]
        gen = rows[len(sft) :]
        assert gen and all(x["completion"] == refs[x["question_id"]] for x in gen) and len(gen) >= n_gen
        n_gen = len(gen)
        # the fine-tune: ceil(epochs · |D_GEN| / batch) steps of min(batch, |D_GEN|) examples
        call, size = calls[n], len(rows)  # calls[0] is the warm-up
        bs = min(cfg["loop"]["batch_size"], size)
        assert call["n"] == size and call["steps"] == vstar.generator_steps(size, bs, epochs) == math.ceil(epochs * size / bs)
        assert epochs * size <= call["seen"] < epochs * size + bs  # counted on the model's forward passes
        v = vals[n]
        assert (v["train/steps"], v["train/examples"], v["train/train_set"]) == (call["steps"], call["seen"], size)
        assert v["train/sft_examples"] == len(warm) and v["train/epochs"] == pytest.approx(call["seen"] / size)
    # the cumulative accounting counts the same examples: the warm-up's, then each iteration's
    cum = {n: v["compute/examples_trained"] for n, v in _per_iteration(events, "compute/examples_trained").items()}
    assert cum[0] == calls[0]["seen"] and all(cum[n] - cum[n - 1] == vals[n]["train/examples"] for n in (1, 2, 3))


@pytest.mark.parametrize("keys", ["zero", "absent"])
def test_epochs_zero_or_absent_keeps_the_star_step_budget(tmp_path, monkeypatch, keys):
    """loop.epochs 0 reproduces the STaR budget; a config stored before the keys (no
    loop.epochs, loop.include_sft) still validates and trains as it did then."""
    _scripted(monkeypatch)
    calls = _finetune_spy(monkeypatch)
    sets = {}
    hooks = star.Hooks(on_train_start=lambda n, model, rows: sets.__setitem__(n, list(rows)))
    cfg = vstar_config(epochs=0, include_sft=False)
    if keys == "absent":
        del cfg["loop"]["epochs"], cfg["loop"]["include_sft"]
        assert validate_config(cfg)[1] == []
    cfg["verifier"].update({"steps": 1, "orm_steps": 0, "candidates": 2})
    r, events = _run(tmp_path, cfg, hooks=hooks)
    vals = _per_iteration(events, "train/examples")
    for n in (1, 2):
        steps = star.steps_for_iteration(cfg["loop"]["base_steps"], cfg["loop"]["step_growth"], n)
        assert calls[n]["steps"] == vals[n]["train/steps"] == steps
        assert calls[n]["seen"] == vals[n]["train/examples"] == steps * min(cfg["loop"]["batch_size"], calls[n]["n"])
        assert vals[n]["train/sft_examples"] == 0 and not any(x.get("sft") for x in sets[n])


def test_packed_generator_counts_its_epochs_in_packed_rows(tmp_path, monkeypatch):
    """With loop.pack a step is batch_size packed rows: the epochs are counted in D_GEN's
    packed rows, and the examples trained (as finetune counts them) are about epochs · |D_GEN|."""
    from starlab.train import pack_sequences

    _scripted(monkeypatch)
    calls = _finetune_spy(monkeypatch)
    cfg = vstar_config(epochs=2, pack=True, pack_len=64, batch_size=2)
    cfg["verifier"].update({"steps": 1, "orm_steps": 0, "candidates": 2})
    r, events = _run(tmp_path, cfg)
    vals = _per_iteration(events, "train/examples")
    for n in (1, 2):
        lengths, size = calls[n]["lengths"], calls[n]["n"]
        rows = len(pack_sequences(lengths, range(size), 64))
        assert rows < size and calls[n]["steps"] == vals[n]["train/steps"] == vstar.generator_steps(rows, 2, 2)
        # each shuffled epoch re-packs into about as many rows as the in-order packing counted
        assert 0.8 * 2 * size <= vals[n]["train/examples"] <= 1.2 * 2 * size + 2 * (64 // min(lengths))


def test_held_out_pair_accuracy_is_evaluate_pairs_on_the_stored_candidates(tmp_path, monkeypatch):
    _scripted(monkeypatch, verify=True)
    scored = []  # per iteration: the trained verifier and the candidates it scored
    real_score = V.score_candidates

    def spy(verifier, examples, **kw):
        scored.append((verifier, list(examples)))
        return real_score(verifier, examples, **kw)

    monkeypatch.setattr(V, "score_candidates", spy)
    cfg = vstar_config()
    r, events = _run(tmp_path, cfg)
    vals = _per_iteration(events, "verifier/test_pair_accuracy")
    assert sorted(vals) == [1, 2] and len(scored) == 2
    for n in (1, 2):
        v = vals[n]
        cands = [it for e in events if e["type"] == "samples" and e["iteration"] == n for it in e["items"] if it["kind"] == "candidate"]
        groups: dict[str, list[int]] = {}
        for i, c in enumerate(cands):
            groups.setdefault(c["question_id"], []).append(i)
        pairs_idx = [(i, j) for idx in groups.values() for i in idx if cands[i]["correct"] for j in idx if not cands[j]["correct"]]
        assert pairs_idx and v["verifier/test_pairs"] == len(pairs_idx)

        # as db/verifier.ts recounts it from the stored scores: right above wrong, ties half
        def recount(key):
            s = [cands[i]["scores"][key] - cands[j]["scores"][key] for i, j in pairs_idx]  # noqa: B023
            return sum(1.0 if d > 0 else 0.5 if d == 0 else 0.0 for d in s) / len(s)

        assert 0.0 <= v["verifier/test_pair_accuracy"] <= 1.0 and 0.0 <= v["orm/test_pair_accuracy"] <= 1.0
        assert v["verifier/test_pair_accuracy"] == recount("reward")
        assert v["orm/test_pair_accuracy"] == recount("orm")
        # evaluate_pairs with the trained verifier on the stored candidates (forward passes again),
        # the reference being their stored log V_SFT
        model, examples = scored[n - 1]
        assert len(examples) == len(cands)
        pairs = [(examples[i][0], examples[i][1], examples[j][1]) for i, j in pairs_idx]
        ref = ([cands[i]["scores"]["ref_logp"] for i, _ in pairs_idx], [cands[j]["scores"]["ref_logp"] for _, j in pairs_idx])
        m = V.evaluate_pairs(model, pairs, ref, beta=cfg["verifier"]["beta"], pad_id=r.tok.pad_id, tie=0.5)
        assert m["accuracy"] == pytest.approx(v["verifier/test_pair_accuracy"], abs=1e-12)
        assert m["loss"] == pytest.approx(v["verifier/test_loss"], rel=1e-4, abs=1e-6)
        assert m["reward_margin"] == pytest.approx(v["verifier/test_reward_margin"], rel=1e-4, abs=1e-6)


def test_likelihood_control_is_the_generators_own_likelihood(tmp_path, monkeypatch):
    """gen_logp is log G_n(candidate | prompt) under the generator that sampled the final
    iteration's candidates (not V_SFT, not the trained verifier); gen_logp_norm divides by the
    completion's tokens."""
    _scripted(monkeypatch)
    r, events = _run(tmp_path, vstar_config())
    cands = [it for e in events if e["type"] == "samples" and e["iteration"] == 2 for it in e["items"] if it["kind"] == "candidate"]
    by_id = {q.qid: q for q in r.splits.eval}
    examples = []
    for c in cands:
        q = by_id[c["question_id"]]
        p = r.task.prompt(q)
        examples.append((r._prompt_ids(p), r._completion_ids(p, r.task.training_completion(q, c["text"]))))
    lp, cnt = V.sequence_logprobs(r.model, examples, r.tok.pad_id)
    for c, logp, n in zip(cands, lp.tolist(), cnt.tolist()):
        assert c["scores"]["gen_logp"] == pytest.approx(logp, abs=1e-4)
        assert c["scores"]["gen_logp_norm"] == pytest.approx(logp / n, abs=1e-5)
    # a different model (V_SFT, the verifier's reference) scores them differently
    assert any(abs(c["scores"]["gen_logp"] - c["scores"]["ref_logp"]) > 1e-3 for c in cands)
