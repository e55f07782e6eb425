#!/usr/bin/env python3
"""Benchmark every variant's real code path on a GPU machine with no network.

For each variant (star, star-norat, v-star, quiet-star) this writes a config — the variant's
``tiny`` preset on GSM8K, with the model scaled up (``model.source = "tiny"``: the library's
randomly initialised Llama with its character tokenizer, so nothing is downloaded) and
``runtime.device``, ``runtime.dtype`` and ``runtime.gen_batch_size`` set — and runs it as the lab does, ``python -m starlab run --config C
--run-dir D``, inside ``measure_run.py`` (peak GPU memory, parameter count, decoding-call
timings). Then it reads the run's ``events.jsonl`` and prints, per variant:

- seconds per phase (sum of ``phase_end.duration_s`` over the run; iteration 0 = warm-up
  and the first evaluation);
- sampling tokens/s = ``compute/tokens_generated`` / seconds of the decoding phases
  (sample, rationalize, evaluate; v-star also verify, which includes its DPO/ORM training,
  so that figure is a lower bound); quiet-star: the mean of its ``eval/tokens_per_s``;
- decode tokens/s measured around each call of ``generate()`` (the wrapper; exact for every
  variant);
- training tokens/s = ``compute/tokens_trained`` / seconds of warmup + train;
- peak GPU memory (``torch.cuda.max_memory_allocated``), overall and per phase (JSON).

A randomly initialised model never answers right, so a STaR-family iteration would keep
nothing and train nothing; by default the wrapper therefore counts a sample correct with
probability 0.3 (``--simulate-accuracy``, 0 = the task's real check), which gives the
iterations the workload of a run at that accuracy. Accuracies in the output mean nothing.

Precision: ``--dtype`` sets ``runtime.dtype``. Its default, ``auto``, resolves to float32 for
a tiny model on any device (``models.resolve_precision``), which is not what a hub model gets
on CUDA. For the paper presets' path pass ``--dtype mixed`` (full fine-tuning: float32 weights
under bfloat16 autocast) or ``--set loop.finetune=lora --dtype bfloat16`` (LoRA on bfloat16
weights). ``--gen-batch-size`` sets ``runtime.gen_batch_size``; its default, 32, is what a hub
model decodes with (0 would give a tiny model 512).

A table goes to stdout and a JSON summary to ``--out``.

    # on a GPU machine (GSM8K files in DIR/gsm8k/{train,test}.jsonl)
    python3 scripts/gpu/bench_variants.py --datasets DIR --out bench.json
    # the CPU smoke test
    experiments/.venv/bin/python scripts/gpu/bench_variants.py --device cpu --size micro \\
        --variants star,star-norat --datasets ../shared/datasets --out /tmp/bench.json

This script itself needs no torch (only the Python that runs the experiments, ``--python``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
EXPERIMENTS = REPO / "experiments"
MEASURE = HERE / "measure_run.py"
sys.path.insert(0, str(EXPERIMENTS))

from starlab import catalogue  # noqa: E402  (stdlib only)
from starlab.config import preset_config, validate_config  # noqa: E402  (no torch import)

VARIANTS = ("star", "star-norat", "v-star", "quiet-star")
#: model sizes: (n_layer, n_embd, n_head); the tiny Llama has a gated MLP of width 4·n_embd,
#: so ≈ 16·n_layer·n_embd² parameters (+ a ~100-token embedding, tied)
SIZES = {
    "micro": (2, 64, 4),  # ≈ 0.1 M: the tiny preset itself (CPU smoke test)
    "small": (12, 1024, 16),  # ≈ 201 M
    "medium": (24, 1024, 16),  # ≈ 403 M
}
GEN_PHASES = {
    "star": ("sample", "rationalize", "evaluate"),
    "star-norat": ("sample", "evaluate"),
    "v-star": ("sample", "evaluate", "verify"),
    "quiet-star": ("evaluate",),
}
TRAIN_PHASES = ("warmup", "train")
PHASE_ORDER = ("warmup", "sample", "rationalize", "train", "evaluate", "verify")
GIB = 1024**3


# ---------------------------------------------------------------------------------- config
def approx_params(n_layer: int, n_embd: int, vocab: int = 100) -> int:
    return n_layer * (16 * n_embd * n_embd + 2 * n_embd) + vocab * n_embd + n_embd


def parse_sets(items: list[str]) -> list[tuple[list[str], Any]]:
    out = []
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set {item!r}: expected KEY=VALUE, e.g. model.n_layer=16")
        try:
            val = json.loads(raw)
        except ValueError:
            val = raw
        out.append((key.split("."), val))
    return out


def build_config(variant: str, a: argparse.Namespace) -> tuple[dict[str, Any], list[str]]:
    """The variant's tiny GSM8K preset, scaled and shortened for the benchmark. Returns the
    config and notes (``--set`` keys that the variant does not have)."""
    cfg = preset_config(variant, a.dataset, "tiny", a.seed)
    n_layer, n_embd, n_head = SIZES[a.size]
    micro = a.size == "micro"
    lr = a.lr if a.lr is not None else (3e-3 if micro else 3e-4)
    cfg["model"].update(n_layer=n_layer, n_embd=n_embd, n_head=n_head, max_len=a.max_len)
    cfg["runtime"].update(
        device=a.device,
        threads=a.threads if a.threads is not None else (1 if a.device == "cpu" else 0),
        dtype=a.dtype,
        gen_batch_size=a.gen_batch_size,
    )
    cfg["task"].update(train_limit=a.train_limit, eval_limit=a.eval_limit, few_shot=False)
    cfg["warmup"].update(examples=a.warmup_examples, steps=a.warmup_steps, lr=lr, batch_size=a.batch_size)
    if "loop" in cfg:
        cfg["loop"].update(iterations=a.iterations, base_steps=a.steps, lr=lr, batch_size=a.batch_size, max_new_tokens=a.max_new_tokens)
    if variant == "v-star":
        cfg["loop"]["samples_per_question"] = a.samples
        cfg["verifier"].update(steps=a.steps, orm_steps=a.steps, lr=lr, orm_lr=lr, batch_size=a.batch_size, candidates=a.candidates)
    if "quiet" in cfg:
        cfg["quiet"].update(
            steps=a.iterations * a.steps,
            eval_every=a.steps,
            lr=lr,
            batch_size=a.batch_size,
            seq_len=a.quiet_seq_len,
            max_new_tokens=a.max_new_tokens,
        )
    notes = []
    for path, val in parse_sets(a.set):
        node: Any = cfg
        for part in path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and path[-1] in node:
            node[path[-1]] = val
        else:
            notes.append(f"--set {'.'.join(path)}: not a key of {variant}'s config, ignored")
    return cfg, notes


# ---------------------------------------------------------------------------------- run
def run_variant(variant: str, cfg: dict[str, Any], a: argparse.Namespace, work: Path) -> dict[str, Any]:
    run_dir = work / variant
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    cfg_path = run_dir / "config.json"
    cfg_path.write_text(json.dumps(cfg, indent=2))
    measure_path = run_dir / "measure.json"
    env = {k: v for k, v in os.environ.items() if k not in ("STARLAB_EVENTS", "STARLAB_RUN_DIR", "STARLAB_RUN_ID")}
    env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(EXPERIMENTS), env.get("PYTHONPATH")])),
        STARLAB_DATASETS_DIR=str(a.datasets_dir),
        STARLAB_RUN_ID=f"bench-{variant}",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        PYTHONUNBUFFERED="1",
    )
    if a.tf32:
        env["BENCH_TF32"] = "1"
    if a.simulate_accuracy > 0:
        env["BENCH_SIMULATE_ACCURACY"] = str(a.simulate_accuracy)
    cmd = [a.python, str(MEASURE), str(measure_path), "--", "run", "--config", str(cfg_path), "--run-dir", str(run_dir)]
    t0 = time.perf_counter()
    timed_out = False
    with open(run_dir / "stdout.log", "wb") as out, open(run_dir / "stderr.log", "wb") as err:
        proc = subprocess.Popen(cmd, cwd=run_dir, env=env, stdout=out, stderr=err, start_new_session=True)
        try:
            proc.wait(timeout=a.timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _stop(proc, grace=30)
    wall = time.perf_counter() - t0
    res = summarize(variant, run_dir, wall)
    res["returncode"] = proc.returncode
    if timed_out and res["status"] != "completed":  # (a run that ended as the timer fired stays completed)
        res["status"] = "timeout"
        res["error"] = f"stopped after --timeout {a.timeout} s" + (f" ({res['error']})" if res.get("error") else "")
    if not a.keep_checkpoints:
        shutil.rmtree(run_dir / "checkpoint", ignore_errors=True)
    return res


def _stop(proc: subprocess.Popen, grace: float) -> None:
    """SIGTERM to the run's process group (starlab ends the run as 'stopped'), SIGKILL after grace."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        proc.wait()


# ---------------------------------------------------------------------------------- figures
def read_events(path: Path) -> list[dict[str, Any]]:
    events = []
    if not path.is_file():
        return events
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.endswith("\n"):
                try:
                    events.append(json.loads(line))
                except ValueError:
                    pass
    return events


def summarize(variant: str, run_dir: Path, wall: float) -> dict[str, Any]:
    events = read_events(run_dir / "events.jsonl")
    measure: dict[str, Any] = {}
    if (run_dir / "measure.json").is_file():
        measure = json.loads((run_dir / "measure.json").read_text())
    end = next((e for e in reversed(events) if e["type"] == "run_end"), None)
    start = next((e for e in events if e["type"] == "run_start"), None)
    phases: dict[str, float] = {}
    per_iter: list[dict[str, Any]] = []
    for e in events:
        if e["type"] == "phase_end":
            phases[e["phase"]] = phases.get(e["phase"], 0.0) + float(e["duration_s"])
            per_iter.append({"iteration": e["iteration"], "phase": e["phase"], "duration_s": e["duration_s"]})
    last: dict[str, Any] = {}
    series: dict[str, list[Any]] = {}
    for e in events:
        if e["type"] == "metrics":
            for k, v in e["values"].items():
                last[k] = v
                series.setdefault(k, []).append({"iteration": e["iteration"], "step": e["step"], "value": v})
    gen_tokens = last.get("compute/tokens_generated")
    train_tokens = last.get("compute/tokens_trained")
    gen_s = sum(phases.get(p, 0.0) for p in GEN_PHASES[variant])
    train_s = sum(phases.get(p, 0.0) for p in TRAIN_PHASES)
    figures: dict[str, Any] = {
        "tokens_generated": gen_tokens,
        "tokens_trained": train_tokens,
        "decode_seconds": gen_s,
        "train_seconds": train_s,
        "train_tok_s": train_tokens / train_s if train_tokens and train_s > 0 else None,
    }
    # the iterations' own training (warm-up excluded: its sequences are the reference
    # solutions, usually longer than the sampled ones)
    tr0 = next((x["value"] for x in series.get("compute/tokens_trained", []) if x["iteration"] == 0), None)
    it_train_s = sum(p["duration_s"] for p in per_iter if p["phase"] == "train")
    if train_tokens is not None and tr0 is not None and it_train_s > 0:
        figures["iteration_train_tok_s"] = (train_tokens - tr0) / it_train_s
    if phases.get("warmup") and tr0:
        figures["warmup_tok_s"] = tr0 / phases["warmup"]
    if variant == "quiet-star":
        tps = [x["value"] for x in series.get("eval/tokens_per_s", [])]
        base = [x["value"] for x in series.get("eval/base_tokens_per_s", [])]
        figures["sample_tok_s"] = sum(tps) / len(tps) if tps else None
        figures["sample_tok_s_source"] = "mean eval/tokens_per_s (decoding with a thought before every token)"
        figures["base_decode_tok_s"] = sum(base) / len(base) if base else None
        # thought tokens sampled in training: cumulative compute/tokens_generated at the end of each train phase
        thought = _train_thought_tokens(events)
        if thought is not None and phases.get("train"):
            figures["train_thought_tokens"] = thought
            figures["train_thought_tok_s"] = thought / phases["train"]
    else:
        figures["sample_tok_s"] = gen_tokens / gen_s if gen_tokens and gen_s > 0 else None
        figures["sample_tok_s_source"] = (
            "compute/tokens_generated / seconds of "
            + "+".join(GEN_PHASES[variant])
            + (" (verify includes DPO/ORM training: a lower bound)" if variant == "v-star" else "")
        )
    calls = measure.get("generate") or {}
    if calls:
        tok = sum(s["tokens"] for s in calls.values())
        sec = sum(s["seconds"] for s in calls.values())
        figures["generate_call_tok_s"] = tok / sec if sec > 0 else None
        thoughts = calls.get("quiet.generate[thoughts]")
        if thoughts and thoughts["seconds"] > 0:  # quiet-star: the decoding with thoughts, as its table entry
            figures["generate_call_tok_s"] = thoughts["tokens"] / thoughts["seconds"]
        figures["generate_calls"] = {k: {**s, "tok_s": s["tokens"] / s["seconds"] if s["seconds"] else None} for k, s in calls.items()}
    iters = sorted({p["iteration"] for p in per_iter if p["iteration"] >= 1})
    figures["optimizer_steps"] = max((e["step"] for e in events if e["type"] == "metrics"), default=None)
    cuda = measure.get("cuda") or {}
    return {
        "variant": variant,
        "status": end["status"] if end else ("no events" if not events else "no run_end"),
        "error": end.get("error") if end else _stderr_tail(run_dir),
        "wall_s": wall,
        "startup_and_other_s": wall - sum(phases.values()),
        "iterations_completed": len(iters),
        "phases_s": phases,
        "phases_per_iteration": per_iter,
        "iteration_s": [x["value"] for x in series.get("time/iteration_s", [])],
        "figures": figures,
        "params": measure.get("params"),
        "model_dtype": measure.get("model_dtype"),
        "precision": measure.get("precision"),
        "peak_gpu_allocated_gib": cuda["peak_allocated_bytes"] / GIB if "peak_allocated_bytes" in cuda else None,
        "peak_gpu_reserved_gib": cuda["peak_reserved_bytes"] / GIB if "peak_reserved_bytes" in cuda else None,
        "peak_gpu_by_phase_gib": {k: v / GIB for k, v in (cuda.get("phases") or {}).items()},
        "gpu": cuda.get("device_name"),
        "max_rss_gib": measure["max_rss_bytes"] / GIB if measure.get("max_rss_bytes") else None,
        "hooks": measure.get("hooks"),
        "env": {k: (start or {}).get("env", {}).get(k) for k in ("python", "torch", "transformers", "cuda", "gpus")},
        "final_metrics": {k: v for k, v in last.items() if k.startswith(("eval/", "compute/", "train/kept", "verifier/pairs"))},
        "run_dir": str(run_dir),
    }


#: the one name of the cumulative generated-token counter; its catalogue aliases (Quiet-STaR's
#: train steps logged it as ``tokens/generated``) are read for event files that still have them
TOKENS_GENERATED = "compute/tokens_generated"
TOKENS_GENERATED_NAMES = (TOKENS_GENERATED, *(catalogue.metric_entry(TOKENS_GENERATED) or {}).get("aliases", []))


def _tokens_generated(values: dict[str, Any]) -> Any:
    for k in TOKENS_GENERATED_NAMES:
        if k in values:
            return values[k]
    return None


def _train_thought_tokens(events: list[dict[str, Any]]) -> int | None:
    """Quiet-STaR thought tokens sampled in training: the increase of the cumulative
    ``compute/tokens_generated`` across each train phase (its metrics are logged inside the phase)."""
    total, found = 0, False
    before = 0
    in_train, last_in = False, None
    for e in events:
        if e["type"] == "phase_start" and e["phase"] == "train":
            in_train, last_in = True, None
        elif e["type"] == "phase_end" and e["phase"] == "train":
            if last_in is not None:
                total += last_in - before
                found = True
            in_train = False
        elif e["type"] == "metrics":
            n = _tokens_generated(e["values"])
            if n is None:
                continue
            if in_train:
                last_in = n
            else:
                before = n
    return total if found else None


def _stderr_tail(run_dir: Path, n: int = 600) -> str | None:
    p = run_dir / "stderr.log"
    if not p.is_file():
        return None
    text = p.read_text(errors="replace").strip()
    return text[-n:] or None


# ---------------------------------------------------------------------------------- output
def _f(x: Any, nd: int = 1) -> str:
    if x is None:
        return "-"
    if isinstance(x, (int, float)):
        if abs(x) >= 1e5:
            return f"{x:.3g}"
        return f"{x:.{nd}f}"
    return str(x)


def print_table(results: list[dict[str, Any]], device: str) -> None:
    cols = (
        ["variant", "status", "params", "wall s"]
        + [f"{p} s" for p in PHASE_ORDER]
        + ["opt steps", "gen tok/s", "gen() tok/s", "train tok/s", "peak GiB" if device == "cuda" else "RSS GiB"]
    )
    rows = []
    for r in results:
        fg = r.get("figures", {})
        ph = r.get("phases_s", {})
        peak = r.get("peak_gpu_allocated_gib") if device == "cuda" else r.get("max_rss_gib")
        rows.append(
            [r["variant"], r["status"], f"{r['params'] / 1e6:.1f}M" if r.get("params") else "-", _f(r.get("wall_s"))]
            + [_f(ph.get(p)) if p in ph else "-" for p in PHASE_ORDER]
            + [
                _f(fg.get("optimizer_steps"), 0),
                _f(fg.get("sample_tok_s"), 0),
                _f(fg.get("generate_call_tok_s"), 0),
                _f(fg.get("train_tok_s"), 0),
                _f(peak, 2),
            ]
        )
    widths = [max(len(c), *(len(row[i]) for row in rows)) if rows else len(c) for i, c in enumerate(cols)]
    line = "  ".join(c.ljust(w) for c, w in zip(cols, widths))
    print(line)
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))
    for r in results:
        if r["status"] != "completed" and r.get("error"):
            print(f"\n{r['variant']}: {r['status']}: {r['error']}")


# ---------------------------------------------------------------------------------- main
def default_python() -> str:
    venv = EXPERIMENTS / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def datasets_dir(path: str, dataset: str) -> Path:
    """DIR holding <dataset>/…, or the <dataset> folder itself."""
    d = Path(path).resolve()
    if (d / dataset).is_dir():
        return d
    if d.name == dataset and d.is_dir():
        return d.parent
    raise SystemExit(f"--datasets {path}: no {dataset}/ folder there (expected {d / dataset}/train.jsonl, test.jsonl)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated, from " + ", ".join(VARIANTS))
    p.add_argument("--dataset", default="gsm8k", choices=["gsm8k", "commonsenseqa"])
    p.add_argument(
        "--datasets",
        default=os.environ.get("STARLAB_DATASETS_DIR"),
        help="folder holding gsm8k/{train,test}.jsonl (sets STARLAB_DATASETS_DIR for the runs)",
    )
    p.add_argument(
        "--size",
        default="small",
        choices=list(SIZES),
        help="model size: "
        + ", ".join(f"{k} = {v[0]} layers × {v[1]} wide, ≈{approx_params(v[0], v[1]) / 1e6:.0f}M" for k, v in SIZES.items()),
    )
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    p.add_argument("--iterations", type=int, default=2, help="STaR-family iterations; quiet-star: evaluations after the first")
    p.add_argument("--train-limit", type=int, default=64, help="training questions (task.train_limit)")
    p.add_argument("--eval-limit", type=int, default=32, help="held-out questions (task.eval_limit)")
    p.add_argument(
        "--steps",
        type=int,
        default=20,
        help="optimizer steps of iteration 1 (loop.base_steps, growing ×1.2); "
        "v-star: also DPO and ORM steps; quiet-star: steps between evaluations",
    )
    p.add_argument("--warmup-steps", type=int, default=20)
    p.add_argument("--warmup-examples", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-new-tokens", type=int, default=128, help="decoding length (characters for the tiny tokenizer)")
    p.add_argument("--samples", type=int, default=2, help="v-star: samples per training question")
    p.add_argument("--candidates", type=int, default=4, help="v-star: test-time candidates per held-out question")
    p.add_argument("--quiet-seq-len", type=int, default=128)
    p.add_argument("--max-len", type=int, default=1024, help="model.max_len")
    p.add_argument("--lr", type=float, default=None, help="every learning rate (default 3e-3 micro, 3e-4 otherwise)")
    p.add_argument("--threads", type=int, default=None, help="runtime.threads (default 1 on CPU, torch's default on CUDA)")
    p.add_argument(
        "--dtype",
        default="auto",
        choices=["auto", "float32", "bfloat16", "mixed"],
        help="runtime.dtype (auto = float32 for a tiny model, even on CUDA; mixed = what full fine-tuning of a "
        "hub model gets on CUDA, bfloat16 = what LoRA gets)",
    )
    p.add_argument(
        "--gen-batch-size",
        type=int,
        default=32,
        help="runtime.gen_batch_size: prompts decoded together (default 32, a hub model's default; "
        "0 = the library's default for a tiny model, 512)",
    )
    p.add_argument("--tf32", action="store_true", help="allow TF32 matmuls (wrapper-side; off in the library)")
    p.add_argument(
        "--simulate-accuracy",
        type=float,
        default=0.3,
        metavar="P",
        help="count a sample correct with probability P (wrapper-side; a random model never is, so "
        "without it nothing is kept and the STaR-family train phase does no work); 0 = real checking",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra config override for every variant that has the key, e.g. quiet.thought_len=10",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=600, help="seconds per variant (SIGTERM, then SIGKILL after 30 s)")
    p.add_argument("--python", default=default_python(), help="interpreter with torch + transformers (+ peft)")
    p.add_argument("--work-dir", default=None, help="run directories (default: a new temporary folder, kept)")
    p.add_argument("--keep-checkpoints", action="store_true", help="keep each run's checkpoint/ (deleted by default)")
    p.add_argument("--out", default=None, help="JSON summary path")
    a = p.parse_args(argv)

    variants = [v.strip() for v in a.variants.split(",") if v.strip()]
    bad = [v for v in variants if v not in VARIANTS]
    if bad:
        p.error(f"unknown variant(s) {bad}; choose from {VARIANTS}")
    if not a.datasets:
        p.error("--datasets DIR is required (or set STARLAB_DATASETS_DIR)")
    a.datasets_dir = datasets_dir(a.datasets, a.dataset)
    work = Path(a.work_dir or tempfile.mkdtemp(prefix="starlab-bench-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    n_layer, n_embd, n_head = SIZES[a.size]
    print(
        f"# {a.size}: {n_layer} layers × {n_embd} wide, {n_head} heads (≈{approx_params(n_layer, n_embd) / 1e6:.1f}M params), "
        f"device {a.device}, runtime.dtype {a.dtype}{' +tf32' if a.tf32 else ''}, gen batch {a.gen_batch_size or 'default'}, simulated accuracy {a.simulate_accuracy or 'off'}; "
        f"{a.dataset} from {a.datasets_dir}; "
        f"{a.iterations} iteration(s), {a.train_limit} train / {a.eval_limit} eval questions; runs in {work}",
        flush=True,
    )

    results = []
    for v in variants:
        if v == "quiet-star" and not (EXPERIMENTS / "starlab" / "variants" / "quiet_star.py").is_file():
            results.append({"variant": v, "status": "skipped", "error": "variants/quiet_star.py is not in this checkout"})
            continue
        cfg, notes = build_config(v, a)
        for n in notes:
            print(f"# {n}", flush=True)
        cfg_ok, errors = validate_config(cfg)
        if errors:
            msg = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
            results.append({"variant": v, "status": "invalid config", "error": msg})
            print(f"# {v}: invalid config: {msg}", flush=True)
            continue
        print(f"# {v}: running …", flush=True)
        r = run_variant(v, cfg_ok, a, work)
        r["config"] = cfg_ok
        r["notes"] = notes
        results.append(r)
        print(f"# {v}: {r['status']} in {r['wall_s']:.1f} s", flush=True)

    print()
    print_table(results, a.device)
    summary = {
        "bench": {
            "size": a.size,
            "model": dict(zip(("n_layer", "n_embd", "n_head"), SIZES[a.size])),
            "device": a.device,
            "dtype": a.dtype,
            "gen_batch_size": a.gen_batch_size,
            "tf32": a.tf32,
            "dataset": a.dataset,
            "simulate_accuracy": a.simulate_accuracy,
            "iterations": a.iterations,
            "train_limit": a.train_limit,
            "eval_limit": a.eval_limit,
            "steps": a.steps,
            "batch_size": a.batch_size,
            "max_new_tokens": a.max_new_tokens,
            "python": a.python,
            "work_dir": str(work),
            "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
        "variants": {r["variant"]: r for r in results},
    }
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(summary, indent=1))
        print(f"\nsummary: {a.out}")
    return 0 if all(r["status"] == "completed" for r in results if r["status"] != "skipped") else 1


if __name__ == "__main__":
    sys.exit(main())
