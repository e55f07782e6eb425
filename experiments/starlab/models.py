"""Model construction: a tiny randomly initialised Llama (rotary positions) with the
character tokenizer, or a hub model loaded unchanged with AutoModelForCausalLM/AutoTokenizer."""
from __future__ import annotations

import inspect
import os
import random
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


def load_hub(name: str) -> tuple[torch.nn.Module, HFTokenizer]:
    """Load a hub id or local path unchanged. Raises ModelLoadError with a clear message when
    the weights are not available (no network, not cached)."""
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tok = AutoTokenizer.from_pretrained(name)
        model = AutoModelForCausalLM.from_pretrained(name, dtype="auto")
    except Exception as e:  # OSError / HF hub errors / missing files
        raise ModelLoadError(
            f"could not load hub model '{name}': {type(e).__name__}: {e}. "
            "The weights must be reachable (network) or already in the Hugging Face cache / a local path."
        ) from e
    return model, HFTokenizer(tok)


def build(model_cfg: dict[str, Any], seed: int, alphabet: str | None = None) -> tuple[torch.nn.Module, Any]:
    """The model and tokenizer of a config; a tiny model's character tokenizer covers
    ``alphabet`` (the task's characters)."""
    if model_cfg["source"] == "tiny":
        tok = CharTokenizer(alphabet) if alphabet else CharTokenizer()
        return build_tiny(model_cfg, tok, seed), tok
    return load_hub(model_cfg["name"])


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
