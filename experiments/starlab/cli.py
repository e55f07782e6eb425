"""``python -m starlab`` — the entry point the Node side spawns.

    python -m starlab run --config <run_dir>/config.json     run an experiment, events to $STARLAB_EVENTS
    python -m starlab validate --config PATH                 {"ok": bool, "errors": [{"field", "message"}]}
    python -m starlab run --config <run_dir>/config.json --resume   continue after the last checkpointed iteration
    python -m starlab resolve --variant V --dataset D --preset tiny [--seed N] [--set loop.iterations=3 ...]
    python -m starlab schema                                 the config schemas' keys (drift test vs. zod)
    python -m starlab import-data --dataset gsm8k --train F --eval F --dest DIR   validate and copy (CSV/TSV: convert) a user's files
    python -m starlab export-verifier --run-dir D [--iteration N] --out DIR   a V-STaR run's verifier as a folder of its own
    python -m starlab rerank --verifier DIR --candidates F.jsonl [--json]     score any generator's candidates with it

Exit codes of ``run``: 0 completed, 0 stopped (SIGTERM/SIGINT: the current step finishes,
``run_end {status: "stopped"}`` is written), 1 failed (exception: ``run_end {status:
"failed", error}``, traceback on stderr), 2 invalid config or usage (``run_end failed``
naming the field). ``validate`` exits 0 when the config is valid, 2 when not (the JSON is
printed either way). Neither ``validate`` nor ``resolve`` imports torch.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m starlab", description="STaR Lab experiments")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run an experiment from a resolved config")
    r.add_argument("--config", required=True, help="resolved config JSON (see shared/experiment-config.ts)")
    r.add_argument("--events", default=None, help="events file (default: $STARLAB_EVENTS, else <run dir>/events.jsonl)")
    r.add_argument("--run-dir", default=None, help="run directory for artifacts (default: $STARLAB_RUN_DIR, else cwd)")
    r.add_argument("--resume", action="store_true", help="continue after the run directory's last checkpoint")
    v = sub.add_parser("validate", help="validate a config; prints {ok, errors}")
    v.add_argument("--config", required=True)
    s = sub.add_parser("resolve", help="print a complete config from presets.json")
    s.add_argument("--variant", default="star")
    s.add_argument("--dataset", default="addition")
    s.add_argument("--preset", default="tiny")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. loop.iterations=3")
    sub.add_parser("schema", help="print the config schemas' key sets and sections as JSON")
    i = sub.add_parser("import-data", help="validate a user's dataset files and copy them into a datasets directory")
    i.add_argument("--dataset", required=True, choices=["gsm8k", "commonsenseqa"])
    i.add_argument("--train", required=True, help="training split (JSONL, or CSV/TSV with a header row: converted to JSONL)")
    i.add_argument("--eval", required=True, help="evaluation split (GSM8K test, CommonsenseQA dev; JSONL, CSV or TSV)")
    i.add_argument("--dest", required=True, help="datasets directory (files go to DEST/<dataset>/)")
    e = sub.add_parser("export-verifier", help="copy a V-STaR run's saved verifier to a folder of its own")
    e.add_argument("--run-dir", required=True)
    e.add_argument("--iteration", type=int, default=None, help="default: the last iteration whose verifier the run kept")
    e.add_argument("--out", required=True, help="a new (or empty) folder")
    k = sub.add_parser("rerank", help="score candidates from any generator with a saved verifier")
    k.add_argument("--verifier", required=True, help="a verifier folder (export-verifier, or <run dir>/verifier/iter_N)")
    k.add_argument("--candidates", required=True, help='JSONL: {"question", "candidates": [...], "gold"?} per line')
    k.add_argument("--json", action="store_true", help="one JSON object: chosen, scores, curves (with gold)")
    k.add_argument("--device", default=None, help="cpu, cuda, … (default: cuda when available)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.cmd == "validate":
        return cmd_validate(args.config)
    if args.cmd == "resolve":
        return cmd_resolve(args)
    if args.cmd == "schema":
        from .config import schema_description

        print(json.dumps(schema_description()))
        return EXIT_OK
    if args.cmd == "import-data":
        return cmd_import(args)
    if args.cmd == "export-verifier":
        return cmd_export_verifier(args)
    if args.cmd == "rerank":
        return cmd_rerank(args)
    return cmd_run(args.config, events_path=args.events, run_dir=args.run_dir, resume=args.resume)


def cmd_import(args: argparse.Namespace) -> int:
    from .tasks import DataError
    from .tasks.data_files import import_dataset

    try:
        summary = import_dataset(args.dataset, {"train": args.train, "eval": args.eval}, args.dest)
    except DataError as e:
        print(json.dumps({"ok": False, "error": str(e)}), file=sys.stderr)
        return EXIT_INVALID
    print(json.dumps({"ok": True, **summary}))
    return EXIT_OK


# ----------------------------------------------------------------------------- verifier
def _refuse(message: str) -> int:
    print(json.dumps({"ok": False, "error": message}, ensure_ascii=False), file=sys.stderr)
    return EXIT_INVALID


def cmd_export_verifier(args: argparse.Namespace) -> int:
    from . import verifier_dir as VD

    kept = VD.saved_iterations(args.run_dir)
    if not kept:
        return _refuse(f"{args.run_dir} has no saved verifier (a V-STaR run keeps one unless verifier.save is none)")
    n = kept[-1] if args.iteration is None else args.iteration
    if n not in kept:
        return _refuse(f"no verifier of iteration {n} in {args.run_dir}; kept: {', '.join(map(str, kept))}")
    try:
        files = VD.export(VD.iteration_dir(args.run_dir, n), args.out)
    except (VD.VerifierDirError, OSError) as e:
        return _refuse(str(e))
    print(json.dumps({"ok": True, "dir": os.path.abspath(args.out), "iteration": n, "files": files}))
    return EXIT_OK


def cmd_rerank(args: argparse.Namespace) -> int:
    from . import verifier_dir as VD

    try:
        rows = VD.read_candidates(args.candidates)
        result = VD.rerank(VD.Verifier.load(args.verifier, device=args.device), rows)
    except (VD.VerifierDirError, OSError) as e:
        return _refuse(str(e))
    except (RuntimeError, ValueError, TypeError) as e:  # a hub reference not found, a bad --device, weights that do not fit
        return _refuse(f"{type(e).__name__}: {e}")
    if args.json:
        print(json.dumps({"ok": True, **result}, ensure_ascii=False))
        return EXIT_OK
    for i, c in enumerate(result["chosen"]):
        mark = "" if "correct" not in c else (" ✓" if c["correct"] else " ✗")
        print(f"{i}\tcandidate {c['index']}\treward {c['reward']:.4f}\tanswer {c['answer']}{mark}")
    if result.get("note"):
        print(result["note"])
    if "curves" in result:
        cv = result["curves"]
        print("k\tpass@k\tmajority@k\tbest-of-k")
        for k in cv["pass"]:
            print(f"{k}\t{cv['pass'][k]:.4f}\t{cv['majority'][k]:.4f}\t{cv['best_of_k'][k]:.4f}")
    return EXIT_OK


# ----------------------------------------------------------------------------- validate
def cmd_validate(path: str) -> int:
    from .config import ConfigError, load_config

    try:
        load_config(path)
    except ConfigError as e:
        print(json.dumps({"ok": False, "errors": e.errors}, ensure_ascii=False))
        return EXIT_INVALID
    print(json.dumps({"ok": True, "errors": []}))
    return EXIT_OK


def cmd_resolve(args: argparse.Namespace) -> int:
    from .config import ConfigError, preset_config, validate_config

    try:
        cfg = preset_config(args.variant, args.dataset, args.preset, args.seed)
    except ConfigError as e:
        print(json.dumps({"ok": False, "errors": e.errors}), file=sys.stderr)
        return EXIT_INVALID
    for item in args.set:
        key, sep, raw = item.partition("=")
        parts = key.split(".")
        node: Any = cfg
        for part in parts[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if not sep or not isinstance(node, dict) or parts[-1] not in node:
            print(json.dumps({"ok": False, "errors": [{"field": f"overrides.{key}", "message": f'unknown key "{key}"'}]}), file=sys.stderr)
            return EXIT_INVALID
        try:
            node[parts[-1]] = json.loads(raw)
        except ValueError:
            node[parts[-1]] = raw
    out, errors = validate_config(cfg)
    if errors:
        print(json.dumps({"ok": False, "errors": errors}), file=sys.stderr)
        return EXIT_INVALID
    print(json.dumps(out, indent=2))
    return EXIT_OK


# ----------------------------------------------------------------------------- run
def _events_path(explicit: str | None, run_dir: str) -> str:
    return explicit or os.environ.get("STARLAB_EVENTS") or os.path.join(run_dir, "events.jsonl")


def cmd_run(config_path: str, events_path: str | None = None, run_dir: str | None = None, resume: bool = False) -> int:
    from .config import ConfigError, load_config
    from .events import HEARTBEAT_S, EventWriter, collect_env
    from .stopping import StopFlag, StopRequested

    run_dir = os.path.abspath(run_dir or os.environ.get("STARLAB_RUN_DIR") or os.getcwd())
    faulthandler.enable()  # a native crash (segfault, abort) leaves every thread's Python stack in the run's log
    # Before torch loads OpenMP: busy-waiting worker threads slow training down ~8x when the
    # CPU is shared with other processes (measured here: 2.25 s vs 0.30 s per step).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # under torchrun (runtime.nproc > 1; starlab/dist.py) rank 0 alone writes the run's events
    world, rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
    stop = StopFlag()
    stop.install(escalate=world <= 1)  # SIGTERM/SIGINT from here on end the run as "stopped"
    ev = EventWriter(_events_path(events_path, run_dir) if rank == 0 else os.devnull, heartbeat_s=None if rank else HEARTBEAT_S)
    try:
        try:
            cfg = load_config(config_path)
        except ConfigError as e:
            raw: Any = None
            try:
                with open(config_path, encoding="utf-8") as f:
                    raw = json.load(f)
            except Exception:
                pass
            env = collect_env()
            env["run_id"] = os.environ.get("STARLAB_RUN_ID")
            ev.run_start(raw if isinstance(raw, dict) else {}, env, {})
            msg = f"invalid config: {e}"
            for err in e.errors:
                ev.log("error", f"config field {err['field']}: {err['message']}")
            ev.run_end("failed", msg)
            print(msg, file=sys.stderr)
            print(json.dumps({"ok": False, "errors": e.errors}, ensure_ascii=False), file=sys.stderr)
            return EXIT_INVALID

        try:
            runner = _dispatch(cfg)
            runner(cfg, ev, run_dir=run_dir, stop=stop, resume=resume, world=world)
        except StopRequested as e:
            ev.log("info", f"{e}: stopped cleanly")
            ev.run_end("stopped", None)
            return EXIT_OK
        except KeyboardInterrupt:
            ev.run_end("stopped", "KeyboardInterrupt")
            return EXIT_OK
        except Exception as e:
            tb = traceback.format_exc()
            sys.stderr.write(tb)
            sys.stderr.flush()
            message = f"{type(e).__name__}: {e}"
            try:
                ev.log("error", tb[-4000:])
            except Exception:
                pass
            ev.run_end("failed", message)
            return EXIT_FAILED
        if stop.requested:  # signal arrived after the last check: the work is done anyway
            ev.log("info", "stop requested after the last step; the run had completed")
        ev.run_end("completed", None)
        return EXIT_OK
    finally:
        ev.close()


def _dispatch(cfg: dict[str, Any]):
    """The runner of a variant (every variant runs on every dataset); imports torch lazily."""
    variant = cfg["variant"]
    run_id = os.environ.get("STARLAB_RUN_ID")
    if variant in ("star", "star-norat"):
        from .variants import star as module
    elif variant == "v-star":
        from .variants import vstar as module
    elif variant == "quiet-star":
        from .variants import quiet_star as module
    else:
        raise NotImplementedError(f"variant {variant!r} is not implemented")

    def runner(cfg: dict[str, Any], ev: Any, *, run_dir: str, stop: Any, resume: bool = False, world: int = 1) -> None:
        if world <= 1:
            module.run(cfg, ev, run_dir=run_dir, stop=stop, run_id=run_id, resume=resume)
            return
        from . import dist
        from .stopping import StopRequested

        d = dist.from_env(cfg["runtime"]["device"])
        clean = False
        try:
            module.run(cfg, ev, run_dir=run_dir, stop=stop, run_id=run_id, resume=resume, dist=d)
            clean = True
        except StopRequested:
            clean = True  # every rank stops at the same step (dist.CollectiveStop)
            raise
        finally:
            dist.close(d, clean=clean)

    return runner
