"""Model construction: a tiny randomly initialised Llama (rotary positions) with the
character tokenizer, or a hub model loaded unchanged with AutoModelForCausalLM/AutoTokenizer."""

from __future__ import annotations

import contextlib
import inspect
import os
import random
from dataclasses import dataclass
from typing import Any

import torch

from .tokenizer import CharTokenizer, HFTokenizer


class ModelLoadError(RuntimeError):
    pass


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except Exception:
        pass
    os.environ.setdefault("PYTHONHASHSEED", str(seed))


def pick_device(name: str) -> torch.device:
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("runtime.device is 'cuda' but CUDA is not available")
        return torch.device("cuda")
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def set_threads(threads: int) -> None:
    """runtime.threads: 0 keeps torch's default."""
    if threads > 0:
        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(threads)
        except RuntimeError:
            pass  # can only be set once, before any parallel work


def build_tiny(model_cfg: dict[str, Any], tokenizer: CharTokenizer, seed: int) -> torch.nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=model_cfg["n_embd"],
        intermediate_size=4 * model_cfg["n_embd"],
        num_hidden_layers=model_cfg["n_layer"],
        num_attention_heads=model_cfg["n_head"],
        num_key_value_heads=model_cfg["n_head"],
        max_position_embeddings=model_cfg["max_len"],
        rope_theta=10000.0,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_id,
        eos_token_id=tokenizer.eos_id,
        pad_token_id=tokenizer.pad_id,
        attention_dropout=0.0,
    )
    model = LlamaForCausalLM(cfg)
    return model


def load_hub(name: str, dtype: torch.dtype = torch.float32, *, safetensors_only: bool = False) -> tuple[torch.nn.Module, HFTokenizer]:
    """Load a hub id or local path unchanged, with weights in ``dtype``. Raises ModelLoadError
    with a clear message when the weights are not available (no network, not cached).
    ``safetensors_only``: never a pickled checkpoint (a name read from a file, not typed by the user)."""
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tok = AutoTokenizer.from_pretrained(name)
        extra = {"use_safetensors": True} if safetensors_only else {}
        model = AutoModelForCausalLM.from_pretrained(name, dtype=dtype, **extra)
    except Exception as e:  # OSError / HF hub errors / missing files
        raise ModelLoadError(
            f"could not load hub model '{name}': {type(e).__name__}: {e}. "
            "The weights must be reachable (network) or already in the Hugging Face cache / a local path."
        ) from e
    return model, HFTokenizer(tok)


def build(
    model_cfg: dict[str, Any], seed: int, alphabet: str | None = None, dtype: torch.dtype = torch.float32
) -> tuple[torch.nn.Module, Any]:
    """The model and tokenizer of a config, weights in ``dtype``; a tiny model's character
    tokenizer covers ``alphabet`` (the task's characters)."""
    if model_cfg["source"] == "tiny":
        tok = CharTokenizer(alphabet) if alphabet else CharTokenizer()
        return build_tiny(model_cfg, tok, seed).to(dtype), tok
    return load_hub(model_cfg["name"], dtype)


@dataclass(frozen=True)
class Precision:
    """How weights are stored and how the forward computes (runtime.dtype resolved)."""

    weights: torch.dtype
    autocast: torch.dtype | None  # bfloat16 compute over float32 weights ("mixed"), else None
    name: str

    def context(self, device: torch.device, *, cache: bool = False) -> contextlib.AbstractContextManager:
        """Autocast for "mixed", else a no-op. The weight-cast cache lives until the outermost
        context exits, so around a whole training loop it would keep computing with the first
        step's bfloat16 weights: it is off unless the caller opens one context per optimizer
        step (``cache=True``, e.g. Quiet-STaR, whose step runs the model many times: one set
        of bfloat16 copies instead of one per forward)."""
        if self.autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=self.autocast, cache_enabled=cache)


def resolve_precision(dtype: str, *, source: str, device: torch.device, finetune: str = "full") -> Precision:
    """runtime.dtype → Precision. ``auto``: float32 for tiny models and on CPU; on CUDA,
    bfloat16 weights for LoRA (the adapters stay float32) and mixed precision for full
    fine-tuning (AdamW on bfloat16 weights loses updates smaller than ~1/256 of a weight)."""
    if dtype == "auto":
        if source == "tiny" or device.type != "cuda":
            dtype = "float32"
        else:
            dtype = "bfloat16" if finetune == "lora" else "mixed"
    if dtype in ("bfloat16", "mixed") and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise RuntimeError(f"runtime.dtype {dtype!r} needs bfloat16, which this GPU does not support; use float32")
    if dtype == "float32":
        return Precision(torch.float32, None, dtype)
    if dtype == "bfloat16":
        return Precision(torch.bfloat16, None, dtype)
    if dtype == "mixed":
        return Precision(torch.float32, torch.bfloat16, dtype)
    raise ValueError(f"unknown runtime.dtype {dtype!r}")


def cache_kwarg(model: torch.nn.Module) -> str:
    """Name of the KV-cache argument of ``model.forward`` (transformers ≥5.24: ``cache``)."""
    get = getattr(model, "get_base_model", None)  # a peft wrapper forwards **kwargs to its base
    params = inspect.signature((get() if callable(get) else model).forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def output_cache(out: Any) -> Any:
    c = getattr(out, "cache", None)
    return c if c is not None else getattr(out, "past_key_values", None)


def state_copy(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A copy of the weights on the CPU (the base model that every iteration restarts from)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def param_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
