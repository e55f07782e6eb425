"""A script's run registered in the lab's data directory, so the running app (and
``starlab list``) picks it up live, as wandb and trackio users expect.

The layout is the app's own (core/paths.ts, core/run-record.ts):

    <data dir>/runs/<id>/config.json    the script's config, verbatim
    <data dir>/runs/<id>/run.json       id, creation time, and ``script``: project, name, pid
    <data dir>/runs/<id>/events.jsonl   the run protocol, as a lab-launched run writes it
    <data dir>/inbox/<id>               an empty file: "a new run is here" (the app adopts it, then removes it)

The data directory resolves as the app's does: ``STARLAB_DATA_DIR``, else the platform's
per-user folder (core/paths.ts defaultDataDir; tests/unit/script-runs.test.ts holds the
two to the same answer).
"""

from __future__ import annotations

import json
import math
import os
import secrets
import sys
import time
from collections.abc import Mapping
from typing import Any

APP_DIR_NAME = "STaR Lab"
# run.json's limits (core/run-record.ts scriptRecordSchema)
MAX_LABEL = 200
MAX_ARG = 10_000
MAX_ARGS = 50
RUN_RECORD_FILE = "run.json"
INBOX = "inbox"


def default_data_dir(env: Mapping[str, str] | None = None, platform: str | None = None) -> str:
    """The platform's per-user folder for STaR Lab (core/paths.ts defaultDataDir)."""
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    home = os.path.expanduser("~")
    if platform == "darwin":
        return os.path.join(home, "Library", "Application Support", APP_DIR_NAME)
    if platform == "win32":
        return os.path.join(env.get("APPDATA") or os.path.join(home, "AppData", "Roaming"), APP_DIR_NAME)
    xdg = env.get("XDG_DATA_HOME", "")
    return os.path.join(xdg if xdg.startswith("/") else os.path.join(home, ".local", "share"), "starlab")


def resolve_data_dir(explicit: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """``explicit``, else ``$STARLAB_DATA_DIR``, else the platform default."""
    env = os.environ if env is None else env
    if explicit:
        return os.path.abspath(explicit)
    if env.get("STARLAB_DATA_DIR"):
        return os.path.abspath(env["STARLAB_DATA_DIR"])
    return default_data_dir(env)


def new_run_id(now: float | None = None) -> str:
    """Sortable run id, UTC ``yyyymmdd-hhmmss-xxxx`` (core/run-files.ts newRunId)."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(time.time() if now is None else now))
    return f"{stamp}-{secrets.token_hex(2)}"


def _own_start_time() -> int | None:
    """This process's start time in clock ticks since boot (field 22 of /proc/self/stat): with
    the pid, it tells the app that the process it watches is still this script (pids are reused)."""
    try:
        with open("/proc/self/stat", encoding="utf8") as f:
            text = f.read()
        return int(text[text.rindex(")") + 2 :].split()[22 - 3])
    except (OSError, ValueError, IndexError):
        return None


def _write_new(path: str, text: str) -> None:
    """Create ``path`` (never through a link or over a file someone else put there)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    with os.fdopen(fd, "w", encoding="utf8") as f:
        f.write(text)


def json_safe(value: Any) -> Any:
    """The config as JSON: what JSON cannot hold (paths, objects, NaN) is written as its text, as wandb does."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def create_run_dir(runs: str, *, project: str | None, name: str | None, config: Mapping[str, Any]) -> tuple[str, str]:
    """A new run directory under ``runs`` with config.json and run.json; returns (run id, run directory)."""
    os.makedirs(runs, exist_ok=True)
    for _ in range(20):
        run_id = new_run_id()
        run_dir = os.path.join(runs, run_id)
        try:
            os.mkdir(run_dir)
            break
        except FileExistsError:
            continue
    else:  # pragma: no cover - 20 collisions of 16 random bits in one second
        raise RuntimeError(f"could not create a new run directory under {runs}")
    _write_new(os.path.join(run_dir, "config.json"), json.dumps(json_safe(dict(config)), indent=2) + "\n")
    record = {
        "format": 1,
        "id": run_id,
        "createdAt": time.time(),
        "group": None,
        "retryOf": None,
        # within what the app reads back (core/run-record.ts): a longer value would void the record
        "script": {
            "project": project[:MAX_LABEL] if project else None,
            "name": name[:MAX_LABEL] if name else None,
            "pid": os.getpid(),
            "startTime": _own_start_time(),
            "argv": [str(a)[:MAX_ARG] for a in sys.argv][:MAX_ARGS],
            "cwd": os.getcwd()[:MAX_ARG],
        },
    }
    _write_new(os.path.join(run_dir, RUN_RECORD_FILE), json.dumps(record, indent=2) + "\n")
    return run_id, run_dir


def announce(data_dir: str, run_id: str) -> None:
    """Tell the app a new run is there (after its run_start is written, so it is complete)."""
    inbox = os.path.join(data_dir, INBOX)
    os.makedirs(inbox, exist_ok=True)
    try:
        _write_new(os.path.join(inbox, run_id), "")
    except FileExistsError:
        pass
