"""runtime.nproc > 1: every variant under torchrun (2 processes, gloo, on the CPU).

- ``finetune`` under DistributedDataParallel gives the one-process losses of the same global
  batch (unpacked, packed in micro-batches, and a batch with fewer rows than ranks), and every
  rank ends with the same weights; so do V-STaR's DPO verifier and ORM (their per-step metrics
  too), and the candidates' scores computed on each rank's share equal one process's;
- a whole STaR run under torchrun keeps the same sets and evaluates the same as one process,
  only rank 0 writes, a stop ends every rank cleanly, and resume finishes it; so does a run whose
  fine-tunes are sharded with FSDP (runtime.fsdp), whose ``finetune`` gives the one-process losses;
- sampling through a vLLM engine per rank (runtime.engine = vllm) draws what the hf engine
  draws under torchrun;
- a whole V-STaR run under torchrun trains its verifiers on pairs, stores every candidate with
  its scores, logs the curves those stored candidates give, and saves the verifier once;
- Quiet-STaR's step under torchrun gives the one-process loss, stats and weights (thoughts
  forced), and a whole Quiet-STaR run under torchrun evaluates its starting model as one process
  does and writes what one process writes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import EXPERIMENTS, assert_valid_stream, micro_config, read_events

WORKER = EXPERIMENTS / "tests" / "dist_worker.py"


def torchrun(args: list[str], **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(EXPERIMENTS), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", *args]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True, **kw)


def torchrun_run(run_dir) -> str:
    """``run_dir/config.json`` run to its end under torchrun, the run directory given as the app gives it."""
    os.environ["STARLAB_RUN_DIR"] = str(run_dir)
    try:
        return finish(torchrun(["-m", "starlab", "run", "--config", str(run_dir / "config.json")]))
    finally:
        os.environ.pop("STARLAB_RUN_DIR", None)


def one_process_run(run_dir) -> None:
    """``run_dir/config.json`` run to its end in one process."""
    env = {**os.environ, "PYTHONPATH": str(EXPERIMENTS), "STARLAB_RUN_DIR": str(run_dir)}
    subprocess.run(
        [sys.executable, "-m", "starlab", "run", "--config", str(run_dir / "config.json")], env=env, check=True, capture_output=True
    )


def finish(p: subprocess.Popen, timeout: float = 240) -> str:
    out, _ = p.communicate(timeout=timeout)
    assert p.returncode == 0, f"torchrun exited with {p.returncode}:\n{out[-4000:]}"
    return out


def test_ddp_finetune_matches_one_process(tmp_path):
    import dist_worker as W
    import torch

    from starlab import quiet
    from starlab import verifier as V
    from starlab.train import TrainStats, finetune

    out = tmp_path / "dist.json"
    finish(torchrun([str(WORKER), str(out)]))
    got = json.loads(out.read_text())
    assert got["world"] == 2
    torch.set_num_threads(1)
    for mode, spec in W.MODES.items():
        model, tok, examples = W.build(spec["n"])
        stats = TrainStats()
        ref = finetune(model, examples, steps=W.STEPS, lr=0.003, batch_size=8, pad_id=tok.pad_id, seed=0, stats=stats, **spec["options"])
        d = got[mode]
        assert len(d["losses"]) == W.STEPS
        # summation order differs (two halves, then the all-reduce): equal to float32 rounding
        assert d["losses"] == pytest.approx(ref, rel=1e-5), mode
        assert d["checksums"][0] == d["checksums"][1], f"{mode}: the ranks' weights differ"
        for k in ("steps", "examples", "sequences", "tokens", "completion_tokens"):
            assert d["stats"][k] == getattr(stats, k), (mode, k)

    # FSDP: the sharded copy's losses are the one-process losses, and its weights come back whole
    # into the (plain) model, the same on both ranks and close to one process's
    for mode, spec in W.FSDP_MODES.items():
        model, tok, examples = W.build(spec["n"])
        ref = finetune(model, examples, steps=W.STEPS, lr=0.003, batch_size=8, pad_id=tok.pad_id, seed=0, **spec["options"])
        d = got[mode]
        assert d["plain"] == type(model).__name__, "the model is still the sharded copy's class"
        assert d["losses"] == pytest.approx(ref, rel=1e-5), mode
        assert d["checksums"][0] == d["checksums"][1], f"{mode}: the ranks' weights differ"
        assert d["checksums"][0] == pytest.approx(float(sum(p.detach().double().sum() for p in model.parameters())), rel=1e-5), mode

    # V-STaR's verifiers: the same per-step metrics as one process, the same weights on both ranks
    for mode, spec in W.DPO_MODES.items():
        model, tok, _ = W.build(1)
        pairs = W.verifier_pairs(tok, spec["n"])
        ref = V.train_dpo(model, pairs, beta=0.1, steps=W.STEPS, lr=0.003, batch_size=6, pad_id=tok.pad_id, seed=0, **spec["options"])
        d = got[mode]
        assert len(d["history"]) == W.STEPS and d["checksums"][0] == d["checksums"][1], mode
        assert max(h["accuracy"] for h in ref) > 0  # the pairs were learnt, so the metrics compare something
        for a, b in zip(d["history"], ref):
            for k in ("loss", "reward_margin", "chosen_reward", "rejected_reward", "accuracy", "lr"):
                assert a[k] == pytest.approx(b[k], rel=1e-4, abs=1e-6), (mode, k)
    model, tok, _ = W.build(1)
    orm = V.OutcomeRewardModel(model, seed=1)
    examples, labels = W.orm_data(tok)
    ref = V.train_orm(orm, examples, labels, steps=W.STEPS, lr=0.003, batch_size=5, pad_id=tok.pad_id, seed=0, **W.ORM_OPTIONS)
    d = got["orm"]
    assert d["checksums"][0] == d["checksums"][1]
    for a, b in zip(d["history"], ref, strict=True):
        for k in ("loss", "bce", "lm", "accuracy", "lr"):
            assert a[k] == pytest.approx(b[k], rel=1e-4, abs=1e-6), k
    scores = V.score_candidates(model, examples, pad_id=tok.pad_id, batch_size=4, reference=model, orm=orm)
    assert [s.keys() for s in d["scores"]] == [s.keys() for s in scores]
    for a, b in zip(d["scores"], scores, strict=True):
        for k in a:
            assert a[k] == pytest.approx(b[k], rel=1e-4, abs=1e-5), k

    # Quiet-STaR's step: each rank's rows normalised by the whole batch, gradients summed over the ranks
    qm, opt, ids, doc, thoughts = W.quiet_setup()
    args = {key: W.QUIET[key] for key in ("n_thoughts", "thought_len", "n_ahead")}
    d = got["quiet"]
    assert d["checksums"][0] == d["checksums"][1]
    for step in range(W.QUIET["steps"]):
        opt.zero_grad(set_to_none=True)
        out = quiet.quiet_loss(qm, ids, doc, thoughts=thoughts[step], **args)
        out.loss.backward()
        opt.step()
        for k, v in out.stats.items():
            assert d["stats"][step][k] == pytest.approx(v, rel=1e-4, abs=1e-6), (step, k)
    assert d["checksums"][0] == pytest.approx(float(sum(p.detach().double().sum() for p in qm.parameters())), rel=1e-6)


def _run_dir_events(run_dir):
    return read_events(run_dir / "events.jsonl")


def _kept(run_dir, n):
    return (run_dir / "artifacts" / f"iter_{n}" / "kept.jsonl").read_text()


def test_star_under_torchrun_keeps_the_same_sets_stops_and_resumes(tmp_path, event_validator):
    # a config whose runs keep rationales from iteration 1 on; greedy sampling, so the ranks'
    # share of the prompts decodes as one process decodes them
    cfg = micro_config(
        seed=1,
        model={"n_embd": 32},
        warmup={"steps": 200, "batch_size": 24},
        loop={"iterations": 2, "base_steps": 40, "step_growth": 10, "temperature": 0.0},
    )
    one, two = tmp_path / "one", tmp_path / "two"
    for d, nproc in ((one, 1), (two, 2)):
        d.mkdir()
        c = json.loads(json.dumps(cfg))
        c["runtime"]["nproc"] = nproc
        (d / "config.json").write_text(json.dumps(c))
    one_process_run(one)

    # under torchrun: stopped inside iteration 2's fine-tune (400 steps), then resumed
    os.environ["STARLAB_RUN_DIR"] = str(two)
    try:
        p = torchrun(["-m", "starlab", "run", "--config", str(two / "config.json")])
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            text = (two / "events.jsonl").read_text() if (two / "events.jsonl").exists() else ""
            if '"phase_start"' in text and any(
                json.loads(x).get("type") == "phase_start" and json.loads(x).get("iteration") == 2 and json.loads(x).get("phase") == "train"
                for x in text.splitlines()[-5:]
            ):
                break
            assert p.poll() is None, p.communicate()[0][-4000:]
            time.sleep(0.1)
        else:
            pytest.fail("the run never reached iteration 2's fine-tune")
        t0 = time.monotonic()
        os.killpg(p.pid, signal.SIGTERM)  # what the supervisor sends: the whole process group
        out, _ = p.communicate(timeout=60)
        stop_s = time.monotonic() - t0
        events = _run_dir_events(two)
        assert events[-1]["type"] == "run_end" and events[-1]["status"] == "stopped", out[-4000:]
        assert stop_s < 30, f"the ranks took {stop_s:.1f} s to stop"
        with pytest.raises(ProcessLookupError):
            os.killpg(p.pid, 0)  # nothing of the group is left

        finish(torchrun(["-m", "starlab", "run", "--config", str(two / "config.json"), "--resume"]))
    finally:
        os.environ.pop("STARLAB_RUN_DIR", None)

    a, b = _run_dir_events(one), _run_dir_events(two)
    for e in b:  # one writer: rank 0's stream is valid and gap-free across the stop and resume
        errors = list(event_validator.iter_errors(e))
        assert not errors, errors[0].message
    assert [e["seq"] for e in b] == list(range(1, len(b) + 1))
    assert any(e["type"] == "resumed" and e["iteration"] == 1 for e in b)
    assert b[-1]["type"] == "run_end" and b[-1]["status"] == "completed"

    def evals(events):  # per iteration, the last evaluation (the resumed run redid iteration 2's)
        return {
            e["iteration"]: (e["values"]["eval/accuracy"], e["values"].get("train/kept"))
            for e in events
            if e["type"] == "metrics" and "eval/accuracy" in e["values"]
        }

    assert evals(a) == evals(b) and len(evals(a)) == 3
    for n in (1, 2):
        assert _kept(one, n) == _kept(two, n), f"iteration {n}: kept sets differ"
    assert json.loads(_kept(one, 1).splitlines()[0])  # the runs kept something to compare

    # losses: the same batches; float32 differences from the split batch grow through training
    def losses(events):  # the resumed run's values of iteration 2 replace the stopped run's
        return {
            (e["iteration"], e["step"]): e["values"]["train/loss"] for e in events if e["type"] == "metrics" and "train/loss" in e["values"]
        }

    la, lb = losses(a), losses(b)
    assert la.keys() == lb.keys()
    # The same global batch: the warm-up's first 50 steps agree to float32 rounding. After that the
    # split batch's other reduction order drifts, fastest where the loss falls steeply (torch 2.15
    # on this CPU: equal to 5 digits through step 50, then up to 8% apart around step 120, while
    # the evaluations and kept sets above stay identical).
    early = [k for k in la if k[0] == 0 and k[1] <= 50]
    assert len(early) >= 5
    assert all(lb[k] == pytest.approx(la[k], rel=1e-4) for k in early)
    assert all(lb[k] == pytest.approx(la[k], rel=0.2) for k in la)
    assert sorted(os.listdir(two)) == sorted(os.listdir(one))  # rank 1 wrote nothing of its own

    # runtime.fsdp: the fine-tunes train a sharded copy whose weights come back whole for sampling:
    # the same sets and evaluations again
    fsdp = tmp_path / "fsdp"
    fsdp.mkdir()
    c = json.loads((two / "config.json").read_text())
    c["runtime"]["fsdp"] = True
    (fsdp / "config.json").write_text(json.dumps(c))
    torchrun_run(fsdp)
    f = _run_dir_events(fsdp)
    assert f[-1]["type"] == "run_end" and f[-1]["status"] == "completed"
    assert evals(f) == evals(a)
    for n in (1, 2):
        assert _kept(fsdp, n) == _kept(one, n), f"FSDP, iteration {n}: kept sets differ"
    lf = losses(f)
    assert lf.keys() == la.keys() and all(lf[k] == pytest.approx(la[k], rel=1e-4) for k in early)


def test_vllm_engines_under_torchrun_sample_what_the_hf_engine_samples(tmp_path):
    """runtime.engine = vllm with runtime.nproc = 2: an engine per rank, each drawing its share of
    the prompts from the weights rank 0 wrote once; greedy samples, kept sets and evaluations
    equal those of the same torchrun run on the hf engine (the same DDP-trained weights)."""
    from starlab import engines

    if engines.vllm_python() is None:
        pytest.fail("vLLM's environment is missing: bash scripts/setup.sh --vllm (or set STARLAB_VLLM_PYTHON)", pytrace=False)
    # head_dim 32 (vLLM's CPU attention refuses 16); greedy sampling; a model that keeps rationales
    cfg = micro_config(
        seed=1,
        model={"n_embd": 64, "n_head": 2},
        warmup={"steps": 200, "batch_size": 24},
        loop={"iterations": 1, "base_steps": 20, "step_growth": 1.0, "temperature": 0.0},
    )
    runs = {}
    for engine in ("hf", "vllm"):
        d = tmp_path / engine
        d.mkdir()
        c = json.loads(json.dumps(cfg))
        c["runtime"].update(nproc=2, engine=engine)
        (d / "config.json").write_text(json.dumps(c))
        torchrun_run(d)
        runs[engine] = (d, _run_dir_events(d))
    (hf_dir, hf), (vl_dir, vl) = runs["hf"], runs["vllm"]

    def samples(events):
        return [(e["iteration"], it["question_id"], it["kind"], it["text"]) for e in events if e["type"] == "samples" for it in e["items"]]

    a, b = samples(hf), samples(vl)
    assert a and a == b
    assert _kept(hf_dir, 1) == _kept(vl_dir, 1) and json.loads(_kept(hf_dir, 1).splitlines()[0])
    # iteration 1's evaluation samples from the fine-tuned weights, handed over in place
    evals = [[e["values"]["eval/accuracy"] for e in ev if e["type"] == "metrics" and "eval/accuracy" in e["values"]] for ev in (hf, vl)]
    assert len(evals[0]) == 2 and evals[0] == evals[1]
    sync = [e["values"]["time/engine_sync_s"] for e in vl if e["type"] == "metrics" and "time/engine_sync_s" in e["values"]]
    assert len(sync) == 1 and sync[0] > 0
    assert any(e["type"] == "log" and e["message"].startswith("sampling with vLLM ") for e in vl)
    assert vl[-1]["type"] == "run_end" and vl[-1]["status"] == "completed"
    assert not (vl_dir / "engine").exists()  # rank 0 removed the weights it wrote


def test_vstar_under_torchrun_trains_its_verifiers_and_logs_what_it_stored(tmp_path, event_validator):
    from starlab import estimators, verifier_dir

    cfg = micro_config(
        variant="v-star",
        seed=1,
        model={"n_embd": 32},
        warmup={"steps": 200, "batch_size": 24},
        loop={"iterations": 1, "base_steps": 20, "temperature": 1.0, "samples_per_question": 4, "epochs": 1, "include_sft": True},
        runtime={**micro_config()["runtime"], "nproc": 2},
    )
    cfg["loop"].pop("p_rationalization")
    cfg["verifier"] = {
        "beta": 0.1,
        "pairs_per_question": 2,
        "steps": 6,
        "lr": 0.001,
        "batch_size": 4,
        "candidates": 4,
        "temperature": 1.0,
        "orm_steps": 4,
        "orm_lr": 0.001,
    }
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    torchrun_run(tmp_path)
    events = _run_dir_events(tmp_path)
    assert_valid_stream(events, event_validator)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))  # one writer
    assert events[-1]["type"] == "run_end" and events[-1]["status"] == "completed"
    vals = next(e["values"] for e in events if e["type"] == "metrics" and "vstar/pass@1" in e["values"])
    assert vals["verifier/pairs"] > 0  # the DPO verifier trained on pairs
    assert sum(1 for e in events if e["type"] == "metrics" and "verifier/loss" in e["values"]) >= 2
    assert any(e["type"] == "metrics" and "orm/loss" in e["values"] for e in events)
    cands = [it for e in events if e["type"] == "samples" and e["iteration"] == 1 for it in e["items"] if it["kind"] == "candidate"]
    by_q: dict[str, list] = {}
    for c in cands:
        by_q.setdefault(c["question_id"], []).append({"answer": c["answer"], "correct": c["correct"], **c["scores"]})
    assert by_q and all(len(v) == 4 for v in by_q.values())
    qs = list(by_q.values())
    for k in range(1, 5):  # the curves are the estimators over exactly the stored candidates
        for key, score in (("dpo", "reward"), ("orm", "orm"), ("likelihood", "gen_logp_norm")):
            got = vals[f"vstar/best_of_k/{key}@{k}"]
            assert got == pytest.approx(estimators.curves_over_questions(qs, [k], method="best_of_k", score_key=score)[k]), (key, k)
    assert verifier_dir.saved_iterations(str(tmp_path)) == [1]  # saved by rank 0, once


def test_quiet_star_under_torchrun_evaluates_as_one_process(tmp_path, event_validator):
    from test_quiet_star import _quiet_micro

    cfg = _quiet_micro()
    cfg["seed"] = 2
    cfg["warmup"]["steps"] = 30
    cfg["quiet"].update({"batch_size": 5, "eval_every": 2})
    one, two = tmp_path / "one", tmp_path / "two"
    for d, nproc in ((one, 1), (two, 2)):
        d.mkdir()
        c = json.loads(json.dumps(cfg))
        c["runtime"]["nproc"] = nproc
        (d / "config.json").write_text(json.dumps(c))
    one_process_run(one)
    torchrun_run(two)
    a, b = _run_dir_events(one), _run_dir_events(two)
    assert_valid_stream(b, event_validator)
    assert [e["seq"] for e in b] == list(range(1, len(b) + 1))  # one writer
    assert b[-1]["type"] == "run_end" and b[-1]["status"] == "completed"

    def evals(events):
        return [e["values"] for e in events if e["type"] == "metrics" and "eval/accuracy" in e["values"]]

    ea, eb = evals(a), evals(b)
    assert len(ea) == len(eb) == 3  # iteration 0, then after quiet steps 2 and 4
    # the starting model (after the DDP warm-up: the same batches) scored and decoded on each rank's
    # share, gathered: what one process gets, to float32 rounding
    for k in ("eval/accuracy", "eval/base_accuracy", "eval/answer_logprob", "eval/exact_match", "eval/base_exact_match"):
        assert eb[0][k] == pytest.approx(ea[0][k], rel=1e-4, abs=1e-6), k
    # the Quiet-STaR steps were taken and logged (each rank draws its own thoughts, so later
    # evaluations are alike, not equal)
    steps = [e["values"]["quiet/step"] for e in b if e["type"] == "metrics" and "quiet/step" in e["values"]]
    assert max(steps) == 4
    assert sorted(os.listdir(two)) == sorted(os.listdir(one))  # rank 1 wrote nothing of its own


def _pids(pattern: str) -> list[int]:
    r = subprocess.run(["pgrep", "-f", "--", pattern], capture_output=True, text=True)
    return [int(x) for x in r.stdout.split()]


def test_the_ranks_die_with_a_killed_agent(tmp_path):
    """torchrun starts each rank in a session of its own: the SIGKILL the supervisor sends the
    run's process group after its grace period reaches only the agent. The ranks must not run
    on without it (their output goes to a file here, so no broken pipe ends them either)."""
    cfg = micro_config(loop={"iterations": 1, "base_steps": 100000, "step_growth": 1.0}, warmup={"steps": 100000})
    cfg["runtime"]["nproc"] = 2
    config = tmp_path / "config.json"
    config.write_text(json.dumps(cfg))
    log = open(tmp_path / "torchrun.log", "w")
    env = {**os.environ, "PYTHONPATH": str(EXPERIMENTS), "STARLAB_RUN_DIR": str(tmp_path)}
    agent = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node=2",
            "-m",
            "starlab",
            "run",
            "--config",
            str(config),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while '"phase_start"' not in ((tmp_path / "events.jsonl").read_text() if (tmp_path / "events.jsonl").exists() else ""):
            assert agent.poll() is None and time.monotonic() < deadline, (tmp_path / "torchrun.log").read_text()[-3000:]
            time.sleep(0.1)
        ranks = [p for p in _pids(str(config)) if p != agent.pid]
        assert len(ranks) == 2
        os.killpg(agent.pid, signal.SIGKILL)
        agent.wait()
        t0 = time.monotonic()
        while any(p in _pids(str(config)) for p in ranks) and time.monotonic() - t0 < 5:
            time.sleep(0.05)
        assert not any(p in _pids(str(config)) for p in ranks), "the ranks outlived the agent"
    finally:
        for p in _pids(str(config)):
            os.kill(p, signal.SIGKILL)
        log.close()
