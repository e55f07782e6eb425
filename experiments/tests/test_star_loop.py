"""Mechanics of the STaR loop on a micro model: what is kept, hints never reach training
text, restart from the base weights, the step budget."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import assert_valid_stream, micro_config, read_events
from starlab.events import EventWriter
from starlab.tasks import addition as A
from starlab.variants import runner, star


def test_steps_for_iteration():
    assert [star.steps_for_iteration(150, 1.2, n) for n in range(1, 6)] == [150, 180, 216, 259, 311]
    assert [star.steps_for_iteration(3, 1.5, n) for n in range(1, 4)] == [3, 5, 7]  # 4.5 rounds half up
    assert star.steps_for_iteration(40, 1.0, 9) == 40
    assert star.steps_for_iteration(1, 1.01, 1) == 1
    with pytest.raises(ValueError):
        star.steps_for_iteration(40, 1.2, 0)


def _direct_outcome(q):
    """Scripted sampler: which training questions the model 'solves' on its own."""
    return ("right", "wrong", "garbage")[(q.a + 2 * q.b) % 3]


def _hinted_outcome(q):
    return "right" if (q.a + q.b) % 2 == 0 else "wrong"


def _completion(q, outcome):
    if outcome == "right":
        return A.rationale(q)
    if outcome == "wrong":
        return "0000;=" + str(int(q.gold) + 1)[::-1]
    return "0;0;0"


class Recorder:
    def __init__(self):
        self.base = None
        self.kept = {}
        self.start_equal_base = {}
        self.end_equal_base = {}
        self.train_examples = {}
        self.model = None

    def hooks(self):
        def on_warmup_end(model):
            self.base = {k: v.detach().clone() for k, v in model.state_dict().items()}
            self.model = model

        def on_train_start(n, model, kept):
            self.kept[n] = list(kept)
            self.start_equal_base[n] = _same(model.state_dict(), self.base)

        def on_iteration_end(n, vals):
            self.end_equal_base[n] = _same(self.model.state_dict(), self.base)

        return star.Hooks(on_warmup_end=on_warmup_end, on_train_start=on_train_start, on_iteration_end=on_iteration_end)


def _same(a, b):
    return all(k in a and torch.equal(a[k], b[k]) for k in b)  # a LoRA model's names differ: not the same


def _run(tmp_path, monkeypatch, cfg, script=True):
    rec = Recorder()
    real_decode = star.StarRun._decode
    calls = []

    def scripted(self, questions, *, hint, iteration, phase, samples=1, temperature=None):
        calls.append((iteration, phase, hint, len(questions)))
        if phase == "evaluate" or not script:
            return real_decode(self, questions, hint=hint, iteration=iteration, phase=phase, samples=samples, temperature=temperature)
        outcome = _hinted_outcome if hint else _direct_outcome
        return [_completion(q, outcome(q)) for q in questions for _ in range(samples)]

    real_finetune = runner.finetune

    def spy_finetune(model, examples, **kw):
        rec.train_examples.setdefault(len(rec.train_examples), list(examples))
        return real_finetune(model, examples, **kw)

    monkeypatch.setattr(star.StarRun, "_decode", scripted)
    monkeypatch.setattr(runner, "finetune", spy_finetune)
    ev_path = tmp_path / "events.jsonl"
    w = EventWriter(ev_path, heartbeat_s=None)
    r = star.StarRun(cfg, w, run_dir=str(tmp_path), hooks=rec.hooks())
    r.setup_data()
    w.run_start(
        cfg,
        {
            "python": "3",
            "torch": None,
            "transformers": None,
            "cuda": None,
            "gpus": [],
            "host": "h",
            "platform": "p",
            "pid": 1,
            "git_commit": None,
        },
        r.hashes(),
    )
    r.setup_model()
    results = r.run()
    w.run_end("completed")
    w.close()
    return r, rec, results, read_events(ev_path), calls


def test_keeps_only_correct_and_saves_rationalizations_without_hint(tmp_path, monkeypatch, event_validator):
    cfg = micro_config(loop={"iterations": 2})
    r, rec, results, events, calls = _run(tmp_path, monkeypatch, cfg)
    assert_valid_stream(events, event_validator)
    train = {q.qid: q for q in r.splits.train}
    for n in (1, 2):
        kept = {k["question_id"]: k for k in rec.kept[n]}
        expect_direct = {qid for qid, q in train.items() if _direct_outcome(q) == "right"}
        expect_rat = {qid for qid, q in train.items() if _direct_outcome(q) != "right" and _hinted_outcome(q) == "right"}
        assert expect_direct and expect_rat and len(expect_direct | expect_rat) < len(train)  # a real filter
        assert set(kept) == expect_direct | expect_rat
        for qid, k in kept.items():
            q = train[qid]
            assert k["rationalized"] == (qid in expect_rat)
            assert k["text"] == A.question_text(q) + k["completion"]
            assert A.is_correct(A.extract_answer(k["completion"]), q.gold)
            assert "(" not in k["text"] and A.prompt(q, hint=True) not in k["text"]
        # the artifact on disk is the same kept set
        rows = [json.loads(x) for x in (tmp_path / f"artifacts/iter_{n}/kept.jsonl").read_text().splitlines()]
        assert {x["question_id"] for x in rows} == set(kept)
        # samples events: one direct sample per train question, one rationalized per wrong one
        items = [it for e in events if e["type"] == "samples" and e["iteration"] == n for it in e["items"]]
        direct = [it for it in items if it["kind"] == "direct"]
        rat = [it for it in items if it["kind"] == "rationalized"]
        assert len(direct) == len(train) and len(rat) == len(train) - len(expect_direct)
        assert all(it["hint_used"] and it["question"].endswith("):") for it in rat)
        assert {it["question_id"] for it in direct + rat if it["kept"]} == set(kept)
        assert all(it["kept"] == it["correct"] for it in direct + rat)
        m = [e["values"] for e in events if e["type"] == "metrics" and e["iteration"] == n and "train/kept" in e["values"]][0]
        assert m["train/kept"] == len(kept) and m["train/solved_direct"] == len(expect_direct)
        assert m["train/rationalized"] == len(expect_rat) and m["train/rationalize_attempted"] == len(train) - len(expect_direct)
        assert m["train/kept_fraction"] == pytest.approx(len(kept) / len(train))
    # what the optimizer saw: prompts are the plain questions (decoded), never a hinted prompt
    tok = r.tok
    for idx in (1, 2):  # 0 is the warm-up (which does show hints to half of its examples)
        for prompt_ids, completion_ids in rec.train_examples[idx]:
            text = tok.decode(prompt_ids)
            assert "(" not in text and text.endswith(":")
            assert completion_ids[-1] == tok.eos_id
    assert any("(" in tok.decode(p) for p, _ in rec.train_examples[0])


def test_no_rationalization_in_the_ablation_or_when_disabled(tmp_path, monkeypatch):
    for name, cfg in (
        ("norat", micro_config(variant="star-norat", loop={"iterations": 1})),
        ("p0", micro_config(loop={"iterations": 1, "p_rationalization": 0.0})),
    ):
        sub = tmp_path / name
        sub.mkdir(parents=True)
        r, rec, _, events, calls = _run(sub, monkeypatch, cfg)
        assert not any(phase == "rationalize" and n > 0 for n, phase, _, _ in calls)
        assert all(not k["rationalized"] for k in rec.kept[1])
        assert not [it for e in events if e["type"] == "samples" for it in e["items"] if it["kind"] == "rationalized"]


def test_each_iteration_restarts_from_the_warmup_weights(tmp_path, monkeypatch):
    _, rec, _, _, _ = _run(tmp_path, monkeypatch, micro_config(loop={"iterations": 3}))
    assert rec.start_equal_base == {1: True, 2: True, 3: True}
    assert rec.end_equal_base == {1: False, 2: False, 3: False}  # training did move the weights


def test_without_restart_the_model_continues(tmp_path, monkeypatch):
    _, rec, _, _, _ = _run(tmp_path, monkeypatch, micro_config(loop={"iterations": 2, "restart_from_base": False}))
    assert rec.start_equal_base == {1: True, 2: False}


def test_step_budget_grows_and_metrics_are_complete(tmp_path, monkeypatch, event_validator):
    cfg = micro_config(loop={"iterations": 3, "base_steps": 3, "step_growth": 1.5})
    _, rec, results, events, _ = _run(tmp_path, monkeypatch, cfg)
    assert_valid_stream(events, event_validator)
    per_iter = {e["iteration"]: e for e in events if e["type"] == "metrics" and "train/kept" in e["values"]}
    assert [per_iter[n]["values"]["train/steps"] for n in (1, 2, 3)] == [3, 5, 7]
    # step = cumulative optimizer steps (warm-up included)
    cum = cfg["warmup"]["steps"]
    for n in (1, 2, 3):
        cum += per_iter[n]["values"]["train/steps"]
        assert per_iter[n]["step"] == cum
    required = {
        "train/attempted",
        "train/solved_direct",
        "train/rationalized",
        "train/rationalize_attempted",
        "train/kept",
        "train/kept_fraction",
        "train/steps",
        "eval/accuracy",
        "eval/accuracy/digits_1",
        "eval/accuracy/digits_2",
        "time/sample_s",
        "time/train_s",
        "time/evaluate_s",
    }
    for n in (1, 2, 3):
        assert required <= set(per_iter[n]["values"])
        assert 0.0 <= per_iter[n]["values"]["eval/accuracy"] <= 1.0
    acc0 = [e for e in events if e["type"] == "metrics" and e["iteration"] == 0 and "eval/accuracy" in e["values"]]
    assert len(acc0) == 1 and acc0[0]["values"]["eval/accuracy"] == results[0].accuracy
    phases = [(e["iteration"], e["phase"]) for e in events if e["type"] == "phase_start"]
    assert phases[:2] == [(0, "warmup"), (0, "evaluate")]
    assert phases[2:6] == [(1, "sample"), (1, "rationalize"), (1, "train"), (1, "evaluate")]
    evals = [it for e in events if e["type"] == "samples" and e["iteration"] == 3 for it in e["items"] if it["kind"] == "eval"]
    assert len(evals) == 12 and all(it["split"] == "eval" for it in evals)
    assert any(e["type"] == "progress" and e["phase"] == "train" for e in events)
    assert any(e["type"] == "metrics" and set(e["values"]) == {"train/loss"} for e in events)


@pytest.mark.needs_datasets
def test_text_tasks_train_exactly_the_kept_text(tmp_path, monkeypatch):
    """On GSM8K and CommonsenseQA what the optimizer sees is the kept row's `text`: the hint-free
    question and the completion with its leading space (prompts end in "A:")."""
    from pathlib import Path

    from starlab.config import preset_config

    shared = Path(__file__).resolve().parents[3] / "shared" / "datasets"
    real_decode, real_finetune = star.StarRun._decode, runner.finetune
    for dataset in ("gsm8k", "commonsenseqa"):
        cfg = preset_config("star", dataset, "tiny")
        cfg["model"].update({"n_layer": 1, "n_embd": 16, "n_head": 2})
        cfg["task"].update({"path": str(shared), "train_limit": 6, "eval_limit": 2})
        cfg["warmup"].update({"examples": 2, "steps": 1})
        cfg["loop"].update({"iterations": 1, "base_steps": 2, "max_new_tokens": 8})
        cfg["runtime"]["threads"] = 1
        sub = tmp_path / dataset
        sub.mkdir()

        def decode(self, questions, *, hint, iteration, phase, samples=1, temperature=None):
            if phase == "evaluate":
                return real_decode(self, questions, hint=hint, iteration=iteration, phase=phase, samples=samples, temperature=temperature)
            # as generation gives it: the reference, cleaned (which strips its leading space)
            return [self.task.clean_completion(self.task.reference(q)) for q in questions for _ in range(samples)]

        monkeypatch.setattr(star.StarRun, "_decode", decode)
        rec = Recorder()
        seen = {}

        def spy(model, examples, **kw):
            seen.setdefault(len(seen), list(examples))  # noqa: B023 (this dataset's run)
            return real_finetune(model, examples, **kw)

        monkeypatch.setattr(runner, "finetune", spy)
        w = EventWriter(sub / "events.jsonl", heartbeat_s=None)
        r = star.StarRun(cfg, w, run_dir=str(sub), hooks=rec.hooks())
        r.setup_data()
        r.setup_model()
        r.run()
        w.close()
        kept = rec.kept[1]
        assert kept and all(
            k["text"].startswith(r.task.question_text(next(q for q in r.splits.train if q.qid == k["question_id"])) + " ") for k in kept
        )
        trained = [r.tok.decode(p) + r.tok.decode(c) for p, c in seen[1]]
        assert trained == [k["text"] for k in kept]
        assert all(" (" not in t.split("\nA:")[0][-12:] for t in trained)  # no hint after the question


@pytest.mark.parametrize("finetune", ["full", "lora"])
def test_packed_iterations_train_several_examples_per_row_and_count_them(tmp_path, monkeypatch, finetune):
    """loop.pack: an iteration's fine-tune packs whole examples into rows of loop.pack_len
    tokens (the warm-up stays unpacked), and the metrics count the examples and tokens the
    rows really held."""
    from starlab import train as T

    rows_calls = []
    real_rows = T._finetune_rows

    def spy_rows(model, examples, opt, sched, **kw):
        rows_calls.append((kw["pack_len"], kw["micro_batch_size"], sched.lr_lambdas[0](0), sched.lr_lambdas[0](5)))
        return real_rows(model, examples, opt, sched, **kw)

    monkeypatch.setattr(T, "_finetune_rows", spy_rows)
    cfg = micro_config(
        loop={
            "iterations": 2,
            "finetune": finetune,
            "pack": True,
            "pack_len": 64,
            "batch_size": 2,
            "micro_batch_size": 1,
            "lr_schedule": "constant",
            "warmup_steps": 2,
        }
    )
    r, rec, results, events, _ = _run(tmp_path, monkeypatch, cfg)
    assert rows_calls == [(64, 1, 0.0, 1.0)] * 2  # the iterations only, at the reference's schedule
    per_iter = {e["iteration"]: e["values"] for e in events if e["type"] == "metrics" and "train/kept" in e["values"]}
    w = cfg["warmup"]
    trained = {0: w["steps"] * w["batch_size"]}  # the warm-up: unpacked batches of 8
    start = [e["values"] for e in events if e["type"] == "metrics" and e["iteration"] == 0 and "compute/examples_trained" in e["values"]][0]
    assert start["compute/examples_trained"] == trained[0]
    for n in (1, 2):
        v = per_iter[n]
        lengths = [len(p) + len(c) for p, c in rec.train_examples[n]]
        assert v["train/examples_per_sequence"] > 2 and v["train/examples_per_sequence"] <= 64 / min(lengths)
        assert v["train/examples_per_step"] == pytest.approx(2 * v["train/examples_per_sequence"])
        trained[n] = trained[n - 1] + v["train/steps"] * v["train/examples_per_step"]
        assert v["compute/examples_trained"] == pytest.approx(trained[n])
        assert v["train/tokens_per_step"] <= 2 * 64


def test_a_packed_run_resumes_bit_identically(tmp_path, monkeypatch):
    from starlab.stopping import StopFlag, StopRequested

    real_decode = star.StarRun._decode

    def decode(self, questions, *, hint, iteration, phase, samples=1, temperature=None):
        if phase == "evaluate":
            return real_decode(self, questions, hint=hint, iteration=iteration, phase=phase, samples=samples, temperature=temperature)
        return [self.task.reference(q) for q in questions for _ in range(samples)]

    monkeypatch.setattr(star.StarRun, "_decode", decode)
    cfg = micro_config(
        loop={"iterations": 3, "lr": 0.01, "pack": True, "pack_len": 48, "batch_size": 2, "lr_schedule": "constant", "warmup_steps": 2}
    )

    def run(run_dir, **kw):
        w = EventWriter(run_dir / "events.jsonl", heartbeat_s=None)
        try:
            star.run(cfg, w, run_dir=str(run_dir), emit_run_start=False, **kw)
        finally:
            w.close()
        return read_events(run_dir / "events.jsonl")

    def trace(events, after=0):
        return [
            (e["iteration"], e["step"], sorted(e["values"].items()))
            for e in events
            if e["type"] == "metrics"
            and e["iteration"] > after
            and ("train/loss" in e["values"] or "eval/accuracy" in e["values"])
            and not any(k.startswith("time/") for k in e["values"])
        ]

    straight = run(tmp_path / "a")
    stop = StopFlag()
    with pytest.raises(StopRequested):
        run(tmp_path / "b", stop=stop, hooks=star.Hooks(on_iteration_end=lambda n, v: stop.request() if n == 1 else None))
    first = read_events(tmp_path / "b" / "events.jsonl")
    resumed = run(tmp_path / "b", resume=True)[len(first) :]
    assert trace(resumed, 1) == trace(straight, 1) and len(trace(straight, 1)) > 4  # losses, accuracies, counters
