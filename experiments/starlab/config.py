"""Strict validation of a resolved experiment config.

Mirrors ``experimentConfigSchema`` in shared/experiment-config.ts (keep the two in step):
every section is strict (unknown keys are errors), every key is required. Errors name the
offending field by its dotted path, like the Node side's FieldError.

No torch import here: ``python -m starlab validate`` must stay cheap.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from typing import Any, Callable

VARIANTS = ("star",)
DATASETS = ("addition",)
PRESETS = ("tiny", "paper")
DEVICES = ("auto", "cpu", "cuda")

PRESETS_PATH = os.path.join(os.path.dirname(__file__), "presets.json")


class ConfigError(ValueError):
    def __init__(self, errors: list[dict[str, str]]):
        self.errors = errors
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))


@dataclass(frozen=True)
class _Num:
    integer: bool
    lo: float | None = None
    hi: float | None = None
    lo_exclusive: bool = False

    def check(self, v: Any) -> tuple[Any, str | None]:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return v, f"expected {'an integer' if self.integer else 'a number'}, got {_typename(v)}"
        if isinstance(v, float) and not math.isfinite(v):
            return v, "expected a finite number"
        if self.integer:
            if isinstance(v, float):
                if not v.is_integer():
                    return v, f"expected an integer, got {v}"
                v = int(v)
        if self.lo is not None:
            if self.lo_exclusive and not v > self.lo:
                return v, f"must be > {_fmt(self.lo)}"
            if not self.lo_exclusive and v < self.lo:
                return v, f"must be ≥ {_fmt(self.lo)}"
        if self.hi is not None and v > self.hi:
            return v, f"must be ≤ {_fmt(self.hi)}"
        return v, None


@dataclass(frozen=True)
class _Enum:
    values: tuple[str, ...]

    def check(self, v: Any) -> tuple[Any, str | None]:
        if not isinstance(v, str) or v not in self.values:
            return v, f"must be one of {', '.join(repr(x) for x in self.values)}, got {json.dumps(v)}"
        return v, None


@dataclass(frozen=True)
class _Str:
    min_len: int = 0

    def check(self, v: Any) -> tuple[Any, str | None]:
        if not isinstance(v, str):
            return v, f"expected a string, got {_typename(v)}"
        if len(v) < self.min_len:
            return v, f"must have at least {self.min_len} character(s)"
        return v, None


@dataclass(frozen=True)
class _Bool:
    def check(self, v: Any) -> tuple[Any, str | None]:
        if not isinstance(v, bool):
            return v, f"expected a boolean, got {_typename(v)}"
        return v, None


def _typename(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return type(v).__name__


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def pos_int(hi: float) -> _Num:
    return _Num(True, 1, hi)


def non_neg_int(hi: float) -> _Num:
    return _Num(True, 0, hi)


PROB = _Num(False, 0, 1)
LR = _Num(False, 0, 1, lo_exclusive=True)

SECTIONS: dict[str, dict[str, Any]] = {
    "model": {
        "source": _Enum(("tiny", "hub")),
        "name": _Str(1),
        "n_layer": pos_int(64),
        "n_embd": pos_int(8192),
        "n_head": pos_int(128),
        "max_len": pos_int(32768),
    },
    "task": {
        "min_digits": pos_int(20),
        "max_digits": pos_int(20),
        "train_per_digit": pos_int(100000),
        "eval_per_digit": pos_int(100000),
    },
    "warmup": {
        "examples": non_neg_int(1000000),
        "max_digits": pos_int(20),
        "hinted_fraction": PROB,
        "steps": non_neg_int(1000000),
        "lr": LR,
        "batch_size": pos_int(4096),
    },
    "loop": {
        "iterations": pos_int(1000),
        "rationalize": _Bool(),
        "p_rationalization": PROB,
        "base_steps": pos_int(1000000),
        "step_growth": _Num(False, 1, 10),
        "lr": LR,
        "batch_size": pos_int(4096),
        "restart_from_base": _Bool(),
        "temperature": _Num(False, 0, 5),
        "max_new_tokens": pos_int(4096),
    },
    "runtime": {
        "device": _Enum(DEVICES),
        "threads": non_neg_int(1024),
    },
}

TOP: dict[str, Any] = {
    "variant": _Enum(VARIANTS),
    "dataset": _Enum(DATASETS),
    "preset": _Enum(PRESETS),
    "seed": non_neg_int(2**31 - 1),
}

# Refinements (cross-field checks), as in the zod schema: (section, field path, predicate, message)
_REFINES: list[tuple[str, str, Callable[[dict[str, Any]], bool], str]] = [
    ("model", "model.n_head", lambda m: m["n_embd"] % m["n_head"] == 0, "n_embd must be divisible by n_head"),
    ("task", "task.max_digits", lambda t: t["min_digits"] <= t["max_digits"], "min_digits must be ≤ max_digits"),
]


def validate_config(cfg: Any) -> tuple[dict[str, Any] | None, list[dict[str, str]]]:
    """Validate a resolved config. Returns (normalised config, []) or (None, errors)."""
    errors: list[dict[str, str]] = []

    def err(field: str, message: str) -> None:
        errors.append({"field": field, "message": message})

    if not isinstance(cfg, dict):
        err("(config)", f"expected a JSON object, got {_typename(cfg)}")
        return None, errors
    out: dict[str, Any] = {}
    for key in cfg:
        if key not in TOP and key not in SECTIONS:
            err(str(key), f'unknown key "{key}"')
    for key, spec in TOP.items():
        if key not in cfg:
            err(key, f'missing required key "{key}"')
            continue
        v, msg = spec.check(cfg[key])
        if msg:
            err(key, msg)
        out[key] = v
    for sec, fields in SECTIONS.items():
        if sec not in cfg:
            err(sec, f'missing required section "{sec}"')
            continue
        node = cfg[sec]
        if not isinstance(node, dict):
            err(sec, f"expected an object, got {_typename(node)}")
            continue
        sec_out: dict[str, Any] = {}
        sec_ok = True
        for key in node:
            if key not in fields:
                err(f"{sec}.{key}", f'unknown key "{sec}.{key}"')
                sec_ok = False
        for key, spec in fields.items():
            path = f"{sec}.{key}"
            if key not in node:
                err(path, f'missing required key "{path}"')
                sec_ok = False
                continue
            v, msg = spec.check(node[key])
            if msg:
                err(path, msg)
                sec_ok = False
            sec_out[key] = v
        out[sec] = sec_out
        if sec_ok:
            for rsec, rpath, pred, message in _REFINES:
                if rsec == sec and not pred(sec_out):
                    err(rpath, message)
    if not errors:
        errors.extend(_semantic_checks(out))
    return (None, errors) if errors else (out, [])


def _semantic_checks(cfg: dict[str, Any]) -> list[dict[str, str]]:
    """Checks the zod schema cannot express because they depend on the task's format."""
    errors: list[dict[str, str]] = []
    if cfg["dataset"] == "addition" and cfg["model"]["source"] == "tiny":
        from .tasks import addition

        digits = max(cfg["task"]["max_digits"], cfg["warmup"]["max_digits"])
        need = addition.max_sequence_length(digits)
        if cfg["model"]["max_len"] < need:
            errors.append({"field": "model.max_len",
                           "message": f"must be ≥ {need} for {digits}-digit addition with hint and rationale"})
        need_new = addition.max_completion_length(cfg["task"]["max_digits"])
        if cfg["loop"]["max_new_tokens"] < need_new:
            errors.append({"field": "loop.max_new_tokens",
                           "message": f"must be ≥ {need_new} to write a {cfg['task']['max_digits']}-digit rationale"})
    return errors


def load_config(path: str) -> dict[str, Any]:
    """Read and validate a config file; raises ConfigError (field errors) on any problem."""
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except FileNotFoundError:
        raise ConfigError([{"field": "(config)", "message": f"config file not found: {path}"}]) from None
    except ValueError as e:
        raise ConfigError([{"field": "(config)", "message": f"config file is not valid JSON: {e}"}]) from None
    cfg, errors = validate_config(raw)
    if errors:
        raise ConfigError(errors)
    assert cfg is not None
    return cfg


def load_presets() -> dict[str, Any]:
    with open(PRESETS_PATH, encoding="utf-8") as f:
        return json.load(f)


def preset_config(variant: str, dataset: str, preset: str, seed: int = 0) -> dict[str, Any]:
    """A complete config from presets.json (as the Node side's resolveConfig without overrides)."""
    table = load_presets()
    try:
        d = table[variant][dataset][preset]
    except KeyError:
        raise ConfigError([{"field": "preset", "message": f'preset "{preset}" is not defined for {variant} on {dataset}'}]) from None
    cfg = json.loads(json.dumps(d))
    cfg.update({"variant": variant, "dataset": dataset, "preset": preset, "seed": seed})
    return cfg


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def config_hash(cfg: dict[str, Any]) -> str:
    return sha256_text(canonical_json(cfg))
