"""runtime.nproc > 1: the STaR family under torchrun (2 processes, gloo, on the CPU).

- ``finetune`` under DistributedDataParallel gives the one-process losses of the same global
  batch (unpacked, packed in micro-batches, and a batch with fewer rows than ranks), and every
  rank ends with the same weights;
- a whole STaR run under torchrun keeps the same sets and evaluates the same as one process,
  only rank 0 writes, a stop ends every rank cleanly, and resume finishes it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import EXPERIMENTS, micro_config, read_events

WORKER = EXPERIMENTS / "tests" / "dist_worker.py"


def torchrun(args: list[str], **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(EXPERIMENTS), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", *args]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True, **kw)


def finish(p: subprocess.Popen, timeout: float = 240) -> str:
    out, _ = p.communicate(timeout=timeout)
    assert p.returncode == 0, f"torchrun exited with {p.returncode}:\n{out[-4000:]}"
    return out


def test_ddp_finetune_matches_one_process(tmp_path):
    import dist_worker as W
    import torch

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
    env = {**os.environ, "PYTHONPATH": str(EXPERIMENTS), "STARLAB_RUN_DIR": str(one)}
    subprocess.run([sys.executable, "-m", "starlab", "run", "--config", str(one / "config.json")], env=env, check=True, capture_output=True)

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
