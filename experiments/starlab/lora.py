"""LoRA fine-tuning (peft): a fresh adapter per iteration on top of the base weights, so
"restart from the base model" costs no weight copy — the adapter is simply unloaded."""

from __future__ import annotations

import torch


def add_adapter(model: torch.nn.Module, *, r: int, alpha: float, seed: int) -> torch.nn.Module:
    """Wrap ``model`` with a freshly initialised LoRA adapter on every linear layer (not the
    LM head); only the adapter is trainable."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as e:  # pragma: no cover - peft is in requirements.txt
        raise RuntimeError("loop.finetune is 'lora' but peft is not installed (pip install peft)") from e
    torch.manual_seed(seed)
    cfg = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM")
    return get_peft_model(model, cfg)


def remove_adapter(model: torch.nn.Module) -> torch.nn.Module:
    """The base model without its adapter (weights untouched); a plain model is returned as is."""
    try:
        from peft import PeftModel
    except ImportError:  # pragma: no cover
        return model
    if isinstance(model, PeftModel):
        return model.unload()
    return model


def base_model(model: torch.nn.Module) -> torch.nn.Module:
    """The transformers model under a peft wrapper (itself when there is none)."""
    get = getattr(model, "get_base_model", None)
    return get() if callable(get) else model
