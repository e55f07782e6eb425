"""Strict validation of a resolved experiment config.

Mirrors ``experimentConfigSchema`` in shared/experiment-config.ts (keep the two in step):
every section is strict (unknown keys are errors), every key is required except the few
marked ``_Optional`` (the loop's packing and schedule keys, V-STaR's loop.epochs and
loop.include_sft, added after configs were stored;
absent means the behaviour from before them, so stored configs keep their hash). Errors name the
offending field by its dotted path, like the Node side's FieldError.

No torch import here: ``python -m starlab validate`` must stay cheap.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import catalogue

VARIANTS = catalogue.VARIANTS
DATASETS = ("addition", "gsm8k", "commonsenseqa", "pair-sum")
PRESETS = ("tiny", "paper")
DEVICES = ("auto", "cpu", "cuda")
FINETUNE_MODES = ("full", "lora")
DTYPES = ("auto", "float32", "bfloat16", "mixed")
#: runtime.nproc: processes under torchrun (one per GPU; several per CPU machine only for tests)
MAX_NPROC = 64
MULTI_PROCESS_VARIANTS = catalogue.MULTI_PROCESS_VARIANTS
#: runtime.engine (starlab/engines.py; no torch import here)
ENGINES = ("hf", "vllm", "auto")
LR_SCHEDULES = ("cosine", "constant")  # train.LR_SCHEDULES (not imported: no torch here)

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


#: Longest string a config accepts (model names, dataset paths); MAX_CONFIG_STRING on the Node side.
MAX_CONFIG_STRING = 4096


@dataclass(frozen=True)
class _Str:
    min_len: int = 0
    max_len: int = MAX_CONFIG_STRING

    def check(self, v: Any) -> tuple[Any, str | None]:
        if not isinstance(v, str):
            return v, f"expected a string, got {_typename(v)}"
        if len(v) < self.min_len:
            return v, f"must have at least {self.min_len} character(s)"
        if len(v) > self.max_len:
            return v, f"must have at most {self.max_len} characters, got {len(v)}"
        return v, None


@dataclass(frozen=True)
class _Bool:
    def check(self, v: Any) -> tuple[Any, str | None]:
        if not isinstance(v, bool):
            return v, f"expected a boolean, got {_typename(v)}"
        return v, None


@dataclass(frozen=True)
class _Optional:
    """A key that may be absent (zod ``.optional()``): the few added after configs were stored
    (runs, checkpoints whose config hash a resume checks), absent meaning the behaviour from
    before them. Present, it is checked as ``spec``; absent, it stays absent."""

    spec: Any

    def check(self, v: Any) -> tuple[Any, str | None]:
        return self.spec.check(v)


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

# Named section schemas, mirroring SECTION_SCHEMAS in shared/experiment-config.ts (same names,
# same keys: tests/unit/config-drift.test.ts compares them through ``python -m starlab schema``).
_MODEL = {
    "source": _Enum(("tiny", "hub")),
    "name": _Str(1),
    "n_layer": pos_int(64),
    "n_embd": pos_int(8192),
    "n_head": pos_int(128),
    "max_len": pos_int(32768),
}
_LOOP = {
    "iterations": pos_int(1000),
    "base_steps": pos_int(1000000),
    "step_growth": _Num(False, 1, 10),
    "lr": LR,
    "batch_size": pos_int(4096),
    "restart_from_base": _Bool(),
    "temperature": _Num(False, 0, 5),
    "samples_per_question": pos_int(1024),
    "max_new_tokens": pos_int(4096),
    "finetune": _Enum(FINETUNE_MODES),
    "lora_r": pos_int(1024),
    "lora_alpha": _Num(False, 0, 4096, lo_exclusive=True),
    # how an iteration's fine-tune batches and schedules (star/star-norat presets set them; absent:
    # unpacked batches, cosine, one forward a step — configs written before them, V-STaR's presets)
    "pack": _Optional(_Bool()),
    "pack_len": _Optional(pos_int(1048576)),
    "micro_batch_size": _Optional(non_neg_int(4096)),
    "lr_schedule": _Optional(_Enum(LR_SCHEDULES)),
    "warmup_steps": _Optional(non_neg_int(1000000)),
}
SCHEMAS: dict[str, dict[str, Any]] = {
    "modelSchema": _MODEL,
    "additionTaskSchema": {
        "min_digits": pos_int(20),
        "max_digits": pos_int(20),
        "train_per_digit": pos_int(100000),
        "eval_per_digit": pos_int(100000),
        "few_shot": _Bool(),
    },
    # pair-sum (tasks/pair_sum.py): lists of min_numbers..max_numbers distinct numbers of task.digits digits
    "pairSumTaskSchema": {
        "min_numbers": _Num(True, 2, 64),
        "max_numbers": _Num(True, 2, 64),
        "digits": pos_int(4),
        "train_per_length": pos_int(100000),
        "eval_per_length": pos_int(100000),
        "few_shot": _Bool(),
    },
    "textTaskSchema": {
        "path": _Str(0),
        "train_limit": non_neg_int(10000000),
        "eval_limit": non_neg_int(10000000),
        "few_shot": _Bool(),
    },
    "additionWarmupSchema": {
        "examples": non_neg_int(1000000),
        "max_digits": pos_int(20),
        "hinted_fraction": PROB,
        "steps": non_neg_int(1000000),
        "lr": LR,
        "batch_size": pos_int(4096),
    },
    "textWarmupSchema": {
        "examples": non_neg_int(1000000),
        "hinted_fraction": PROB,
        "steps": non_neg_int(1000000),
        "lr": LR,
        "batch_size": pos_int(4096),
    },
    "loopSchema": _LOOP,
    "starLoopSchema": {**_LOOP, "p_rationalization": PROB},
    # V-STaR's generator: epochs over D_GEN per iteration and whether D_GEN starts as D_SFT
    # (absent: loop.base_steps · step_growth^(n−1) steps on the correct samples only, as before them)
    "vstarLoopSchema": {**_LOOP, "epochs": _Optional(_Num(False, 0, 1000)), "include_sft": _Optional(_Bool())},
    "verifierSchema": {
        "beta": _Num(False, 0, 100, lo_exclusive=True),
        "pairs_per_question": pos_int(10000),
        "steps": non_neg_int(1000000),
        "lr": LR,
        "batch_size": pos_int(4096),
        "candidates": pos_int(1000),
        "temperature": _Num(False, 0, 5),
        "orm_steps": non_neg_int(1000000),
        "orm_lr": LR,
        # which iterations' verifiers the run keeps as deployable folders (absent: the last)
        "save": _Optional(_Enum(("last", "every", "none"))),
    },
    "quietSchema": {
        "steps": pos_int(10000000),
        "lr": LR,
        "batch_size": pos_int(4096),
        "seq_len": pos_int(32768),
        "n_thoughts": pos_int(64),
        "thought_len": pos_int(256),
        "n_ahead": pos_int(64),
        "thought_temperature": _Num(False, 0, 5, lo_exclusive=True),
        "policy_weight": _Num(False, 0, 1e7),
        "eval_every": pos_int(10000000),
        "max_new_tokens": pos_int(4096),
        # optimisation as the reference code (absent: the behaviour before them, see
        # variants/quiet_star.QUIET_DEFAULTS): micro-batches per optimizer step, the thought
        # embeddings' scale (≈ their learning-rate multiplier), the REINFORCE log-probs'
        # temperature, LoRA on the LM with its own learning rate, gradient checkpointing
        "grad_accum": _Optional(pos_int(4096)),
        "embedding_scale": _Optional(_Num(False, 0, 10000, lo_exclusive=True)),
        "reinforce_temperature": _Optional(_Num(False, 0, 100, lo_exclusive=True)),
        "finetune": _Optional(_Enum(FINETUNE_MODES)),
        "lora_r": _Optional(pos_int(1024)),
        "lora_alpha": _Optional(_Num(False, 0, 4096, lo_exclusive=True)),
        "lora_lr": _Optional(LR),
        "grad_checkpoint": _Optional(_Bool()),
        # eval questions also decoded greedily for exact match (absent: all)
        "exact_match_limit": _Optional(pos_int(10000000)),
        # the training corpus (starlab/corpus.py; absent: the task's references, a long one split)
        "corpus": _Optional(_Enum(("task", "direct", "file", "hub"))),
        "corpus_path": _Optional(_Str()),
        "corpus_field": _Optional(_Str(1, 256)),
        "corpus_limit": _Optional(non_neg_int(100000000)),
        # warm-up completions (absent: reference) and the share of direct ones with marked work
        "warmup_format": _Optional(_Enum(("reference", "direct"))),
        "warmup_thoughts": _Optional(PROB),
    },
    "runtimeSchema": {
        "device": _Enum(DEVICES),
        "threads": non_neg_int(1024),
        "dtype": _Enum(DTYPES),
        "gen_batch_size": non_neg_int(65536),
        # processes under torchrun, one per device (absent: 1; starlab/dist.py)
        "nproc": _Optional(pos_int(MAX_NPROC)),
        # where samples come from (absent: hf; starlab/engines.py)
        "engine": _Optional(_Enum(ENGINES)),
        # fine-tunes sharded with FSDP over the runtime.nproc processes (absent: false; DDP)
        "fsdp": _Optional(_Bool()),
    },
}


def sections_for(variant: str, dataset: str) -> dict[str, str]:
    """Which sections a (variant, dataset) config has, and each one's schema name (as
    ``sectionsFor`` in shared/experiment-config.ts)."""
    addition = dataset == "addition"
    common = {
        "model": "modelSchema",
        "task": "additionTaskSchema" if addition else "pairSumTaskSchema" if dataset == "pair-sum" else "textTaskSchema",
        "warmup": "additionWarmupSchema" if addition else "textWarmupSchema",
    }
    if variant == "star":
        return {**common, "loop": "starLoopSchema", "runtime": "runtimeSchema"}
    if variant == "star-norat":
        return {**common, "loop": "loopSchema", "runtime": "runtimeSchema"}
    if variant == "v-star":
        return {**common, "loop": "vstarLoopSchema", "verifier": "verifierSchema", "runtime": "runtimeSchema"}
    if variant == "quiet-star":
        return {**common, "quiet": "quietSchema", "runtime": "runtimeSchema"}
    raise KeyError(variant)


TOP: dict[str, Any] = {
    "variant": _Enum(VARIANTS),
    "dataset": _Enum(DATASETS),
    "preset": _Enum(PRESETS),
    "seed": non_neg_int(2**31 - 1),
}

# Cross-field rules, as in the zod schema: (section, field path, predicate, message); a rule
# applies where its section has every key the predicate reads.
_REFINES: list[tuple[str, str, tuple[str, ...], Callable[[dict[str, Any]], bool], str]] = [
    ("model", "model.n_head", ("n_embd", "n_head"), lambda m: m["n_embd"] % m["n_head"] == 0, "n_embd must be divisible by n_head"),
    (
        "task",
        "task.max_digits",
        ("min_digits", "max_digits"),
        lambda t: t["min_digits"] <= t["max_digits"],
        "min_digits must be ≤ max_digits",
    ),
    (
        "task",
        "task.max_numbers",
        ("min_numbers", "max_numbers"),
        lambda t: t["min_numbers"] <= t["max_numbers"],
        "min_numbers must be ≤ max_numbers",
    ),
    (
        "loop",
        "loop.restart_from_base",
        ("finetune", "restart_from_base"),
        lambda lp: not (lp["finetune"] == "lora" and not lp["restart_from_base"]),
        "LoRA fine-tuning restarts from the base every iteration (a fresh adapter): set it true, or use finetune full",
    ),
    (
        "loop",
        "loop.pack_len",
        ("pack",),
        lambda lp: not lp["pack"] or "pack_len" in lp,
        "packing (loop.pack true) needs loop.pack_len, the tokens of a packed row",
    ),
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
    for key, spec in TOP.items():
        if key not in cfg:
            err(key, f'missing required key "{key}"')
            continue
        v, msg = spec.check(cfg[key])
        if msg:
            err(key, msg)
        out[key] = v
    if any(e["field"] in ("variant", "dataset") for e in errors):
        return None, errors  # the sections depend on both
    sections = {sec: SCHEMAS[name] for sec, name in sections_for(out["variant"], out["dataset"]).items()}
    for key in cfg:
        if key not in TOP and key not in sections:
            err(str(key), f'unknown key "{key}" for {out["variant"]} on {out["dataset"]}')
    for sec, fields in sections.items():
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
                if isinstance(spec, _Optional):
                    continue
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
            for rsec, rpath, needs, pred, message in _REFINES:
                if rsec == sec and all(k in sec_out for k in needs) and not pred(sec_out):
                    err(rpath, message)
    if not errors:
        errors.extend(_semantic_checks(out))
    return (None, errors) if errors else (out, [])


def schema_description() -> dict[str, Any]:
    """Key sets of every schema and the sections of every (variant, dataset): what
    ``python -m starlab schema`` prints for the drift test against the zod schema."""
    return {
        "schemas": {name: sorted(fields) for name, fields in SCHEMAS.items()},
        "sections": {v: {d: sections_for(v, d) for d in DATASETS} for v in VARIANTS},
        "variants": list(VARIANTS),
        "datasets": list(DATASETS),
        "presets": list(PRESETS),
    }


def _semantic_checks(cfg: dict[str, Any]) -> list[dict[str, str]]:
    """Checks the zod schema cannot express because they depend on the task's format."""
    errors: list[dict[str, str]] = []
    if cfg["runtime"].get("nproc", 1) > 1 and cfg["variant"] not in MULTI_PROCESS_VARIANTS:
        ids = list(MULTI_PROCESS_VARIANTS)
        runs = f"{', '.join(ids[:-1])} and {ids[-1]}" if len(ids) > 1 else "".join(ids)
        errors.append(
            {
                "field": "runtime.nproc",
                "message": f"{cfg['variant']} runs in one process (runtime.nproc > 1, torchrun, runs {runs}): set it to 1",
            }
        )
    if cfg["runtime"].get("fsdp"):
        if cfg["runtime"].get("nproc", 1) <= 1:
            message = "shards the fine-tunes over the processes of runtime.nproc: set runtime.nproc > 1"
        elif cfg["variant"] not in ("star", "star-norat"):
            message = f"{cfg['variant']} trains steps that are not sharded (whole copies per GPU): runtime.fsdp is for star and star-norat"
        elif cfg.get("loop", {}).get("finetune") == "lora":
            message = "LoRA trains small adapters, which DDP handles: drop runtime.fsdp"
        else:
            message = ""
        if message:
            errors.append({"field": "runtime.fsdp", "message": message})
    engine = cfg["runtime"].get("engine", "hf")
    if engine != "hf" and catalogue.VARIANT_FAMILIES[cfg["variant"]] != "star":
        errors.append({"field": "runtime.engine", "message": f"{cfg['variant']} samples its thoughts itself: runtime.engine must be hf"})
    if cfg["model"]["source"] == "tiny" and cfg["dataset"] in ("pair-sum", "addition"):
        if cfg["dataset"] == "pair-sum":
            from .tasks import pair_sum

            t = cfg["task"]
            need = pair_sum.max_sequence_length(t["max_numbers"], t["digits"])
            need_new = pair_sum.max_completion_length(t["digits"])
            for_len, for_new = f"for lists of {t['max_numbers']} numbers with hint and completion", "to write a pair and its sum"
        else:
            from .tasks import addition

            digits = max(cfg["task"]["max_digits"], cfg["warmup"]["max_digits"])
            need = addition.max_sequence_length(digits)
            need_new = addition.max_completion_length(cfg["task"]["max_digits"])
            for_len = f"for {digits}-digit addition with hint and rationale"
            for_new = f"to write a {cfg['task']['max_digits']}-digit rationale"
        if cfg["model"]["max_len"] < need:
            errors.append({"field": "model.max_len", "message": f"must be ≥ {need} {for_len}"})
        gen = cfg.get("loop") or cfg.get("quiet")
        if gen is not None and gen["max_new_tokens"] < need_new:
            section = "loop" if "loop" in cfg else "quiet"
            errors.append({"field": f"{section}.max_new_tokens", "message": f"must be ≥ {need_new} {for_new}"})
    return errors


def load_config(path: str) -> dict[str, Any]:
    """Read and validate a config file; raises ConfigError (field errors) on any problem."""
    try:
        with open(path, "rb") as f:
            raw = json.loads(f.read().decode("utf-8-sig"))
    except FileNotFoundError:
        raise ConfigError([{"field": "(config)", "message": f"config file not found: {path}"}]) from None
    except UnicodeDecodeError as e:
        raise ConfigError(
            [
                {
                    "field": "(config)",
                    "message": f"config file {path} is not UTF-8 text: byte "
                    f"0x{e.object[e.start]:02x} at byte offset {e.start} ({e.reason})",
                }
            ]
        ) from None
    except ValueError as e:  # JSONDecodeError, or an integer literal over the digit limit
        raise ConfigError([{"field": "(config)", "message": f"config file {path} is not valid JSON: {e}"}]) from None
    except RecursionError:
        raise ConfigError([{"field": "(config)", "message": f"config file {path} is nested too deeply"}]) from None
    except OSError as e:
        raise ConfigError([{"field": "(config)", "message": f"cannot read config file {path}: {e}"}]) from None
    cfg, errors = validate_config(raw)
    if errors:
        raise ConfigError(errors)
    assert cfg is not None
    return cfg


def load_presets() -> dict[str, Any]:
    with open(PRESETS_PATH, encoding="utf-8") as f:
        return json.load(f)


def deep_merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Deep merge of dicts (b wins); lists and scalars replace (as deepMerge on the Node side)."""
    out = dict(a)
    for k, v in b.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def preset_config(variant: str, dataset: str, preset: str, seed: int = 0) -> dict[str, Any]:
    """A complete config from presets.json: the dataset layer, the variant layer, then any
    override for the pair (as presetDefaults + resolveConfig without overrides on the Node side)."""
    table = load_presets()
    base = table["datasets"].get(dataset, {}).get(preset)
    layer = table["variants"].get(variant, {}).get(preset)
    if base is None or layer is None:
        raise ConfigError([{"field": "preset", "message": f'preset "{preset}" is not defined for {variant} on {dataset}'}])
    cfg = deep_merge(deep_merge(base, layer), table["overrides"].get(variant, {}).get(dataset, {}).get(preset, {}))
    cfg = json.loads(json.dumps(cfg))
    cfg.update({"variant": variant, "dataset": dataset, "preset": preset, "seed": seed})
    return cfg


def _canonical_number(x: Any) -> str:
    """A number as shared/canonical-json.ts ``canonicalNumber`` writes it: compared as a double
    (an int is its double), an integral value below 1e16 in magnitude as an integer (1.0 → ``1``,
    -0.0 → ``0``: JavaScript cannot tell 1.0 from 1), anything else as ``repr(float)``
    (``5e-05``, ``1e-07``, ``0.30000000000000004``, ``1e+21``)."""
    f = float(x)  # OverflowError for an int beyond a double, as JSON.parse would give Infinity
    if not math.isfinite(f):
        raise ValueError(f"canonical JSON has no form for {x!r}")
    if f.is_integer() and abs(f) < 1e16:
        return str(int(f))
    return repr(f)


def _canonical_string(s: str) -> str:
    # json.dumps(ensure_ascii=False) escapes what JSON.stringify escapes, except lone surrogates
    # (a Python str holds no surrogate pairs, so any surrogate is lone): \udxxx as JavaScript writes them
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(s, ensure_ascii=False))


_SURROGATE = re.compile("[\ud800-\udfff]")


def canonical_json(obj: Any) -> str:
    """The text a config hash is taken over, identical to shared/canonical-json.ts
    ``canonicalJson`` (see there): keys sorted by UTF-16 code units, no spaces, numbers in one
    form both languages write the same way. Not json.dumps: it writes 1.0 where JavaScript
    writes 1, and 5e-05 where JSON.stringify writes 5e-5."""
    if obj is None:
        return "null"
    if obj is True:
        return "true"
    if obj is False:
        return "false"
    if isinstance(obj, (int, float)):
        return _canonical_number(obj)
    if isinstance(obj, str):
        return _canonical_string(obj)
    if isinstance(obj, (list, tuple)):
        return "[" + ",".join(canonical_json(v) for v in obj) + "]"
    if isinstance(obj, dict):
        if not all(isinstance(k, str) for k in obj):
            raise TypeError("canonical JSON needs string keys")
        keys = sorted(obj, key=lambda k: k.encode("utf-16-be", "surrogatepass"))
        return "{" + ",".join(_canonical_string(k) + ":" + canonical_json(obj[k]) for k in keys) + "}"
    raise TypeError(f"canonical JSON has no form for a {type(obj).__name__}")


def legacy_config_hash(cfg: dict[str, Any]) -> str:
    """The config hash before the canonical form above (json.dumps with sorted keys), which
    checkpoints written by earlier versions store."""
    return sha256_text(json.dumps(cfg, sort_keys=True, separators=(",", ":"), ensure_ascii=False))


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def config_hash(cfg: dict[str, Any]) -> str:
    return sha256_text(canonical_json(cfg))
