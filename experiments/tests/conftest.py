"""Shared helpers for the starlab tests. Test-only micro configs live here, not in presets."""

from __future__ import annotations

import copy
import importlib
import json
import os
import sys
from pathlib import Path

import pytest

EXPERIMENTS = Path(__file__).resolve().parents[1]
REPO = EXPERIMENTS.parent
SCHEMA_PATH = REPO / "shared" / "schema" / "run-events.v1.json"
# GSM8K and CommonsenseQA, read by path from beside the project (never copied into it)
DATASETS = REPO.parent / "shared" / "datasets"

if str(EXPERIMENTS) not in sys.path:
    sys.path.insert(0, str(EXPERIMENTS))

# vLLM engines start without compiling (26 s instead of 63 s each here; starlab/engines.py):
# the tests check what they sample, not how fast
os.environ.setdefault("STARLAB_VLLM_EAGER", "1")

# A micro config: a 1-layer, 16-wide Llama on 1–2 digit sums; seconds on a CPU.
MICRO_CONFIG = {
    "variant": "star",
    "dataset": "addition",
    "preset": "tiny",
    "seed": 0,
    "model": {"source": "tiny", "name": "micro-llama", "n_layer": 1, "n_embd": 16, "n_head": 2, "max_len": 64},
    "task": {"min_digits": 1, "max_digits": 2, "train_per_digit": 12, "eval_per_digit": 6, "few_shot": False},
    "warmup": {"examples": 24, "max_digits": 2, "hinted_fraction": 0.5, "steps": 8, "lr": 0.003, "batch_size": 8},
    "loop": {
        "iterations": 2,
        "p_rationalization": 1.0,
        "base_steps": 3,
        "step_growth": 1.5,
        "lr": 0.003,
        "batch_size": 8,
        "restart_from_base": True,
        "temperature": 0.0,
        "samples_per_question": 1,
        "max_new_tokens": 20,
        "finetune": "full",
        "lora_r": 4,
        "lora_alpha": 8,
    },
    "runtime": {"device": "cpu", "threads": 1, "dtype": "auto", "gen_batch_size": 0},
}


def micro_config(**sections) -> dict:
    """MICRO_CONFIG with per-section overrides, e.g. micro_config(loop={"iterations": 3}).
    ``variant="star-norat"`` drops the rationalization key the ablation does not have."""
    cfg = copy.deepcopy(MICRO_CONFIG)
    if sections.get("variant") == "star-norat":
        cfg["loop"].pop("p_rationalization")
    for key, val in sections.items():
        if isinstance(val, dict):
            cfg[key].update(val)
        else:
            cfg[key] = val
    return cfg


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "needs_datasets: reads GSM8K/CommonsenseQA from ../shared/datasets "
        "(external data: skipped, and counted at the end of npm test, where it is absent)",
    )


def datasets_present() -> bool:
    return (DATASETS / "gsm8k" / "train.jsonl").is_file() and (DATASETS / "commonsenseqa" / "dev_rand_split.jsonl").is_file()


def pytest_collection_modifyitems(config, items):
    if datasets_present():
        return
    skip = pytest.mark.skip(reason=f"external data: {DATASETS} is not present")
    for item in items:
        if "needs_datasets" in item.keywords:
            item.add_marker(skip)


def require(module: str):
    """Import a test dependency. One that is missing fails the test naming what to install,
    rather than skipping it: every test dependency is in experiments/requirements.txt."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        pytest.fail(
            f"{module} is not installed ({e}); install the test requirements: "
            "experiments/.venv/bin/pip install -r experiments/requirements.txt",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def event_validator():
    jsonschema = require("jsonschema")
    schema = json.loads(SCHEMA_PATH.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def read_events(path) -> list[dict]:
    data = Path(path).read_bytes()
    assert data.endswith(b"\n"), "the last line of the events file is incomplete"
    events = [json.loads(line) for line in data.decode("utf-8").splitlines()]
    assert_metrics_written_once(events)
    return events


def assert_metrics_written_once(events: list[dict]) -> None:
    """No metric is written twice at one (iteration, step) by one process: two values at one
    point are two points on a curve at the same x. A resume starts a new process that redoes
    the interrupted iteration, so the check restarts at its ``resumed`` event."""
    seen: set[tuple] = set()
    for ev in events:
        if ev.get("type") == "resumed":
            seen.clear()
        if ev.get("type") != "metrics":
            continue
        for name in ev.get("values", {}):
            key = (name, ev.get("iteration"), ev.get("step"))
            assert key not in seen, f"metric {name} written twice at iteration {key[1]}, step {key[2]}"
            seen.add(key)


def assert_valid_stream(events: list[dict], validator, start_seq: int = 1) -> None:
    """Every event validates against the protocol schema; seq is 1, 2, 3 … without gaps."""
    for i, ev in enumerate(events):
        errors = sorted(validator.iter_errors(ev), key=str)
        assert not errors, f"event {i} ({ev.get('type')}) is invalid: {errors[0].message}"
    seqs = [ev["seq"] for ev in events]
    assert seqs == list(range(start_seq, start_seq + len(events))), f"seq not consecutive: {seqs[:20]}…"


def subprocess_env(**extra) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(EXPERIMENTS) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("STARLAB_EVENTS", None)
    env.update({k: str(v) for k, v in extra.items()})
    return env
