#!/usr/bin/env python3
"""Back-of-the-envelope GPU memory and per-iteration cost of the ``paper`` presets.

Prints the tables of docs/paper-presets.md (Markdown). Every number is an ESTIMATE from the
formulas below, not a measurement; plug in throughputs you measured (``bench_variants.py``, or
your own run's ``eval``/``compute`` metrics) with the flags:

    python3 scripts/gpu/estimate.py                         # the doc's tables
    python3 scripts/gpu/estimate.py --gen-tok-s 3000 --train-tok-s 8000 --prefill-tok-s 20000

Memory (bytes; h = hidden size, kv = key/value width = kv_heads × head_dim, i = MLP width,
L = layers, V = vocabulary, N = parameters, b = sequences per step, s = tokens per sequence):

- weights: N × 2 (bf16/fp16) or N × 4 (fp32);
- full fine-tuning, "pure" low precision (what starlab/train.py does with a bf16/fp16 model:
  AdamW states in the parameters' dtype): N × (2 weights + 2 grads + 4 Adam) = 8 N;
  mixed precision (fp32 master weights, grads and Adam states): 16 N;
- LoRA r on every linear layer: r × (9h + 2kv + 3i) × L adapter parameters (Llama-style
  blocks), kept in fp32 with their grads and Adam states: 16 B each;
- activations kept for backward, HF eager with SDPA attention (no s² term):
  ≈ (22h + 6kv + 8i) bytes per token per layer (bf16 tensors plus the fp32 upcast in RMSNorm;
  ±30%); with gradient checkpointing ≈ 2h per token per layer plus one layer's full set;
- LM-head logits of a training forward: b × s × V × ~12 B (bf16 logits, the fp32 copy the loss
  makes, its gradient) — large for the 128k–152k vocabularies of Llama-3/Qwen;
- KV cache while decoding: 2 × L × kv × 2 B per token.

Cost of one STaR-family iteration (tokens):

- generated G = Σ over decoding passes of questions × samples × mean completion length
  (HF batched decoding keeps a row in its batch until the longest one stops, so it pays
  ≈ questions × samples × max completion length in the batch ≤ max_new_tokens);
- prefilled P = prompts × (few-shot prefix + question) — starlab's loop prefills the prefix for
  every prompt; vLLM's prefix caching pays it once;
- trained T = steps × batch × sequence length (prompt — few-shot prefix included, masked — plus
  completion);
- time ≈ G / r_gen + P / r_prefill + T / r_train.
"""
from __future__ import annotations

import argparse
import math

GIB = 2 ** 30
USABLE = 74 * GIB  # of the ~78 GiB an 80 GB H100 offers, leaving room for fragmentation and the CUDA context

# Architecture figures from memory of the models' config.json files (not read here): params
# (billions), layers, hidden, kv width (kv_heads × head_dim), MLP width, vocab, checkpoint dtype.
MODELS = {
    "Qwen2.5-0.5B":    dict(N=0.494, L=24, h=896,  kv=128,  i=4864,  V=151936, dtype="bf16"),
    "Llama-3.2-1B":    dict(N=1.236, L=16, h=2048, kv=512,  i=8192,  V=128256, dtype="bf16"),
    "Qwen2.5-1.5B":    dict(N=1.544, L=28, h=1536, kv=256,  i=8960,  V=151936, dtype="bf16"),
    "Llama-3.2-3B":    dict(N=3.213, L=28, h=3072, kv=1024, i=8192,  V=128256, dtype="bf16"),
    "GPT-J-6B":        dict(N=6.053, L=28, h=4096, kv=4096, i=16384, V=50400,  dtype="fp32"),
    "Llama-2-7B":      dict(N=6.738, L=32, h=4096, kv=4096, i=11008, V=32000,  dtype="fp16"),
    "Mistral-7B-v0.1": dict(N=7.242, L=32, h=4096, kv=1024, i=14336, V=32000,  dtype="bf16"),
    "Qwen2.5-7B":      dict(N=7.616, L=28, h=3584, kv=512,  i=18944, V=152064, dtype="bf16"),
}

# Token lengths (≈ 3.5 characters per token; from the shipped prompt files and the data sets'
# mean lengths — see docs/paper-presets.md): few-shot prefix, question (with "Q: … A:"),
# mean sampled completion, and the train/eval sizes.
TASKS = {
    "gsm8k":         dict(prefix=640, question=70, completion=100, train=7473, eval=1319),
    "commonsenseqa": dict(prefix=600, question=50, completion=40, train=9741, eval=1221),
    "addition":      dict(prefix=35, question=6, completion=15, train=10000, eval=1000),
}


def act_per_token(m: dict) -> float:
    """Bytes of activations kept for backward per token, all layers (no checkpointing)."""
    return (22 * m["h"] + 6 * m["kv"] + 8 * m["i"]) * m["L"]


def ckpt_act_per_token(m: dict) -> float:
    return 2 * m["h"] * m["L"] + (22 * m["h"] + 6 * m["kv"] + 8 * m["i"])


def lora_params(m: dict, r: int = 16) -> float:
    return r * (9 * m["h"] + 2 * m["kv"] + 3 * m["i"]) * m["L"]


def weights(m: dict, nbytes: float = 2) -> float:
    return m["N"] * 1e9 * nbytes


def logits(m: dict, tokens: float) -> float:
    return tokens * m["V"] * 12


def star_train(m: dict, mode: str, b: int, s: int, ckpt: bool) -> float:
    """Peak bytes of one fine-tuning step (weights + states + activations + logits)."""
    tok = b * s
    act = tok * (ckpt_act_per_token(m) if ckpt else act_per_token(m))
    if mode == "lora":
        states = weights(m) + lora_params(m) * 16
    elif mode == "full-bf16":
        states = weights(m, 8)
    else:
        states = weights(m, 16)
    return states + act + logits(m, tok)


def vstar_verify(m: dict, b_pairs: int, s: int) -> float:
    """V-STaR verify phase (LoRA generator): generator + a V_SFT copy with a DPO LoRA (2·b_pairs
    sequences per forward); then generator + an ORM copy fully fine-tuned (pure bf16 states)."""
    dpo = weights(m) * 2 + lora_params(m) * 16 + (2 * b_pairs * s) * act_per_token(m) + logits(m, 2 * b_pairs * s)
    orm = weights(m) + weights(m, 8) + (b_pairs * s) * act_per_token(m) + logits(m, b_pairs * s)
    return max(dpo, orm)


def quiet_step(m: dict, batch: int, T: int = 256, n_thoughts: int = 2, thought_len: int = 10, n_ahead: int = 4,
               states_bytes: float = 8) -> float:
    rows = batch * n_thoughts
    positions = rows * T * (thought_len + n_ahead + 2)   # query tokens of all the forwards
    act = positions * act_per_token(m)
    lsm = (1 + thought_len + n_ahead) * rows * T * m["V"] * 4  # log-softmaxes kept for backward
    return weights(m, states_bytes) + act + lsm


def fmt_gb(x: float) -> str:
    return f"{x / GIB:.0f}" if x >= 10 * GIB else f"{x / GIB:.1f}"


def fit(x: float, cap: float = USABLE) -> str:
    return fmt_gb(x) + ("" if x <= cap else " ✗")


def memory_tables() -> None:
    print("### Fine-tuning one STaR step (batch 8 × 1024 tokens), GiB (✗ = over ~74 GiB, what an 80 GB H100 leaves usable)\n")
    print("| model | params | weights bf16 | LoRA-16 params | act. per token (MB) | LoRA | LoRA + ckpt | full pure-bf16 + ckpt | full mixed fp32 + ckpt |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, m in MODELS.items():
        print(f"| {name} | {m['N']:.2f} B | {fmt_gb(weights(m))} | {lora_params(m) / 1e6:.0f} M | "
              f"{act_per_token(m) / 1e6:.2f} | {fit(star_train(m, 'lora', 8, 1024, False))} | "
              f"{fit(star_train(m, 'lora', 8, 1024, True))} | {fit(star_train(m, 'full-bf16', 8, 1024, True))} | "
              f"{fit(star_train(m, 'full-mixed', 8, 1024, True))} |")
    print("\n### V-STaR verify phase and Quiet-STaR step, GiB\n")
    print("| model | V-STaR verify (8 pairs × 1024) | Quiet-STaR batch 8 | batch 2 | batch 1 |")
    print("|---|---|---|---|---|")
    for name, m in MODELS.items():
        print(f"| {name} | {fit(vstar_verify(m, 8, 1024))} | {fit(quiet_step(m, 8))} | {fit(quiet_step(m, 2))} | "
              f"{fit(quiet_step(m, 1))} |")


def steps_total(base: int, growth: float, n: int) -> list[int]:
    return [max(1, int(math.floor(base * growth ** (k - 1) + 0.5))) for k in range(1, n + 1)]


def cost_tables(gen: float, prefill: float, train: float, solve: float) -> None:
    print(f"\n### One iteration at r_gen = {gen:,.0f} tok/s, r_prefill = {prefill:,.0f} tok/s, "
          f"r_train = {train:,.0f} tok/s (first-iteration accuracy {solve:.0%})\n")
    print("| preset | generated G | prefilled P | trained T (it. 1 / last) | hours (it. 1) |")
    print("|---|---|---|---|---|")
    for variant, iters, k, extra in (("star", 16, 1, None), ("v-star", 3, 16, 64)):
        for ds, t in TASKS.items():
            prompt = t["prefix"] + t["question"]
            seq = prompt + t["completion"]
            n_prompts = t["train"] * k + t["eval"]
            if variant == "star":
                n_prompts += round(t["train"] * (1 - solve))  # rationalization of the unsolved
            if extra:
                n_prompts += t["eval"] * extra                # verify: N candidates per held-out question
            G = n_prompts * t["completion"]
            P = n_prompts * prompt
            steps = steps_total(40, 1.2, iters)
            T1, Tn = steps[0] * 8 * seq, steps[-1] * 8 * seq
            extra_T = 0
            if variant == "v-star":
                # DPO 1000 steps × 8 pairs × 2 sequences, its reference pass over all pairs (≤ 8 per
                # question), ORM 1000 steps × 8, and scoring N candidates with V_SFT, V and the ORM
                pairs = t["train"] * 8
                extra_T = 1000 * 16 * seq + 1000 * 8 * seq
                P += (2 * pairs + 3 * t["eval"] * extra) * seq  # forward-only passes, counted as prefill
            hours = (G / gen + P / prefill + (T1 + extra_T) / train) / 3600
            print(f"| {variant} {ds} | {G / 1e6:.1f} M | {P / 1e6:.0f} M | {T1 / 1e6:.2f} M / {Tn / 1e6:.1f} M"
                  f"{f' (+{extra_T / 1e6:.0f} M verifier)' if extra_T else ''} | {hours:.1f} |")


def quiet_cost(tflops: float, call_ms: float) -> None:
    """Quiet-STaR paper preset (Mistral-7B, batch 8, 2 thoughts of 10 tokens, 4 ahead, 256-token
    rows, 100 steps, an evaluation every 10 steps, 256 new tokens, generation batch 8)."""
    m = MODELS["Mistral-7B-v0.1"]
    rows, T, Lth, ahead = 16, 256, 10, 4
    positions = rows * T * (Lth + ahead + 2)
    flops = 6 * m["N"] * 1e9 * positions
    step_s = flops / (tflops * 1e12)
    print(f"\n### Quiet-STaR paper preset (Mistral-7B), at {tflops:.0f} TFLOP/s effective and {call_ms:.0f} ms per "
          f"decoding forward call\n")
    print(f"- training: {rows} rows × {T} tokens × {Lth + ahead + 2} blocks = {positions:,} token positions per step, "
          f"≈ 6·N·positions = {flops:.2e} FLOP ≈ {step_s:.1f} s/step, {100 * step_s / 60:.0f} min for 100 steps "
          f"(if it fit in memory: see above)")
    for ds, t in TASKS.items():
        batches = math.ceil(t["eval"] / 8)
        per_token = (Lth + 1) + 1  # forward calls per token: L+1 with a thought, 1 without
        typical = min(256, 2 * t["completion"])  # a batch runs until its longest row stops
        h_max = batches * 256 * per_token * call_ms / 1000 / 3600
        h_typ = batches * typical * per_token * call_ms / 1000 / 3600
        print(f"- evaluation on {ds} ({t['eval']:,} questions, with and without thoughts): ≈ {h_typ:.1f} h if a batch "
              f"stops after ~{typical} tokens, ≤ {h_max:.1f} h at 256; × 11 evaluations (steps 0, 10, …, 100)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--gen-tok-s", type=float, default=250, help="decoded tokens/s (default: HF-style loop, batch 8, 7B)")
    p.add_argument("--prefill-tok-s", type=float, default=20000, help="prompt tokens/s of forward-only passes")
    p.add_argument("--train-tok-s", type=float, default=6000, help="fine-tuning tokens/s")
    p.add_argument("--solve", type=float, default=0.1, help="fraction solved directly in iteration 1 (rationalization = the rest)")
    p.add_argument("--tflops", type=float, default=300, help="effective bf16 TFLOP/s of training (Quiet-STaR)")
    p.add_argument("--call-ms", type=float, default=30, help="ms per decoding forward call, batch 8 (Quiet-STaR eval)")
    p.add_argument("--no-memory", action="store_true")
    a = p.parse_args()
    if not a.no_memory:
        memory_tables()
    cost_tables(a.gen_tok_s, a.prefill_tok_s, a.train_tok_s, a.solve)
    quiet_cost(a.tflops, a.call_ms)


if __name__ == "__main__":
    main()
