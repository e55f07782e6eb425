"""Config validation mirrors shared/experiment-config.ts; presets validate; errors name fields."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from conftest import EXPERIMENTS, MICRO_CONFIG, micro_config, subprocess_env
from starlab.config import DATASETS, VARIANTS, ConfigError, load_config, preset_config, sections_for, validate_config


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("preset", ["tiny", "paper"])
def test_presets_validate(variant, dataset, preset):
    cfg, errors = validate_config(preset_config(variant, dataset, preset, seed=3))
    assert errors == [] and cfg["seed"] == 3 and cfg["preset"] == preset
    assert set(cfg) == {"variant", "dataset", "preset", "seed"} | set(sections_for(variant, dataset))


def test_sections_depend_on_variant_and_dataset():
    assert "p_rationalization" in preset_config("star", "gsm8k", "tiny")["loop"]
    assert "p_rationalization" not in preset_config("star-norat", "gsm8k", "tiny")["loop"]
    assert "verifier" in preset_config("v-star", "addition", "tiny")
    q = preset_config("quiet-star", "commonsenseqa", "tiny")
    assert "quiet" in q and "loop" not in q and "path" in q["task"]
    # a section of another variant is an unknown key, named
    cfg = preset_config("star", "addition", "tiny")
    cfg["verifier"] = preset_config("v-star", "addition", "tiny")["verifier"]
    assert _fields(cfg) == ["verifier"]
    cfg = preset_config("star-norat", "addition", "tiny")
    cfg["loop"]["p_rationalization"] = 1.0
    assert _fields(cfg) == ["loop.p_rationalization"]


def test_micro_config_validates():
    assert validate_config(MICRO_CONFIG)[1] == []


def _fields(cfg):
    return [e["field"] for e in validate_config(cfg)[1]]


def test_unknown_and_missing_keys_are_named():
    cfg = micro_config(loop={"mystery": 1})
    assert _fields(cfg) == ["loop.mystery"]
    cfg = micro_config()
    del cfg["warmup"]["lr"]
    assert _fields(cfg) == ["warmup.lr"]
    cfg = micro_config()
    cfg["extra"] = {}
    del cfg["seed"]
    assert sorted(_fields(cfg)) == ["extra", "seed"]
    cfg = micro_config()
    del cfg["runtime"]
    assert _fields(cfg) == ["runtime"]


@pytest.mark.parametrize(
    "section,key,value",
    [
        ("loop", "lr", 0),
        ("loop", "lr", 2),
        ("loop", "iterations", 0),
        ("loop", "iterations", 1.5),
        ("loop", "finetune", "qlora"),
        ("loop", "p_rationalization", 1.1),
        ("loop", "step_growth", 0.9),
        ("model", "source", "gguf"),
        ("model", "name", ""),
        ("model", "n_layer", True),
        ("runtime", "device", "tpu"),
        ("runtime", "threads", -1),
        ("task", "min_digits", 0),
        ("warmup", "hinted_fraction", "half"),
    ],
)
def test_bad_values_are_rejected_with_their_field(section, key, value):
    cfg = micro_config(**{section: {key: value}})
    assert _fields(cfg) == [f"{section}.{key}"]


def test_cross_field_rules():
    assert _fields(micro_config(model={"n_embd": 18, "n_head": 4})) == ["model.n_head"]
    assert _fields(micro_config(task={"min_digits": 3, "max_digits": 2})) == ["task.max_digits"]
    assert _fields(micro_config(model={"max_len": 20})) == ["model.max_len"]
    assert _fields(micro_config(loop={"max_new_tokens": 5})) == ["loop.max_new_tokens"]
    assert validate_config(micro_config(seed=4.0))[0]["seed"] == 4  # JSON integers may arrive as 4.0


#: what runtime.fsdp is refused for, word for word as shared/experiment-config.ts says it (tests/unit/run-command.test.ts)
FSDP_REFUSALS = {
    "one process": "shards the fine-tunes over the processes of runtime.nproc: set runtime.nproc > 1",
    "quiet-star": "quiet-star trains steps that are not sharded (whole copies per GPU): runtime.fsdp is for star and star-norat",
    "v-star": "v-star trains steps that are not sharded (whole copies per GPU): runtime.fsdp is for star and star-norat",
    "lora": "LoRA trains small adapters, which DDP handles: drop runtime.fsdp",
}


def test_fsdp_needs_several_processes_star_or_star_norat_and_full_fine_tunes():
    def errors(cfg):
        return [e["message"] for e in validate_config(cfg)[1] if e["field"] == "runtime.fsdp"]

    rt = MICRO_CONFIG["runtime"]
    assert errors(micro_config(runtime={**rt, "nproc": 2, "fsdp": True})) == []
    assert errors(micro_config(runtime={**rt, "fsdp": True})) == [FSDP_REFUSALS["one process"]]
    assert errors(micro_config(runtime={**rt, "nproc": 2, "fsdp": True}, loop={**MICRO_CONFIG["loop"], "finetune": "lora"})) == [
        FSDP_REFUSALS["lora"]
    ]
    quiet = micro_config(runtime={**rt, "nproc": 2, "fsdp": True}, variant="quiet-star")
    quiet.pop("loop")
    quiet["quiet"] = {
        "steps": 2,
        "lr": 0.001,
        "batch_size": 2,
        "seq_len": 32,
        "n_thoughts": 1,
        "thought_len": 1,
        "n_ahead": 1,
        "thought_temperature": 1.0,
        "policy_weight": 1.0,
        "eval_every": 2,
        "max_new_tokens": 16,
    }
    assert errors(quiet) == [FSDP_REFUSALS["quiet-star"]]
    vstar = micro_config(runtime={**rt, "nproc": 2, "fsdp": True}, variant="v-star")
    vstar["loop"].pop("p_rationalization")
    vstar["verifier"] = {
        "beta": 0.1,
        "pairs_per_question": 2,
        "steps": 2,
        "lr": 0.001,
        "batch_size": 2,
        "candidates": 2,
        "temperature": 1.0,
        "orm_steps": 0,
        "orm_lr": 0.001,
    }
    assert errors(vstar) == [FSDP_REFUSALS["v-star"]]


def test_load_config_errors(tmp_path):
    p = tmp_path / "c.json"
    p.write_text("{not json")
    with pytest.raises(ConfigError) as e:
        load_config(str(p))
    assert e.value.errors[0]["field"] == "(config)"
    with pytest.raises(ConfigError):
        load_config(str(tmp_path / "missing.json"))


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "starlab", *args], env=subprocess_env(), capture_output=True, text=True, timeout=60, cwd=EXPERIMENTS
    )


def test_validate_command(tmp_path):
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(MICRO_CONFIG))
    bad.write_text(json.dumps(micro_config(loop={"lr": "fast"})))
    r = _cli("validate", "--config", str(good))
    assert r.returncode == 0 and json.loads(r.stdout) == {"ok": True, "errors": []}
    r = _cli("validate", "--config", str(bad))
    out = json.loads(r.stdout)
    assert r.returncode == 2 and out["ok"] is False and out["errors"][0]["field"] == "loop.lr"


def test_resolve_command():
    r = _cli("resolve", "--preset", "tiny", "--seed", "2", "--set", "loop.iterations=2")
    assert r.returncode == 0, r.stderr
    cfg = json.loads(r.stdout)
    assert cfg["seed"] == 2 and cfg["loop"]["iterations"] == 2 and validate_config(cfg)[1] == []
    r = _cli("resolve", "--set", "loop.nope=1")
    assert r.returncode == 2 and "loop.nope" in r.stderr


def test_strings_over_the_limit_and_unreadable_files_are_named(tmp_path):
    assert _fields(micro_config(model={"name": "m" * 4097})) == ["model.name"]
    bad = tmp_path / "c.json"
    for data, msg in [
        (b"\xff{}", "not UTF-8 text: byte 0xff at byte offset 0"),
        (b"[" * 100000, "nested too deeply"),
        (b"1" * 5000, "not valid JSON"),
    ]:
        bad.write_bytes(data)
        with pytest.raises(ConfigError, match=re.escape(msg)):
            load_config(str(bad))
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(str(tmp_path))
