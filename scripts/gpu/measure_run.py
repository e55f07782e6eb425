"""Run ``python -m starlab …`` in this process and record what the run's events do not carry.

    python scripts/gpu/measure_run.py MEASURE.json -- run --config C --run-dir D

The command after ``--`` is handed to the real ``starlab`` entry point unchanged (``runpy``,
as ``python -m starlab`` would run it), so the measured code path is the library's own. Nothing
in the library is edited; this wrapper only wraps a few of its functions from the outside:

- ``starlab.models.build``          → the model's parameter count, dtype and device (and, when
  asked through the environment, TF32 matmuls);
- ``starlab.models.resolve_precision`` → what ``runtime.dtype`` resolved to (float32, bfloat16
  or mixed);
- ``EventWriter.phase_start/_end``  → the peak CUDA memory of every phase
  (``torch.cuda.reset_peak_memory_stats`` at each phase start);
- ``starlab.generate.generate`` and ``starlab.quiet.generate`` → calls, prompts, generated
  tokens and seconds of each decoding call (CUDA synchronised at both ends);
- ``starlab.tasks.get_task`` → only when ``BENCH_SIMULATE_ACCURACY`` is set (see below).

When the command ends (normally, by ``sys.exit``, or by an exception) MEASURE.json gets:
``{"exit_code", "wall_s", "params", "model_dtype", "precision", "model_device", "cuda": {"device_name",
"peak_allocated_bytes", "peak_reserved_bytes", "phases": {"<iteration>:<phase>": bytes}},
"generate": {"<name>": {"calls", "prompts", "tokens", "seconds"}}, "max_rss_bytes", "hooks":
{name: "ok" | reason}}``.

Precision is the config's ``runtime.dtype`` (the library's own code path; this wrapper casts
nothing). Environment: ``BENCH_TF32=1`` allows TF32 matmuls;
``BENCH_SIMULATE_ACCURACY=p`` (0 < p ≤ 1) makes the task's ``is_correct`` answer True with
probability p (seeded, so repeatable) instead of comparing answers. A randomly initialised
model never answers a GSM8K question right, so without it a STaR-family iteration keeps nothing
and its train phase (and V-STaR's DPO) does no work; with it the workload has the shape of a
run at accuracy p. None of these is on by default: by default the library runs exactly as it
would under the lab.

A hook whose target is missing (the library changed) is skipped and reported in ``hooks``;
the run itself is never affected by a failing hook.
"""

from __future__ import annotations

import functools
import json
import os
import resource
import runpy
import sys
import time
from typing import Any

# Before anything imports torch (as starlab's cli does; see cmd_run).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

RECORD: dict[str, Any] = {
    "exit_code": None,
    "wall_s": None,
    "params": None,
    "model_dtype": None,
    "precision": None,
    "model_device": None,
    "cuda": None,
    "generate": {},
    "max_rss_bytes": None,
    "hooks": {},
    "settings": {"tf32": os.environ.get("BENCH_TF32") == "1", "simulate_accuracy": float(os.environ.get("BENCH_SIMULATE_ACCURACY") or 0)},
}
_PEAK = {"running": 0, "phases": {}}


def _torch():
    return sys.modules.get("torch")


def _cuda_live() -> bool:
    t = _torch()
    try:
        return bool(t is not None and t.cuda.is_available() and t.cuda.is_initialized())
    except Exception:
        return False


def _sync() -> None:
    if _cuda_live():
        _torch().cuda.synchronize()


# ---------------------------------------------------------------------------------- hooks
def _hook_build() -> None:
    from starlab import models

    orig = models.build

    @functools.wraps(orig)
    def build(model_cfg, seed, *args, **kwargs):  # (…, alphabet=None, dtype=float32) as the library's
        model, tok = orig(model_cfg, seed, *args, **kwargs)
        torch = _torch()
        if torch is not None and RECORD["settings"]["tf32"]:
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        try:
            RECORD["params"] = sum(p.numel() for p in model.parameters())
            p = next(model.parameters())
            RECORD["model_dtype"] = str(p.dtype).replace("torch.", "")
        except Exception:
            pass
        return model, tok

    models.build = build


def _hook_precision() -> None:
    from starlab import models

    orig = models.resolve_precision

    @functools.wraps(orig)
    def resolve_precision(*args, **kwargs):
        p = orig(*args, **kwargs)
        RECORD["precision"] = getattr(p, "name", str(p))
        return p

    models.resolve_precision = resolve_precision


def _hook_phases() -> None:
    from starlab.events import EventWriter

    orig_start, orig_end = EventWriter.phase_start, EventWriter.phase_end

    @functools.wraps(orig_start)
    def phase_start(self, iteration, phase):
        if _cuda_live():
            torch = _torch()
            _PEAK["running"] = max(_PEAK["running"], torch.cuda.max_memory_allocated())
            torch.cuda.reset_peak_memory_stats()
        return orig_start(self, iteration, phase)

    @functools.wraps(orig_end)
    def phase_end(self, iteration, phase, duration_s):
        if _cuda_live():
            peak = _torch().cuda.max_memory_allocated()
            key = f"{int(iteration)}:{phase}"
            _PEAK["phases"][key] = max(peak, _PEAK["phases"].get(key, 0))
        return orig_end(self, iteration, phase, duration_s)

    EventWriter.phase_start, EventWriter.phase_end = phase_start, phase_end


def _count_tokens(out: Any) -> int:
    n = 0
    for row in out or ():
        ids = getattr(row, "ids", row)  # quiet.Generation has .ids; generate() returns id lists
        try:
            n += len(ids)
        except TypeError:
            pass
    return n


def _timed(name: str, fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        _sync()
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        _sync()
        dt = time.perf_counter() - t0
        key = name
        if "use_thoughts" in kwargs:
            key = f"{name}[{'thoughts' if kwargs['use_thoughts'] else 'base'}]"
        s = RECORD["generate"].setdefault(key, {"calls": 0, "prompts": 0, "tokens": 0, "seconds": 0.0})
        s["calls"] += 1
        s["prompts"] += len(args[2]) if len(args) > 2 else len(kwargs.get("prompts", ()))
        s["tokens"] += _count_tokens(out)
        s["seconds"] += dt
        return out

    return wrapper


def _hook_generate() -> None:
    # Patched before starlab.variants.* are imported (the cli imports them lazily), so their
    # ``from ..generate import generate`` binds the wrapper.
    from starlab import generate as g

    g.generate = _timed("generate", g.generate)


def _hook_quiet_generate() -> None:
    import importlib.util

    if importlib.util.find_spec("starlab.quiet") is None:
        raise ImportError("starlab.quiet is not in this checkout")
    from starlab import quiet  # called as quiet.generate(...) by variants/quiet_star.py

    quiet.generate = _timed("quiet.generate", quiet.generate)


def _hook_simulated_accuracy() -> None:
    p = RECORD["settings"]["simulate_accuracy"]
    if not 0 < p <= 1:
        raise ValueError("not asked for (BENCH_SIMULATE_ACCURACY unset)")
    import random

    from starlab import tasks

    orig = tasks.get_task
    rng = random.Random(12345)

    @functools.wraps(orig)
    def get_task(name):
        task = orig(name)
        # an instance attribute shadows the class's method for this task object only
        task.is_correct = lambda answer, gold: rng.random() < p
        return task

    tasks.get_task = get_task


HOOKS = {
    "build": _hook_build,
    "precision": _hook_precision,
    "phases": _hook_phases,
    "generate": _hook_generate,
    "quiet_generate": _hook_quiet_generate,
    "simulate_accuracy": _hook_simulated_accuracy,
}


def _install_hooks() -> None:
    for name, install in HOOKS.items():
        try:
            install()
            RECORD["hooks"][name] = "ok"
        except Exception as e:  # the library changed: measure less, never break the run
            RECORD["hooks"][name] = f"skipped: {type(e).__name__}: {e}"


# ---------------------------------------------------------------------------------- record
def _finish(path: str, t0: float) -> None:
    RECORD["wall_s"] = time.perf_counter() - t0
    try:
        RECORD["max_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    except Exception:
        pass
    if _cuda_live():
        torch = _torch()
        try:
            dev = torch.cuda.current_device()
            RECORD["model_device"] = RECORD["model_device"] or f"cuda:{dev}"
            RECORD["cuda"] = {
                "device_name": torch.cuda.get_device_name(dev),
                "total_bytes": torch.cuda.get_device_properties(dev).total_memory,
                "peak_allocated_bytes": max(_PEAK["running"], torch.cuda.max_memory_allocated(), *(_PEAK["phases"].values() or [0])),
                "peak_reserved_bytes": torch.cuda.max_memory_reserved(),
                "phases": dict(_PEAK["phases"]),
            }
        except Exception as e:
            RECORD["cuda"] = {"error": f"{type(e).__name__}: {e}"}
    elif RECORD["model_device"] is None:
        RECORD["model_device"] = "cpu"
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(RECORD, f, indent=1)
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[1] == "--":
        print(__doc__, file=sys.stderr)
        return 2
    out_path = os.path.abspath(argv[1])
    rest = argv[2:]
    if rest[:1] == ["--"]:
        rest = rest[1:]
    t0 = time.perf_counter()
    _install_hooks()
    code: Any = 0
    try:
        sys.argv = ["python -m starlab", *rest]
        runpy.run_module("starlab", run_name="__main__", alter_sys=True)
    except SystemExit as e:  # starlab's __main__ ends with sys.exit(main())
        code = e.code
        raise
    except BaseException:
        code = 1
        raise
    finally:
        RECORD["exit_code"] = code if isinstance(code, int) or code is None else 1
        _finish(out_path, t0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
