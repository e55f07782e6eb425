"""Iteration checkpoints: what ``starlab resume RUN`` continues from.

After every completed iteration n the run directory holds ``checkpoint/``:

    state.json        iteration n, the config hash, the runner's counters and results (and
                      V-STaR's candidate buffer)
    model.pt          M_n's weights (full fine-tuning)            | adapter/ (LoRA: M_n's adapter)
    base.pt           the base weights every iteration restarts from — omitted when they are
                      the hub checkpoint itself (hub model, no warm-up), which is reloaded

The directory is written beside the old one and swapped in with renames, so a crash while
saving leaves the previous checkpoint intact. Only the latest iteration is kept.
"""
from __future__ import annotations

import json
import os
import shutil
from typing import Any

import torch

from .config import config_hash

DIR = "checkpoint"


class CheckpointError(RuntimeError):
    pass


def _base_is_reloadable(cfg: dict[str, Any]) -> bool:
    return cfg["model"]["source"] == "hub" and cfg["warmup"]["steps"] == 0


def _check_identity(meta: dict[str, Any], cfg: dict[str, Any], identity: dict[str, str] | None) -> None:
    """The resumed run must be the same experiment: same config, and the same data, prompts
    and extractor (which depend on files found at run time, not only on the config)."""
    if meta["config_hash"] != config_hash(cfg):
        raise CheckpointError("the checkpoint was written with a different config; resume needs the run's own config")
    saved = meta.get("identity") or {}
    for key, value in (identity or {}).items():
        if key in saved and saved[key] != value:
            raise CheckpointError(f"the run's {key} changed since the checkpoint ({saved[key][:16]} → {value[:16]}): "
                                  f"the dataset files found now differ from the ones the run started on")


def _read_meta(run_dir: str) -> dict[str, Any] | None:
    """state.json of the checkpoint, or of ``checkpoint.old`` when a crash fell between the two
    renames of a save (the new one then never arrived)."""
    for d in (DIR, DIR + ".old"):
        path = os.path.join(run_dir, d, "state.json")
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                meta = json.load(f)
            meta["_dir"] = os.path.join(run_dir, d)
            return meta
    return None


def _fresh_tmp(run_dir: str) -> str:
    tmp = os.path.join(run_dir, DIR + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    return tmp


def _swap_in(run_dir: str, tmp: str, iteration: int, cfg: dict[str, Any], identity: dict[str, str] | None,
             lora: bool, state: dict[str, Any]) -> str:
    """Write state.json into the finished temporary directory, then replace the checkpoint:
    the old one is renamed aside first, so a crash between the renames leaves checkpoint.old."""
    with open(os.path.join(tmp, "state.json"), "w", encoding="utf-8") as f:
        json.dump({"iteration": iteration, "config_hash": config_hash(cfg), "identity": identity or {}, "lora": lora,
                   "state": state}, f)
    final = os.path.join(run_dir, DIR)
    old = final + ".old"
    shutil.rmtree(old, ignore_errors=True)
    if os.path.exists(final):
        os.rename(final, old)
    os.rename(tmp, final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def save(run_dir: str, iteration: int, cfg: dict[str, Any], model: torch.nn.Module,
         base_state: dict[str, torch.Tensor] | None, state: dict[str, Any], *, lora: bool,
         identity: dict[str, str] | None = None) -> str:
    tmp = _fresh_tmp(run_dir)
    if lora:
        model.save_pretrained(os.path.join(tmp, "adapter"))
        if not _base_is_reloadable(cfg):
            from .lora import base_model

            # the base weights are the model's own without the adapter layers
            base = {k: v for k, v in base_model(model).state_dict().items() if "lora_" not in k}
            torch.save({k.replace("base_layer.", ""): v.detach().cpu() for k, v in base.items()},
                       os.path.join(tmp, "base.pt"))
    else:
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, os.path.join(tmp, "model.pt"))
        if base_state is not None and not _base_is_reloadable(cfg):
            torch.save(base_state, os.path.join(tmp, "base.pt"))
    return _swap_in(run_dir, tmp, iteration, cfg, identity, lora, state)


def exists(run_dir: str) -> bool:
    return _read_meta(run_dir) is not None


def read_state(run_dir: str) -> dict[str, Any] | None:
    return _read_meta(run_dir)


def load(run_dir: str, cfg: dict[str, Any], model: torch.nn.Module, *, lora: bool,
         identity: dict[str, str] | None = None):
    """(iteration, model, base_state, runner state) from the run directory's checkpoint, or
    None when there is none. ``model`` is the freshly built model of the config (hub weights
    or a random tiny model); it is returned holding M_n."""
    meta = _read_meta(run_dir)
    if meta is None:
        return None
    _check_identity(meta, cfg, identity)
    if meta["lora"] != lora:
        raise CheckpointError("the checkpoint's fine-tuning mode (full/LoRA) differs from the config's")
    d = meta["_dir"]
    base_path = os.path.join(d, "base.pt")
    if os.path.isfile(base_path):
        model.load_state_dict(torch.load(base_path, map_location="cpu", weights_only=True))
    base_state = None
    if lora:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, os.path.join(d, "adapter"))
    else:
        from .models import state_copy

        base_state = state_copy(model)
        model.load_state_dict(torch.load(os.path.join(d, "model.pt"), map_location="cpu", weights_only=True))
    return meta["iteration"], model, base_state, meta["state"]


def save_tensors(run_dir: str, iteration: int, cfg: dict[str, Any], tensors: dict[str, Any], state: dict[str, Any],
                 identity: dict[str, str] | None = None) -> str:
    """A checkpoint that is one ``torch.save``d dict (model, optimizer, RNG states: Quiet-STaR)
    plus ``state.json``; written and swapped in like :func:`save`."""
    tmp = _fresh_tmp(run_dir)
    torch.save(tensors, os.path.join(tmp, "state.pt"))
    return _swap_in(run_dir, tmp, iteration, cfg, identity, False, state)


def load_tensors(run_dir: str, cfg: dict[str, Any], identity: dict[str, str] | None = None):
    """(iteration, tensors, state) of a :func:`save_tensors` checkpoint, or None."""
    meta = _read_meta(run_dir)
    if meta is None:
        return None
    _check_identity(meta, cfg, identity)
    path = os.path.join(meta["_dir"], "state.pt")
    if not os.path.isfile(path):
        raise CheckpointError(f"the checkpoint has no {path}: it was not written by this variant")
    return meta["iteration"], torch.load(path, map_location="cpu", weights_only=False), meta["state"]
