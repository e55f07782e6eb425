"""Run protocol v1 emitter (see shared/protocol.ts and shared/schema/run-events.v1.json).

Every event is one JSON object on one line, appended to the events file with a single
``os.write`` on a descriptor opened with ``O_APPEND``. Events go only to that file, never to
stdout/stderr, so library prints cannot corrupt the stream.

This module imports nothing heavy (no torch): ``import starlab`` stays fast.
"""

from __future__ import annotations

import json
import math
import os
import platform
import socket
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

from . import catalogue

PROTOCOL_VERSION = 1
PHASES = catalogue.PHASES
RUN_END_STATUSES = ("completed", "failed", "stopped")
SAMPLE_SPLITS = ("train", "eval")
SAMPLE_KINDS = ("direct", "rationalized", "eval", "candidate")
LOG_LEVELS = ("debug", "info", "warning", "error")
ENV_EVENTS = "STARLAB_EVENTS"
HEARTBEAT_S = 5.0
#: integers in the protocol are JavaScript-safe (the schema's bounds; larger ones lose precision)
MAX_SAFE_INT = 2**53 - 1
_ENVELOPE = ("v", "seq", "t", "type")

# Limits on one event line, shared with the ingest side (shared/protocol.ts reads the same file):
# an event over one of them is refused here (ValueError, nothing written), as ingest would refuse it.
with open(os.path.join(os.path.dirname(__file__), "limits.json"), encoding="utf-8") as _f:
    LIMITS: dict[str, int] = {k: int(v) for k, v in json.load(_f).items() if not k.startswith("_")}
#: bytes of one line, UTF-8, without its newline
MAX_LINE_BYTES = LIMITS["max_line_bytes"]
#: object members in one event, every level counted (the envelope's four included)
MAX_MEMBERS = LIMITS["max_members"]
#: names in one metrics event's values
MAX_METRIC_NAMES = LIMITS["max_metric_names"]
#: nesting of objects and arrays (the event object itself is level 1)
MAX_DEPTH = LIMITS["max_depth"]
#: samples per samples event written by the variants and the SDK (fewer when their size needs it)
SAMPLES_PER_EVENT = 200


def _json_sizes(objs: list[Any]) -> list[int]:
    """Bytes of each of ``objs`` as the writer serialises them in one event: UTF-8, or all as
    \\u escapes when one holds a lone surrogate (emit then escapes the whole line)."""
    try:
        return [len(json.dumps(o, allow_nan=False, ensure_ascii=False, separators=(",", ":")).encode("utf-8")) for o in objs]
    except UnicodeEncodeError:
        return [len(json.dumps(o, allow_nan=False, ensure_ascii=True, separators=(",", ":"))) for o in objs]


def _shape(obj: Any, max_depth: int = MAX_DEPTH) -> tuple[int, int]:
    """(members, depth) of a JSON value as ingest counts them: a key of any object at any level is
    a member, objects and arrays nest. Stops early once deeper than ``max_depth`` (a cycle
    included; the counts are then lower bounds)."""
    members = 0
    deepest = 0
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        o, d = stack.pop()
        if isinstance(o, Mapping):
            members += len(o)
            children: Iterable[Any] = o.values()
        elif isinstance(o, (list, tuple)):
            children = o
        else:
            continue
        deepest = max(deepest, d)
        if deepest > max_depth:
            break
        stack.extend((c, d + 1) for c in children if isinstance(c, (Mapping, list, tuple)))
    return members, deepest


def _as_int(name: str, v: Any, lo: int | None = 0) -> int:
    """``int(v)`` for a protocol integer field; ValueError (nothing is written) when it is not a
    finite number, is below ``lo`` or beyond ±(2**53 - 1)."""
    try:
        i = int(v)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} must be an integer, got {v!r}") from None
    if (lo is not None and i < lo) or abs(i) > MAX_SAFE_INT:
        raise ValueError(f"{name} must be an integer in [{lo if lo is not None else -MAX_SAFE_INT}, {MAX_SAFE_INT}], got {i}")
    return i


def _finite_float(v: Any) -> float | None:
    """``float(v)`` when it is a finite number (numpy/torch scalars included), else None."""
    if hasattr(v, "item") and callable(v.item):
        try:
            v = v.item()
        except Exception:
            return None
    if isinstance(v, bool):
        return float(v)
    if not isinstance(v, (int, float)):
        return None
    try:
        f = float(v)
    except OverflowError:  # an int beyond the float range
        return None
    return f if math.isfinite(f) else None


def _last_seq_and_tail(path: str) -> tuple[int, bool]:
    """Highest ``seq`` among complete lines of an existing file, and whether it ends torn."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return 0, False
    if not data:
        return 0, False
    torn = not data.endswith(b"\n")
    last = 0
    lines = data.split(b"\n")
    if torn:
        lines = lines[:-1]
    for raw in lines:
        raw = raw.strip()
        if not raw:
            continue
        try:
            obj = json.loads(raw)
        except ValueError:
            continue
        seq = obj.get("seq") if isinstance(obj, dict) else None
        if isinstance(seq, int) and seq > last:
            last = seq
    return last, torn


class EventWriter:
    """Thread-safe appender of protocol-v1 events.

    If the file already holds events (a re-launch into the same run directory), ``seq``
    continues after the highest one found, so ingest (idempotent on (run, seq)) loses
    nothing; a torn last line is terminated with a newline before the first write.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, heartbeat_s: float | None = HEARTBEAT_S):
        if path is None:
            path = os.environ.get(ENV_EVENTS)
            if not path:
                raise ValueError(f"no events path given and ${ENV_EVENTS} is not set")
        self.path = os.fspath(path)
        parent = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(parent, exist_ok=True)
        self._lock = threading.Lock()
        last, torn = _last_seq_and_tail(self.path)
        self._seq = last
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        if torn:
            self._write_bytes(b"\n")
        self.ended = False
        self.end_status: str | None = None
        self._hb_stop = threading.Event()
        self._hb_thread: threading.Thread | None = None
        self.heartbeat_s = heartbeat_s  # the heartbeat thread starts with run_start (so run_start is first)

    # ------------------------------------------------------------------ core
    def _write_bytes(self, data: bytes) -> None:
        assert self._fd is not None
        view = memoryview(data)
        while view:  # regular files write everything at once; loop only as a safeguard
            n = os.write(self._fd, view)
            view = view[n:]

    @property
    def seq(self) -> int:
        return self._seq

    @property
    def closed(self) -> bool:
        return self._fd is None

    def emit(self, type: str, **fields: Any) -> dict[str, Any]:
        """Write one event; returns it. Raises ValueError (and writes nothing) for values JSON
        cannot hold: NaN/inf, non-JSON types, an envelope field among ``fields``; and for an
        event the ingest side would refuse: over one of ``LIMITS`` (limits.json)."""
        if not isinstance(type, str) or not type:
            raise ValueError(f"event type must be a non-empty string, got {type!r}")
        clash = [k for k in fields if k in _ENVELOPE]
        if clash:
            raise ValueError(f"{', '.join(clash)} are set by the writer, not by the event")
        values = fields.get("values")
        if type == "metrics" and isinstance(values, Mapping) and len(values) > MAX_METRIC_NAMES:
            raise ValueError(f"metrics event has {len(values):,} metric names, over the limit of {MAX_METRIC_NAMES:,}")
        members, depth = _shape(fields)  # the fields are the event object's members: the same depth
        members += len(_ENVELOPE)
        if depth > MAX_DEPTH:
            raise ValueError(f"{type} event is nested deeper than {MAX_DEPTH} levels")
        if members > MAX_MEMBERS:
            raise ValueError(f"{type} event has {members:,} keys, over the limit of {MAX_MEMBERS:,}")
        with self._lock:
            if self._fd is None:
                raise RuntimeError(f"event writer for {self.path} is closed")
            event: dict[str, Any] = {"v": PROTOCOL_VERSION, "seq": self._seq + 1, "t": time.time(), "type": type}
            event.update(fields)
            try:
                line = json.dumps(event, allow_nan=False, ensure_ascii=False, separators=(",", ":")) + "\n"
                data = line.encode("utf-8")
            except UnicodeEncodeError:
                # a lone surrogate (e.g. from decoding bytes with surrogateescape) is not UTF-8:
                # write it as a \udXXX escape, which JSON and the ingest side accept
                data = (json.dumps(event, allow_nan=False, ensure_ascii=True, separators=(",", ":")) + "\n").encode("ascii")
            except (TypeError, RecursionError) as e:
                raise ValueError(f"{type} event is not JSON-serialisable: {e}") from None
            if len(data) - 1 > MAX_LINE_BYTES:
                raise ValueError(f"{type} event is {len(data) - 1:,} bytes, over the limit of {MAX_LINE_BYTES:,}")
            self._write_bytes(data)
            self._seq += 1
            return event

    # ------------------------------------------------------------------ heartbeat
    def start_heartbeat(self, every_s: float = HEARTBEAT_S) -> None:
        if self._hb_thread is not None:
            return

        def beat() -> None:
            while not self._hb_stop.wait(every_s):
                try:
                    self.heartbeat()
                except Exception:  # closed underneath us
                    return

        self._hb_thread = threading.Thread(target=beat, name="starlab-heartbeat", daemon=True)
        self._hb_thread.start()

    def stop_heartbeat(self) -> None:
        self._hb_stop.set()
        t, self._hb_thread = self._hb_thread, None
        if t is not None and t is not threading.current_thread():
            t.join(timeout=2)

    def close(self) -> None:
        self.stop_heartbeat()
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ event helpers
    def run_start(
        self, config: Mapping[str, Any], env: Mapping[str, Any] | None = None, hashes: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """The first event of a run; also starts the heartbeat thread (every ``heartbeat_s``)."""
        ev = self.emit(
            "run_start",
            config=dict(config),
            env=dict(env if env is not None else collect_env()),
            hashes={str(k): str(v) for k, v in (hashes or {}).items()},
        )
        if self.heartbeat_s:
            self.start_heartbeat(self.heartbeat_s)
        return ev

    def phase_start(self, iteration: int, phase: str) -> dict[str, Any]:
        _check_phase(phase)
        return self.emit("phase_start", iteration=_as_int("iteration", iteration), phase=phase)

    def phase_end(self, iteration: int, phase: str, duration_s: float) -> dict[str, Any]:
        _check_phase(phase)
        d = _finite_float(duration_s)
        if d is None:
            raise ValueError(f"phase_end duration_s must be a finite number, got {duration_s!r}")
        return self.emit("phase_end", iteration=_as_int("iteration", iteration), phase=phase, duration_s=max(0.0, d))

    def phase(self, iteration: int, phase: str) -> _Phase:
        """Context manager: phase_start, then phase_end with the measured duration."""
        return _Phase(self, iteration, phase)

    def progress(self, iteration: int, phase: str, done: int, total: int) -> dict[str, Any]:
        _check_phase(phase)
        return self.emit(
            "progress",
            iteration=_as_int("iteration", iteration),
            phase=phase,
            done=max(0, _as_int("done", done, None)),
            total=max(0, _as_int("total", total, None)),
        )

    def metrics(self, iteration: int, step: int, values: Mapping[str, Any]) -> dict[str, Any] | None:
        """Scalar metrics at (iteration, step). Non-finite or non-numeric values are dropped
        (the protocol allows finite numbers only) and reported in a warning log event."""
        iteration, step = _as_int("iteration", iteration), max(0, _as_int("step", step, None))
        clean: dict[str, float | int] = {}
        dropped: list[str] = []
        for k, v in values.items():
            f = _finite_float(v)
            if f is not None and str(k):
                # integers stay integers where a float holds them exactly
                clean[str(k)] = int(v) if isinstance(v, int) and not isinstance(v, bool) and abs(v) <= MAX_SAFE_INT else f
            else:
                dropped.append(str(k))
        if dropped:
            self.log("warning", f"dropped non-finite or non-numeric metrics at step {step}: {', '.join(sorted(dropped))}")
        if not clean:
            return None
        return self.emit("metrics", iteration=iteration, step=step, values=clean)

    def samples(self, iteration: int, items: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
        """One samples event (ValueError if it would be over the line limits: see samples_batches)."""
        return self.emit("samples", iteration=_as_int("iteration", iteration), items=[make_sample(**dict(it)) for it in items])

    def samples_batches(
        self, iteration: int, items: Iterable[Mapping[str, Any]], per_event: int = SAMPLES_PER_EVENT
    ) -> list[dict[str, Any]]:
        """Samples as as many events as they need: at most ``per_event`` items each, and few
        enough that every line stays within the limits (bytes, members), so any number of
        samples of any size can be logged. Only a single item over a limit by itself is refused
        (ValueError; the items before it are written)."""
        it_n = _as_int("iteration", iteration)
        checked = [make_sample(**dict(it)) for it in items]
        # room for the envelope and the event's own fields, and a margin for the separators
        budget_bytes, budget_members = MAX_LINE_BYTES - 256, MAX_MEMBERS - 16
        events: list[dict[str, Any]] = []
        batch: list[dict[str, Any]] = []
        size = members = 0
        for item, item_bytes in zip(checked, _json_sizes(checked)):
            b = item_bytes + 1
            m = _shape(item)[0]
            if batch and (len(batch) >= per_event or size + b > budget_bytes or members + m > budget_members):
                events.append(self.emit("samples", iteration=it_n, items=batch))
                batch, size, members = [], 0, 0
            batch.append(item)
            size += b
            members += m
        if batch:
            events.append(self.emit("samples", iteration=it_n, items=batch))
        return events

    def artifact(self, name: str, kind: str, path: str, size: int | None = None, iteration: int | None = None) -> dict[str, Any]:
        for what, v in (("name", name), ("kind", kind), ("path", path)):
            if not isinstance(v, str) or not v:
                raise ValueError(f"artifact {what} must be a non-empty string, got {v!r}")
        fields: dict[str, Any] = {"name": name, "kind": kind, "path": path}
        if size is not None:
            fields["size"] = _as_int("artifact size", size)
        if iteration is not None:
            fields["iteration"] = _as_int("iteration", iteration)
        return self.emit("artifact", **fields)

    def heartbeat(self) -> dict[str, Any]:
        return self.emit("heartbeat")

    def log(self, level: str, message: str) -> dict[str, Any]:
        if level not in LOG_LEVELS:
            raise ValueError(f"log level must be one of {LOG_LEVELS}, got {level!r}")
        return self.emit("log", level=level, message=str(message))

    def resumed(self, iteration: int) -> dict[str, Any]:
        """The checkpoint of ``iteration`` is loaded and the run continues after it: only now does
        the lab drop what the run stored for later iterations (they are redone)."""
        return self.emit("resumed", iteration=_as_int("iteration", iteration))

    def run_end(self, status: str, error: str | None = None) -> dict[str, Any] | None:
        """The last event of a run. Only the first call writes; later calls return None."""
        if status not in RUN_END_STATUSES:
            raise ValueError(f"run_end status must be one of {RUN_END_STATUSES}, got {status!r}")
        with self._lock:
            if self.ended:
                return None
            self.ended = True
            self.end_status = status
        self.stop_heartbeat()
        return self.emit("run_end", status=status, error=None if error is None else str(error))


class _Phase:
    def __init__(self, writer: EventWriter, iteration: int, phase: str):
        self.writer, self.iteration, self.phase = writer, iteration, phase
        self.duration_s = 0.0

    def __enter__(self) -> _Phase:
        self.t0 = time.perf_counter()
        self.writer.phase_start(self.iteration, self.phase)
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        self.duration_s = time.perf_counter() - self.t0
        if not self.writer.closed and not self.writer.ended:
            self.writer.phase_end(self.iteration, self.phase, self.duration_s)


def _check_phase(phase: str) -> None:
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")


def make_sample(
    *,
    question_id: str,
    split: str,
    kind: str,
    question: str,
    text: str,
    answer: str | None,
    gold: str,
    correct: bool,
    hint_used: bool,
    kept: bool | None = None,
    difficulty: int | None = None,
    scores: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """One item of a ``samples`` event, checked against the protocol's field types."""
    if split not in SAMPLE_SPLITS:
        raise ValueError(f"sample split must be one of {SAMPLE_SPLITS}, got {split!r}")
    if kind not in SAMPLE_KINDS:
        raise ValueError(f"sample kind must be one of {SAMPLE_KINDS}, got {kind!r}")
    if not question_id:
        raise ValueError("sample question_id must be non-empty")
    item: dict[str, Any] = {
        "question_id": str(question_id),
        "split": split,
        "kind": kind,
        "question": str(question),
        "text": str(text),
        "answer": None if answer is None else str(answer),
        "gold": str(gold),
        "correct": bool(correct),
        "hint_used": bool(hint_used),
    }
    if kept is not None:
        item["kept"] = bool(kept)
    if difficulty is not None:
        item["difficulty"] = _as_int("sample difficulty", difficulty, None)
    if scores:
        # non-finite or non-numeric scores are left out (the protocol allows finite numbers only)
        item["scores"] = {str(k): f for k, v in scores.items() if (f := _finite_float(v)) is not None}
    return item


# ---------------------------------------------------------------------- environment
def _dist_version(name: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:
        return None


def git_commit(start: str | None = None) -> str | None:
    """HEAD commit of the git checkout containing ``start`` (default: this package), read
    from .git without running git; None when there is none."""
    d = os.path.abspath(start or os.path.dirname(__file__))
    while True:
        g = os.path.join(d, ".git")
        if os.path.isdir(g):
            break
        if os.path.isfile(g):  # worktree / submodule: "gitdir: <path>"
            try:
                with open(g) as f:
                    line = f.read().strip()
                if line.startswith("gitdir:"):
                    g = os.path.normpath(os.path.join(d, line[7:].strip()))
                    break
            except OSError:
                return None
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent
    try:
        with open(os.path.join(g, "HEAD")) as f:
            head = f.read().strip()
        if not head.startswith("ref:"):
            return head or None
        ref = head[4:].strip()
        common = g
        cd = os.path.join(g, "commondir")
        if os.path.isfile(cd):
            with open(cd) as f:
                common = os.path.normpath(os.path.join(g, f.read().strip()))
        for base in (g, common):
            p = os.path.join(base, ref)
            if os.path.isfile(p):
                with open(p) as f:
                    return f.read().strip() or None
        packed = os.path.join(common, "packed-refs")
        if os.path.isfile(packed):
            with open(packed) as f:
                for line in f:
                    parts = line.strip().split(" ")
                    if len(parts) == 2 and parts[1] == ref:
                        return parts[0]
    except OSError:
        return None
    return None


def _slurm_job_id() -> str | None:
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    return f"{array}_{task}" if array and task else os.environ.get("SLURM_JOB_ID")


def collect_env(import_torch: bool = False) -> dict[str, Any]:
    """Environment block of ``run_start``. Torch is only inspected if already imported (or
    ``import_torch``), so the SDK stays cheap; its version then comes from package metadata."""
    torch_mod = sys.modules.get("torch")
    if torch_mod is None and import_torch:
        try:
            import torch as torch_mod  # type: ignore[no-redef]
        except Exception:
            torch_mod = None
    cuda: str | None = None
    gpus: list[str] = []
    torch_version = _dist_version("torch")
    if torch_mod is not None:
        torch_version = str(getattr(torch_mod, "__version__", torch_version))
        try:
            if torch_mod.cuda.is_available():
                cuda = torch_mod.version.cuda
                gpus = [torch_mod.cuda.get_device_name(i) for i in range(torch_mod.cuda.device_count())]
        except Exception:
            pass
    tf_mod = sys.modules.get("transformers")
    tf_version = str(getattr(tf_mod, "__version__", "")) or _dist_version("transformers") if tf_mod else _dist_version("transformers")
    return {
        "python": platform.python_version(),
        "torch": torch_version,
        "transformers": tf_version,
        "cuda": cuda,
        "gpus": gpus,
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "pid": os.getpid(),
        # a batch job's id (a reindex finds the job again by it; an array task's is A_T, as
        # squeue and the lab name it) and torchrun's process count
        "slurm_job_id": _slurm_job_id(),
        "world_size": int(os.environ.get("WORLD_SIZE", "1") or 1),
        "git_commit": git_commit(),
        "executable": sys.executable,
        # every library whose version can change a result
        "libraries": {name: _dist_version(name) for name in ("torch", "transformers", "peft", "numpy", "vllm")},
    }
