"""Iteration checkpoints: what ``starlab resume RUN`` continues from.

After every completed iteration n the run directory holds ``checkpoint/``:

    state.json            {"format": 2, iteration n, the config hash, the identity (data, prompt,
                          task versions), lora, the runner's counters and results (and V-STaR's
                          candidate buffer)}
    model.safetensors     M_n's weights (full fine-tuning)     | adapter/ (LoRA: M_n's adapter,
                                                                 adapter_config.json and
                                                                 adapter_model.safetensors)
    base.safetensors      the base weights every iteration restarts from — omitted when they
                          are the hub checkpoint itself (hub model, no warm-up), which is reloaded
    state.safetensors     Quiet-STaR instead of model/base: the model with its thought embeddings
    state.skeleton.json   and mixing head, optimizer, schedule, RNG states and data order
                          (starlab/safe_state.py: tensors in safetensors, the rest as JSON)

Nothing here is a pickle, and nothing is loaded with ``torch.load``: a run directory may come
from someone else's bundle (whose checksums its author wrote), and unpickling — even torch's
``weights_only`` unpickler, which has had code-execution bugs (CVE-2025-32434) — can run code.
safetensors and JSON only ever build tensors, numbers, strings, lists and dicts. Checkpoints
of older versions (state.json without ``"format": 2``, or model.pt/base.pt/state.pt) are
refused with a message saying so, and so is an adapter directory holding a pickle (peft would
fall back to ``adapter_model.bin`` through torch.load).

The directory is written beside the old one and swapped in with renames, so a crash while
saving leaves the previous checkpoint intact. Only the latest iteration is kept.
"""

from __future__ import annotations

import json
import os
import shutil
from typing import Any

import torch

from . import safe_state
from .config import config_hash, legacy_config_hash

DIR = "checkpoint"
FORMAT = 2  # state.json's "format"; the app reads it too, to refuse older checkpoints up front
MODEL = "model.safetensors"
BASE = "base.safetensors"
STATE = "state.safetensors"
SKELETON = "state.skeleton.json"
ADAPTER = "adapter"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
# Files of a pickle format (torch.save, pickle, peft/transformers' .bin): never loaded.
PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".pkl", ".pickle", ".ckpt")

_OLD_FORMAT_ADVICE = (
    "STaR Lab no longer loads pickles from run directories, since a run directory may come from "
    "someone else's bundle. Start the run again (a new run with the same config), or resume it "
    "with the STaR Lab version that wrote it."
)


class CheckpointError(RuntimeError):
    pass


def base_is_reloadable(cfg: dict[str, Any]) -> bool:
    return cfg["model"]["source"] == "hub" and cfg["warmup"]["steps"] == 0


def _check_identity(meta: dict[str, Any], cfg: dict[str, Any], identity: dict[str, str] | None) -> None:
    """The resumed run must be the same experiment: same config, and the same data, prompts
    and extractor (which depend on files found at run time, not only on the config)."""
    # (a checkpoint written before the canonical form stores the older hash of the same config)
    if meta.get("config_hash") not in (config_hash(cfg), legacy_config_hash(cfg)):
        raise CheckpointError("the checkpoint was written with a different config; resume needs the run's own config")
    saved = meta.get("identity") or {}
    if not isinstance(saved, dict):
        raise CheckpointError("the checkpoint's state.json is malformed: its identity is not an object")
    for key, value in (identity or {}).items():
        if key in saved and saved[key] != value:
            raise CheckpointError(
                f"the run's {key} changed since the checkpoint ({str(saved[key])[:16]} → {value[:16]}): "
                f"the dataset files found now differ from the ones the run started on"
            )


def pickle_files(d: str) -> list[str]:
    """Files under ``d`` (relative paths) whose name says pickle: what older versions wrote."""
    found = []
    for root, _dirs, files in os.walk(d):
        for name in files:
            if name.lower().endswith(PICKLE_SUFFIXES):
                found.append(os.path.relpath(os.path.join(root, name), d).replace(os.sep, "/"))
    return sorted(found)


def _check_format(meta: dict[str, Any]) -> None:
    """Refuse checkpoints this version does not write: older ones (PyTorch pickles) and newer ones."""
    d = meta["_dir"]
    pickles = pickle_files(d)
    if pickles:
        raise CheckpointError(
            f"this checkpoint was written by an older STaR Lab in PyTorch's pickle format "
            f"({', '.join(pickles)}), which can run code when loaded; {_OLD_FORMAT_ADVICE}"
        )
    fmt = meta.get("format")
    if fmt is None:
        raise CheckpointError(
            'this checkpoint was written by an older STaR Lab (its state.json has no "format": 2), '
            "whose checkpoints are in PyTorch's pickle format, which can run code when loaded; " + _OLD_FORMAT_ADVICE
        )
    if type(fmt) is int and fmt > FORMAT:
        raise CheckpointError(
            f"this checkpoint was written by a newer STaR Lab (format {fmt}; this version reads "
            f"format {FORMAT}): resume it with that version"
        )
    if fmt != FORMAT:
        raise CheckpointError(f"the checkpoint's state.json has an unknown format {fmt!r} (this version reads format {FORMAT})")


def _read_meta(run_dir: str) -> dict[str, Any] | None:
    """state.json of the checkpoint, or of ``checkpoint.old`` when a crash fell between the two
    renames of a save (the new one then never arrived)."""
    for d in (DIR, DIR + ".old"):
        path = os.path.join(run_dir, d, "state.json")
        if os.path.isfile(path):
            try:
                with open(path, encoding="utf-8") as f:
                    meta = json.load(f)
            except ValueError as e:
                raise CheckpointError(f"the checkpoint's state.json is not valid JSON: {e}") from e
            if not isinstance(meta, dict):
                raise CheckpointError("the checkpoint's state.json is malformed: not a JSON object")
            meta["_dir"] = os.path.join(run_dir, d)
            return meta
    return None


def _meta_to_load(run_dir: str, cfg: dict[str, Any], identity: dict[str, str] | None) -> dict[str, Any] | None:
    """state.json of a checkpoint this version can load for this run, or None when there is none."""
    meta = _read_meta(run_dir)
    if meta is None:
        return None
    _check_format(meta)
    _check_identity(meta, cfg, identity)
    for key in ("iteration", "state"):
        if key not in meta:
            raise CheckpointError(f"the checkpoint's state.json is malformed: it has no {key!r}")
    return meta


def _fresh_tmp(run_dir: str) -> str:
    tmp = os.path.join(run_dir, DIR + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    return tmp


def _swap_in(
    run_dir: str, tmp: str, iteration: int, cfg: dict[str, Any], identity: dict[str, str] | None, lora: bool, state: dict[str, Any]
) -> str:
    """Write state.json into the finished temporary directory, then replace the checkpoint:
    the old one is renamed aside first, so a crash between the renames leaves checkpoint.old."""
    with open(os.path.join(tmp, "state.json"), "w", encoding="utf-8") as f:
        json.dump(
            {
                "format": FORMAT,
                "iteration": iteration,
                "config_hash": config_hash(cfg),
                "identity": identity or {},
                "lora": lora,
                "state": state,
            },
            f,
        )
    final = os.path.join(run_dir, DIR)
    old = final + ".old"
    shutil.rmtree(old, ignore_errors=True)
    if os.path.exists(final):
        os.rename(final, old)
    os.rename(tmp, final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def _load_weights(path: str) -> dict[str, torch.Tensor]:
    try:
        return safe_state.load_weights(path)
    except safe_state.StateFormatError as e:
        raise CheckpointError(f"the checkpoint's {os.path.basename(path)} is unreadable: {e}") from e


def _check_adapter_dir(d: str) -> None:
    """Only a safetensors adapter is loaded: peft's loader falls back to ``adapter_model.bin``
    through torch.load when adapter_model.safetensors is missing, so a directory holding any
    pickle, or lacking the safetensors file, is refused before peft sees it."""
    if not os.path.isdir(d):
        raise CheckpointError(f"the LoRA checkpoint has no {ADAPTER}/ directory")
    pickles = pickle_files(d)
    if pickles:
        raise CheckpointError(
            f"the checkpoint's {ADAPTER}/ holds PyTorch pickle files ({', '.join(pickles)}), which "
            f"can run code when loaded; only {ADAPTER_WEIGHTS} is accepted. {_OLD_FORMAT_ADVICE}"
        )
    for name in (ADAPTER_WEIGHTS, ADAPTER_CONFIG):
        if not os.path.isfile(os.path.join(d, name)):
            raise CheckpointError(f"the checkpoint's {ADAPTER}/ has no {name}")


def save(
    run_dir: str,
    iteration: int,
    cfg: dict[str, Any],
    model: torch.nn.Module,
    base_state: dict[str, torch.Tensor] | None,
    state: dict[str, Any],
    *,
    lora: bool,
    identity: dict[str, str] | None = None,
) -> str:
    tmp = _fresh_tmp(run_dir)
    if lora:
        model.save_pretrained(os.path.join(tmp, ADAPTER), safe_serialization=True)
        if not base_is_reloadable(cfg):
            from .lora import base_model

            # the base weights are the model's own without the adapter layers
            base = {k: v for k, v in base_model(model).state_dict().items() if "lora_" not in k}
            safe_state.save_weights({k.replace("base_layer.", ""): v for k, v in base.items()}, os.path.join(tmp, BASE))
    else:
        safe_state.save_weights(model.state_dict(), os.path.join(tmp, MODEL))
        if base_state is not None and not base_is_reloadable(cfg):
            safe_state.save_weights(base_state, os.path.join(tmp, BASE))
    return _swap_in(run_dir, tmp, iteration, cfg, identity, lora, state)


def exists(run_dir: str) -> bool:
    return _read_meta(run_dir) is not None


def read_state(run_dir: str) -> dict[str, Any] | None:
    return _read_meta(run_dir)


def load(run_dir: str, cfg: dict[str, Any], model: torch.nn.Module, *, lora: bool, identity: dict[str, str] | None = None):
    """(iteration, model, base_state, runner state) from the run directory's checkpoint, or
    None when there is none. ``model`` is the freshly built model of the config (hub weights
    or a random tiny model); it is returned holding M_n."""
    meta = _meta_to_load(run_dir, cfg, identity)
    if meta is None:
        return None
    if meta.get("lora") != lora:
        raise CheckpointError("the checkpoint's fine-tuning mode (full/LoRA) differs from the config's")
    d = meta["_dir"]
    base_path = os.path.join(d, BASE)
    if lora:
        _check_adapter_dir(os.path.join(d, ADAPTER))
    elif not os.path.isfile(os.path.join(d, MODEL)):
        raise CheckpointError(f"the checkpoint has no {MODEL}")
    if os.path.isfile(base_path):
        # load_state_dict copies into the model's parameters: tied weights stay tied
        model.load_state_dict(_load_weights(base_path))
    base_state = None
    if lora:
        from peft import PeftModel

        # _check_adapter_dir made sure peft finds adapter_model.safetensors (and no pickle to fall back to)
        model = PeftModel.from_pretrained(model, os.path.join(d, ADAPTER))
    else:
        from .models import state_copy

        base_state = state_copy(model)
        model.load_state_dict(_load_weights(os.path.join(d, MODEL)))
    return meta["iteration"], model, base_state, meta["state"]


def save_tensors(
    run_dir: str,
    iteration: int,
    cfg: dict[str, Any],
    tensors: dict[str, Any],
    state: dict[str, Any],
    identity: dict[str, str] | None = None,
) -> str:
    """A checkpoint that is one nested state of tensors and plain values (model, optimizer,
    schedule, RNG states: Quiet-STaR) in state.safetensors + state.skeleton.json (see
    starlab/safe_state.py), plus ``state.json``; written and swapped in like :func:`save`."""
    tmp = _fresh_tmp(run_dir)
    safe_state.save_state(tensors, os.path.join(tmp, STATE), os.path.join(tmp, SKELETON))
    return _swap_in(run_dir, tmp, iteration, cfg, identity, False, state)


def load_tensors(run_dir: str, cfg: dict[str, Any], identity: dict[str, str] | None = None):
    """(iteration, tensors, state) of a :func:`save_tensors` checkpoint, or None."""
    meta = _meta_to_load(run_dir, cfg, identity)
    if meta is None:
        return None
    paths = [os.path.join(meta["_dir"], name) for name in (STATE, SKELETON)]
    for path in paths:
        if not os.path.isfile(path):
            raise CheckpointError(f"the checkpoint has no {path}: it was not written by this variant")
    try:
        tensors = safe_state.load_state(*paths)
    except safe_state.StateFormatError as e:
        raise CheckpointError(f"the checkpoint's {STATE} / {SKELETON} are unreadable: {e}") from e
    return meta["iteration"], tensors, meta["state"]
