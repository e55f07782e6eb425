#!/usr/bin/env python3
"""Sampling speed of the lab's decoder against transformers' own ``model.generate``, in one run.

On a randomly initialised model of a real architecture (nothing is downloaded), it decodes the
same prompts three ways and prints generated tokens per second and each one's ratio to
``model.generate`` measured in the same run:

- ``model.generate``: transformers' sampler (do_sample, temperature 1, no top-k/top-p);
- ``starlab, full batch``: the lab's ``generate`` with ``compact=False``, every row decoded
  until the batch's last one finishes (what it did before finished rows left the batch);
- ``starlab``: the lab's ``generate`` as runs use it, finished rows leaving the batch;
- ``vllm``: the lab's vLLM engine (``runtime.engine=vllm``: starlab/engines.py) where vLLM's
  environment exists (``--no-vllm`` leaves it out). vLLM runs the model without the <eos> hook,
  so each prompt gets the length the hook would give it on average, drawn once (geometric with
  mean ``--mean-len``, at most ``--max-new-tokens``) and asked as its ``max_tokens``, <eos>
  ignored. Its engine start and the weights' hand-off are timed apart, not in tokens/s.

Completion lengths vary as rationales do: an <eos> logit offset (a forward hook on the LM head,
the same for all three) gives a random model's near-uniform output a 1/``--mean-len`` chance
of <eos> per token. Both lab rows produce the same tokens (tests/test_generate.py); the
transformers row samples its own (its lengths vary by chance). Each sampler is warmed at the
full batch shape, then run ``--reps`` times in rotating order; tokens/s is the median. From the lab's tokens/s it projects one full GSM8K STaR
iteration: every training question sampled, the wrong share rationalized, the test set
evaluated, each ``--mean-len`` tokens.

    experiments/.venv/bin/python scripts/gpu/bench_sampling.py --arch tiny --prompts 64   # CPU
    python3 scripts/gpu/bench_sampling.py --arch 0.5b --prompts 512 --batch 128           # one GPU
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "experiments"))

from starlab import engines  # noqa: E402
from starlab.generate import generate  # noqa: E402

#: architectures of real models (random weights): Qwen2.5-0.5B's and Llama-2-7B's shapes
ARCHS = {
    "tiny": dict(
        hidden_size=256, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=4, intermediate_size=688, vocab_size=32000
    ),
    "0.5b": dict(
        hidden_size=896, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2, intermediate_size=4864, vocab_size=151936
    ),
    "7b": dict(
        hidden_size=4096, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32, intermediate_size=11008, vocab_size=32000
    ),
}
GSM8K = {"train": 7473, "test": 1319}
EOS, PAD = 2, 0


class Tok:
    """What ``generate`` needs of a tokenizer, for random token ids."""

    pad_id, eos_id, bos_id = PAD, EOS, 1

    def stop_ids(self) -> set[int]:
        return {EOS}


def build(arch: str, device: torch.device, dtype: torch.dtype) -> torch.nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(**ARCHS[arch], max_position_embeddings=4096, bos_token_id=1, eos_token_id=EOS, pad_token_id=PAD)
    return LlamaForCausalLM(cfg).to(device=device, dtype=dtype).eval()


def eos_offset(model: torch.nn.Module, mean_len: float) -> None:
    """Raise the <eos> logit so that a near-uniform distribution ends a row with p = 1/mean_len."""
    v = model.config.vocab_size
    p = 1.0 / mean_len
    bias = math.log(p * (v - 1) / (1 - p))

    def hook(_m, _inp, out):
        out[..., EOS] += bias
        return out

    model.lm_head.register_forward_hook(hook)


def prompts_of(n: int, lo: int, hi: int, vocab: int, seed: int) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    lens = torch.randint(lo, hi + 1, (n,), generator=g).tolist()
    return [[1] + torch.randint(3, vocab, (k - 1,), generator=g).tolist() for k in lens]


def hf_generate(model, prompts, batch: int, max_new: int, device) -> tuple[int, float]:
    tokens, t0 = 0, time.perf_counter()
    for s in range(0, len(prompts), batch):
        chunk = prompts[s : s + batch]
        L = max(map(len, chunk))
        ids = torch.tensor([[PAD] * (L - len(p)) + p for p in chunk], device=device)
        mask = torch.tensor([[0] * (L - len(p)) + [1] * len(p) for p in chunk], device=device)
        with torch.no_grad():
            out = model.generate(
                input_ids=ids,
                attention_mask=mask,
                do_sample=True,
                temperature=1.0,
                top_k=0,
                top_p=1.0,
                max_new_tokens=max_new,
                eos_token_id=EOS,
                pad_token_id=PAD,
            )
        for row in out[:, L:].tolist():
            tokens += next((i + 1 for i, t in enumerate(row) if t == EOS), len(row))
    _sync(device)
    return tokens, time.perf_counter() - t0


def lab_generate(model, prompts, batch: int, max_new: int, compact: bool, device) -> tuple[int, float]:
    g = torch.Generator(device=device).manual_seed(0)
    t0 = time.perf_counter()
    outs = generate(model, Tok(), prompts, max_new_tokens=max_new, temperature=1.0, batch_size=batch, generator=g, compact=compact)
    _sync(device)
    # the <eos> that ended a row is a generated token too (as model.generate counts it)
    return sum(min(len(o) + 1, max_new) for o in outs), time.perf_counter() - t0


def vllm_lengths(n: int, mean_len: float, max_new: int, seed: int) -> list[int]:
    """Completion lengths as the <eos> offset gives them: geometric, mean ``mean_len``, capped."""
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(n, generator=g, dtype=torch.float64)
    return [min(max_new, 1 + int(math.log(x) / math.log(1 - 1 / mean_len))) for x in u.tolist()]


def vllm_engine(model, folder: str):
    """The lab's vLLM engine holding ``model``'s weights; returns it and its start time (s)."""
    e = engines.VllmEngine(folder, seed=0, max_model_len=None)
    t0 = time.perf_counter()
    e.sync(model, version=1)
    return e, time.perf_counter() - t0


def vllm_generate(e, prompts, lengths: list[int]) -> tuple[int, float]:
    t0 = time.perf_counter()
    outs = e.generate(prompts, max_new_tokens=lengths, temperature=1.0, seed=0, stop_ids=set())
    return sum(map(len, outs)), time.perf_counter() - t0


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", choices=sorted(ARCHS), default="tiny")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", choices=["float32", "bfloat16"], default=None, help="default: bfloat16 on CUDA, float32 on CPU")
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--prompt-len", default="60,160", help="prompt lengths drawn from LO,HI tokens (GSM8K questions)")
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--mean-len", type=float, default=150, help="mean completion length the <eos> offset aims at")
    ap.add_argument("--wrong-fraction", type=float, default=0.7, help="share of training questions rationalized (projection)")
    ap.add_argument("--reps", type=int, default=3, help="repetitions per sampler (tok/s is the median)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    ap.add_argument("--no-vllm", action="store_true", help="leave the vLLM engine out even where its environment exists")
    a = ap.parse_args()

    device = torch.device(a.device)
    dtype = getattr(torch, a.dtype) if a.dtype else (torch.bfloat16 if device.type == "cuda" else torch.float32)
    lo, hi = map(int, a.prompt_len.split(","))
    model = build(a.arch, device, dtype)
    eos_offset(model, a.mean_len)
    prompts = prompts_of(a.prompts, lo, hi, model.config.vocab_size, seed=0)
    samplers = {
        "model.generate": lambda ps, n: hf_generate(model, ps, a.batch, n, device),
        "starlab, full batch": lambda ps, n: lab_generate(model, ps, a.batch, n, False, device),
        "starlab": lambda ps, n: lab_generate(model, ps, a.batch, n, True, device),
    }
    engine, engine_start_s = None, None
    if not a.no_vllm and engines.vllm_python():
        import tempfile

        tmp = tempfile.mkdtemp(prefix="starlab-bench-vllm-")
        engine, engine_start_s = vllm_engine(model, tmp)
        lengths = vllm_lengths(len(prompts), a.mean_len, a.max_new_tokens, seed=0)
        samplers["vllm"] = lambda ps, n: vllm_generate(engine, ps, lengths if n == a.max_new_tokens else [n] * len(ps))
    for fn in samplers.values():  # warm each one's kernels at the full batch shape
        fn(prompts[: a.batch], 8)
    runs: dict[str, list[tuple[int, float]]] = {name: [] for name in samplers}
    for rep in range(a.reps):  # the order rotates, so no sampler always runs first (or last)
        k = rep % len(samplers)
        names = list(samplers)[k:] + list(samplers)[:k]
        for name in names:
            torch.manual_seed(rep)  # model.generate draws from the global generator
            runs[name].append(samplers[name](prompts, a.max_new_tokens))
    rows = []
    for name, rs in runs.items():
        rates = sorted(t / s for t, s in rs)
        tokens, secs = rs[0]
        rows.append({"sampler": name, "tokens": tokens, "seconds": secs, "tok_s": rates[len(rates) // 2], "reps": len(rs)})
    if engine is not None:
        engine.close()
    base = rows[0]["tok_s"]
    for r in rows:
        r["vs_model_generate"] = r["tok_s"] / base
    lab = next(r for r in rows if r["sampler"] == "starlab")["tok_s"]
    iteration_tokens = (GSM8K["train"] * (1 + a.wrong_fraction) + GSM8K["test"]) * a.mean_len
    result = {
        "arch": a.arch,
        "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "dtype": str(dtype).replace("torch.", ""),
        "prompts": a.prompts,
        "batch": a.batch,
        "rows": rows,
        "gsm8k_iteration_tokens": iteration_tokens,
        "gsm8k_iteration_minutes": iteration_tokens / lab / 60,
        "vllm": {"version": engine.version, "engine_start_s": engine_start_s} if engine is not None else None,
        "gsm8k_iteration_minutes_vllm": iteration_tokens / rows[-1]["tok_s"] / 60 if engine is not None else None,
        "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None,
    }
    if a.json:
        print(json.dumps(result))
        return 0
    print(
        f"{a.arch} ({result['params_m']:.0f} M parameters, {result['dtype']}) on {result['device']}: {a.prompts} prompts, batch {a.batch}"
    )
    print(f"{'sampler':<22}{'tokens':>9}{'seconds':>10}{'tok/s':>10}{'× model.generate':>18}   (tok/s: median of {a.reps})")
    for r in rows:
        print(f"{r['sampler']:<22}{r['tokens']:>9}{r['seconds']:>10.2f}{r['tok_s']:>10.0f}{r['vs_model_generate']:>18.2f}")
    print(
        f"one GSM8K STaR iteration ≈ {iteration_tokens / 1e6:.2f} M tokens → {result['gsm8k_iteration_minutes']:.1f} min at the lab's rate"
        + (f", {result['gsm8k_iteration_minutes_vllm']:.1f} min with vLLM" if engine is not None else "")
    )
    if engine is not None:
        print(f"vLLM {engine.version}: engine start and first weights {engine_start_s:.0f} s (once per run), not in tok/s")
    elif not a.no_vllm:
        print("vLLM: its environment was not found (scripts/setup.sh --vllm, or STARLAB_VLLM_PYTHON): no vllm row")
    return 0


if __name__ == "__main__":
    sys.exit(main())
