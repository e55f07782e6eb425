#!/usr/bin/env python3
"""Back-of-the-envelope GPU memory and per-iteration cost of the ``paper`` presets.

Prints the tables of docs/paper-presets.md (Markdown). Every number is an ESTIMATE from the
formulas below, not a measurement; plug in throughputs you measured (``bench_variants.py``, or
your own run's ``eval``/``compute`` metrics) with the flags:

    python3 scripts/gpu/estimate.py                         # the doc's tables
    python3 scripts/gpu/estimate.py --gen-tok-s 3000 --train-tok-s 8000 --prefill-tok-s 20000

Precision is what ``runtime.dtype = auto`` gives on CUDA (``starlab/models.py``
``resolve_precision``): LoRA runs on bfloat16 weights (adapters float32); full fine-tuning is
"mixed", float32 weights under bfloat16 autocast. ``Precision.context(device, cache=...)`` decides
whether autocast keeps its weight-cast cache: off (the default) in the STaR-family training loops,
which hold one context around a whole loop, so every matmul casts the current float32 weight it
uses; on in Quiet-STaR's ``train_step`` and ``evaluate``, which open one context per optimizer
step or per decoding pass (the weights do not change inside it), so each weight is cast once per
step or pass. Checkpoints' own dtypes no longer matter.

Memory (bytes; h = hidden size, kv = key/value width = kv_heads × head_dim, i = MLP width,
L = layers, V = vocabulary, N = parameters, b = sequences per step, s = tokens per sequence):

- weights: N × 2 (bfloat16, LoRA) or N × 4 (float32, "mixed" full fine-tuning);
- full fine-tuning, mixed: N × (4 weights + 4 grads + 8 AdamW) = 16 N that persist, plus the
  bfloat16 casts of the weights that a training forward's matmuls save for backward, 2 N
  (forward-only passes such as decoding keep none across calls without the cache). ``finetune``,
  ``train_orm`` and Quiet-STaR's ``train_step`` zero the grads after the forward, so the previous
  step's 4 N of grads are still allocated then: 16 N + 2 N = 18 N. STaR-family steps make one
  forward, so the cache makes no difference there. A Quiet-STaR step backpropagates through
  (thought_len + 1) forwards of the transformer and (1 + thought_len + n_ahead) calls of the LM
  head; with the cache they share one 2 N set (what the library does, and what the tables use).
  With the cache off (as the STaR-family loops run) each would keep its own casts:
  2 × ((thought_len + 1) × N_body + (1 + thought_len + n_ahead) × V·h) (N_body = N minus the
  embedding and LM-head matrices), shown in one column for comparison only. With
  runtime.dtype = bfloat16 instead ("pure" bfloat16, loses small updates): 8 N;
- LoRA r on every linear layer: r × (9h + 2kv + 3i) × L adapter parameters (Llama-style
  blocks), kept in float32 with their grads and AdamW states: 16 B each;
- activations kept for backward, HF eager with SDPA attention (no s² term):
  ≈ (22h + 6kv + 8i) bytes per token per layer (bfloat16 tensors plus the float32 upcast in
  RMSNorm; ±30%, likely low for "mixed", whose residual stream stays float32); with gradient
  checkpointing (not in the library) ≈ 2h per token per layer plus one layer's full set;
- LM-head logits of a training forward: b × s × V × ~12 B (bfloat16 logits, the float32 copy
  the loss makes, its gradient) — large for the 128k–152k vocabularies of Llama-3/Qwen;
- KV cache while decoding: 2 × L × kv × 2 B per token.

Training sequences are the question and the completion only (STaR's fmt(x) ⊕ r ⊕ <eos>; the
few-shot prefix is used for sampling, never trained on), right-padded to the longest in the
batch. The memory tables use s = 512, a worst case for GSM8K (longest question ≈ 280 tokens +
max_new_tokens 256); a typical batch is shorter, and activations scale with b × s.

Cost of one STaR-family iteration (tokens):

- generated G = Σ over decoding passes of questions × samples × mean completion length
  (HF batched decoding keeps a row in its batch until the longest one stops, so it pays
  ≈ questions × samples × max completion length in the batch ≤ max_new_tokens);
- prefilled P = prompts × (few-shot prefix + question) — starlab's loop prefills the prefix for
  every prompt; vLLM's prefix caching pays it once;
- trained T = steps × batch × (question + completion);
- time ≈ G / r_gen + P / r_prefill + T / r_train.
"""

from __future__ import annotations

import argparse
import math

GIB = 2**30
USABLE = 74 * GIB  # of the ~78 GiB an 80 GB H100 offers, leaving room for fragmentation and the CUDA context
SEQ = 512  # padded training sequence of the memory tables (see the docstring)

# Architecture figures from memory of the models' config.json files (not read here): params
# (billions), layers, hidden, kv width (kv_heads × head_dim), MLP width, vocab, and whether the
# LM head shares the input embedding's matrix (tie_word_embeddings).
MODELS = {
    "Qwen2.5-0.5B": dict(N=0.494, L=24, h=896, kv=128, i=4864, V=151936, tied=True),
    "Llama-3.2-1B": dict(N=1.236, L=16, h=2048, kv=512, i=8192, V=128256, tied=True),
    "Qwen2.5-1.5B": dict(N=1.544, L=28, h=1536, kv=256, i=8960, V=151936, tied=True),
    "Llama-3.2-3B": dict(N=3.213, L=28, h=3072, kv=1024, i=8192, V=128256, tied=True),
    "GPT-J-6B": dict(N=6.053, L=28, h=4096, kv=4096, i=16384, V=50400, tied=False),
    "Llama-2-7B": dict(N=6.738, L=32, h=4096, kv=4096, i=11008, V=32000, tied=False),
    "Mistral-7B-v0.1": dict(N=7.242, L=32, h=4096, kv=1024, i=14336, V=32000, tied=False),
    "Qwen2.5-7B": dict(N=7.616, L=28, h=3584, kv=512, i=18944, V=152064, tied=False),
}

# Token lengths (≈ 3.5 characters per token; from the shipped prompt files and the data sets'
# mean lengths — see docs/paper-presets.md): few-shot prefix, question (with "Q: … A:"),
# mean sampled completion, reference completion (the warm-up's target; CommonsenseQA's is a
# one-line template), and the train/eval sizes.
TASKS = {
    "gsm8k": dict(prefix=640, question=70, completion=100, reference=80, train=7473, eval=1319),
    "commonsenseqa": dict(prefix=600, question=50, completion=40, reference=12, train=9741, eval=1221),
    "addition": dict(prefix=35, question=6, completion=15, reference=15, train=10000, eval=1000),
}

# What the paper presets run (experiments/starlab/presets.json).
STAR = dict(iterations=16, base_steps=40, growth=1.2, batch=8, samples=1)
VSTAR = dict(
    iterations=3,
    base_steps=40,
    growth=1.2,
    batch=8,
    samples=16,
    warmup_examples=10000,
    warmup_steps=1000,
    pairs_per_question=8,
    dpo_steps=1000,
    orm_steps=1000,
    verifier_batch=8,
    candidates=64,
)
QUIET = dict(
    model="Qwen2.5-1.5B", batch=1, n_thoughts=2, seq_len=256, thought_len=10, n_ahead=4, steps=100, eval_every=10, max_new_tokens=256
)
GEN_BATCH_HUB = 32  # runtime.gen_batch_size = 0 for a hub model


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


def kv_per_token(m: dict) -> float:
    return 2 * m["L"] * m["kv"] * 2


MIXED_PERSISTENT = 16  # float32 weights + grads + AdamW of mixed full fine-tuning (see the docstring)
CAST = 2  # bfloat16 casts of the weights a backpropagated forward saves, per forward
MIXED_STATES = MIXED_PERSISTENT + CAST  # one set of casts per step (every mixed training step in the library): 18 N


def head_params(m: dict) -> float:
    """The LM head's matrix (V × h)."""
    return m["V"] * m["h"]


def body_params(m: dict) -> float:
    """Parameters of the transformer's matmuls: N less the embedding and (if untied) the LM head."""
    return m["N"] * 1e9 - head_params(m) * (1 if m["tied"] else 2)


def quiet_casts(m: dict, thought_len: int, n_ahead: int, per_forward: bool = False) -> float:
    """Bytes of bfloat16 weight casts one quiet_loss saves for backward under mixed.

    Default: what the library does. ``train_step`` opens ``Precision.context(cache=True)`` once per
    step, so each weight is cast once and all the step's forwards reuse it: one 2 N set.
    ``per_forward``: the cache off, as the STaR-family training loops run it (harmless there, one
    forward per step); here each of the thought_len + 1 transformer forwards and
    1 + thought_len + n_ahead LM-head calls would cast anew and keep its casts. For comparison only.
    Both counts were checked on CPU with a tiny Qwen2 (tied embeddings) by tracking the casts saved
    for backward; the mixing head's few casts are left out."""
    if not per_forward:
        return weights(m, CAST)
    return CAST * ((thought_len + 1) * body_params(m) + (1 + thought_len + n_ahead) * head_params(m))


def star_train(m: dict, mode: str, b: int, s: int, ckpt: bool) -> float:
    """Peak bytes of one fine-tuning step (weights + states + activations + logits)."""
    tok = b * s
    act = tok * (ckpt_act_per_token(m) if ckpt else act_per_token(m))
    if mode == "lora":
        states = weights(m) + lora_params(m) * 16
    elif mode == "full-bf16":
        states = weights(m, 8)
    else:
        states = weights(m, MIXED_STATES)
    return states + act + logits(m, tok)


def vstar_verify(m: dict, b_pairs: int, s: int, mode: str = "lora") -> float:
    """V-STaR verify phase. The generator stays on the GPU; a copy of V_SFT is trained with DPO
    (2·b_pairs sequences per forward: train_dpo runs without micro-batches); after it is freed,
    a second copy carries the ORM (its forward also keeps b·s·V bfloat16 LM logits it does not
    use). LoRA mode: bfloat16 copies, each trained through a fresh adapter. Full mode (mixed):
    float32 copies, the trained one with grads, AdamW and autocast copies."""
    if mode == "lora":
        resident = weights(m) * 2 + lora_params(m) * 16
    else:
        resident = weights(m, 4) + weights(m, MIXED_STATES)
    dpo = resident + (2 * b_pairs * s) * act_per_token(m) + logits(m, 2 * b_pairs * s)
    orm = resident + (b_pairs * s) * act_per_token(m) + b_pairs * s * m["V"] * 2
    return max(dpo, orm)


def quiet_mask_entries(T: int, thought_len: int, n_ahead: int) -> int:
    """Entries per row of the 4-D float masks of one quiet_loss (one per forward): the first
    forward 2T × 2T, the thought forwards T × (k+2)T for k = 1..L−1, the last (n_ahead+1)T ×
    (L+2+n_ahead)T."""
    L = thought_len
    return T * T * (4 + sum(k + 2 for k in range(1, L)) + (n_ahead + 1) * (L + 2 + n_ahead))


def quiet_step(
    m: dict, batch: int, T: int = 256, n_thoughts: int = 2, thought_len: int = 10, n_ahead: int = 4, per_forward_casts: bool = False
) -> float:
    """Peak bytes of one Quiet-STaR step under mixed. train_step zeroes the grads after the
    forward, so the previous step's grads are still there: 16 N + the casts (quiet_casts: one 2 N
    set per step as the library runs it; ``per_forward_casts`` for the cache-off comparison)."""
    rows = batch * n_thoughts
    positions = rows * T * (thought_len + n_ahead + 2)  # query tokens of all the forwards
    act = positions * act_per_token(m)
    lsm = (1 + thought_len + n_ahead) * rows * T * m["V"] * 4  # float32 log-softmaxes kept for backward
    mask = rows * quiet_mask_entries(T, thought_len, n_ahead) * 4  # float32 masks (mixed)
    casts = quiet_casts(m, thought_len, n_ahead, per_forward_casts)
    return weights(m, MIXED_PERSISTENT) + casts + act + lsm + mask


def fmt_gb(x: float) -> str:
    return f"{x / GIB:.0f}" if x >= 10 * GIB else f"{x / GIB:.1f}"


def fit(x: float, cap: float = USABLE) -> str:
    return fmt_gb(x) + ("" if x <= cap else " ✗")


def memory_tables() -> None:
    print(
        f"### Fine-tuning one STaR step (batch 8 × {SEQ} tokens), GiB (✗ = over ~74 GiB, what an 80 GB H100 "
        f"leaves usable; * = needs gradient checkpointing, which the library does not have)\n"
    )
    print(
        "| model | params | weights bf16 | LoRA-16 params | act. per token (MB) | LoRA (bf16) | LoRA + ckpt * | "
        "full mixed | full mixed + ckpt * |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, m in MODELS.items():
        print(
            f"| {name} | {m['N']:.2f} B | {fmt_gb(weights(m))} | {lora_params(m) / 1e6:.0f} M | "
            f"{act_per_token(m) / 1e6:.2f} | {fit(star_train(m, 'lora', 8, SEQ, False))} | "
            f"{fit(star_train(m, 'lora', 8, SEQ, True))} | {fit(star_train(m, 'full-mixed', 8, SEQ, False))} | "
            f"{fit(star_train(m, 'full-mixed', 8, SEQ, True))} |"
        )
    q = QUIET
    print(
        f"\n### V-STaR verify phase (8 pairs × {SEQ}) and Quiet-STaR step (rows of {q['seq_len']}, "
        f"{q['n_thoughts']} thoughts of {q['thought_len']}, {q['n_ahead']} ahead, mixed), GiB\n"
    )
    print(
        "| model | V-STaR verify, LoRA | V-STaR verify, full mixed | Quiet-STaR batch 1 (preset) | batch 2 | "
        "batch 8 (paper) | batch 1, cache off ‡ |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, m in MODELS.items():
        print(
            f"| {name} | {fit(vstar_verify(m, 8, SEQ))} | {fit(vstar_verify(m, 8, SEQ, 'full'))} | "
            f"{fit(quiet_step(m, 1))} | {fit(quiet_step(m, 2))} | {fit(quiet_step(m, 8))} | "
            f"{fit(quiet_step(m, 1, per_forward_casts=True))} |"
        )
    qm = MODELS[q["model"]]
    per_step = quiet_casts(qm, q["thought_len"], q["n_ahead"])
    print(
        f"\nThe Quiet-STaR columns keep one 2 N set of weight casts per step ({fmt_gb(per_step)} GiB for "
        f"{q['model']}), as train_step does with Precision.context(cache=True). ‡ For comparison only: the cache off, "
        f"as the STaR-family training loops run, where each of the step's {q['thought_len'] + 1} transformer forwards "
        f"and {1 + q['thought_len'] + q['n_ahead']} LM-head calls would keep its own casts, "
        f"{quiet_casts(qm, q['thought_len'], q['n_ahead'], per_forward=True) / GIB:.0f} GiB for {q['model']}"
    )
    print(
        f"\nDecoding at runtime.gen_batch_size {GEN_BATCH_HUB} (a hub model's default), GSM8K prompts of "
        f"≈ {TASKS['gsm8k']['prefix'] + TASKS['gsm8k']['question']} tokens + 256 new: KV cache ≈ "
        + ", ".join(
            f"{n} {GEN_BATCH_HUB * 966 * kv_per_token(MODELS[n]) / GIB:.1f} GiB"
            for n in ("Qwen2.5-1.5B", "GPT-J-6B", "Llama-2-7B", "Mistral-7B-v0.1")
        )
    )


def steps_total(base: int, growth: float, n: int) -> list[int]:
    return [max(1, int(math.floor(base * growth ** (k - 1) + 0.5))) for k in range(1, n + 1)]


def cost_tables(gen: float, prefill: float, train: float, solve: float) -> None:
    print(
        f"\n### One iteration at r_gen = {gen:,.0f} tok/s, r_prefill = {prefill:,.0f} tok/s, "
        f"r_train = {train:,.0f} tok/s (first-iteration accuracy {solve:.0%})\n"
    )
    print("| preset | generated G | prefilled P | trained T (it. 1 / last) | hours (it. 1) |")
    print("|---|---|---|---|---|")
    warm_lines = []
    for variant, p in (("star", STAR), ("v-star", VSTAR)):
        for ds, t in TASKS.items():
            prompt = t["prefix"] + t["question"]
            seq = t["question"] + t["completion"]  # trained and scored without the few-shot prefix
            n_prompts = t["train"] * p["samples"] + t["eval"]
            if variant == "star":
                n_prompts += round(t["train"] * (1 - solve))  # rationalization of the unsolved
            else:
                n_prompts += t["eval"] * p["candidates"]  # verify: N candidates per held-out question
            G = n_prompts * t["completion"]
            P = n_prompts * prompt
            steps = steps_total(p["base_steps"], p["growth"], p["iterations"])
            T1, Tn = steps[0] * p["batch"] * seq, steps[-1] * p["batch"] * seq
            extra_T = 0
            if variant == "v-star":
                # DPO steps × 8 pairs × 2 sequences, its reference pass over all pairs (≤ 8 per
                # question), ORM steps × 8, and scoring N candidates with V_SFT, V and the ORM
                pairs = t["train"] * p["pairs_per_question"]
                extra_T = p["dpo_steps"] * 2 * p["verifier_batch"] * seq + p["orm_steps"] * p["verifier_batch"] * seq
                P += (2 * pairs + 3 * t["eval"] * p["candidates"]) * seq  # forward-only passes, counted as prefill
                w_tok = p["warmup_steps"] * p["batch"] * (t["question"] + t["reference"])
                warm_lines.append(
                    f"- v-star {ds}: warm-up (SFT, once) {p['warmup_steps']} steps × {p['batch']} × "
                    f"{t['question'] + t['reference']} tokens = {w_tok / 1e6:.2f} M tokens ≈ "
                    f"{w_tok / train / 60:.0f} min"
                )
            hours = (G / gen + P / prefill + (T1 + extra_T) / train) / 3600
            print(
                f"| {variant} {ds} | {G / 1e6:.1f} M | {P / 1e6:.0f} M | {T1 / 1e6:.2f} M / {Tn / 1e6:.2f} M"
                f"{f' (+{extra_T / 1e6:.1f} M verifier)' if extra_T else ''} | {hours:.1f} |"
            )
    print()
    for line in warm_lines:
        print(line)
    t = TASKS["gsm8k"]
    steps = steps_total(STAR["base_steps"], STAR["growth"], STAR["iterations"])
    tok = sum(steps) * STAR["batch"] * (t["question"] + t["completion"])
    print(
        f"- star gsm8k, all {STAR['iterations']} iterations' training: {sum(steps):,} steps × {STAR['batch']} × "
        f"{t['question'] + t['completion']} tokens = {tok / 1e6:.1f} M tokens ≈ {tok / train / 3600:.2f} h"
    )


def quiet_cost(tflops: float, call_ms: float, disk_gb_s: float) -> None:
    """Quiet-STaR paper preset (Qwen2.5-1.5B, batch 1, 2 thoughts of 10 tokens, 4 ahead, 256-token
    rows, 100 steps, an evaluation every 10 steps, 256 new tokens, generation batch 32)."""
    q = QUIET
    m = MODELS[q["model"]]
    rows, T, Lth, ahead = q["batch"] * q["n_thoughts"], q["seq_len"], q["thought_len"], q["n_ahead"]
    positions = rows * T * (Lth + ahead + 2)
    flops = 6 * m["N"] * 1e9 * positions
    step_s = flops / (tflops * 1e12)
    n_evals = 1 + math.ceil(q["steps"] / q["eval_every"])
    print(
        f"\n### Quiet-STaR paper preset ({q['model']}), at {tflops:.0f} TFLOP/s effective and {call_ms:.0f} ms per "
        f"decoding forward call (batch {GEN_BATCH_HUB})\n"
    )
    print(
        f"- training at batch {q['batch']}: {rows} rows × {T} tokens × {Lth + ahead + 2} blocks = {positions:,} "
        f"token positions per step, ≈ 6·N·positions = {flops:.2e} FLOP ≈ {step_s:.2f} s/step, "
        f"{q['steps'] * step_s / 60:.1f} min for {q['steps']} steps (memory: see above)"
    )
    cast_traffic = 6 * m["N"] * 1e9  # mixed: read 4 B, write 2 B per weight per cast
    print(
        f"- mixed, with the cast cache (Precision.context(cache=True) per step and per decoding pass): the float32 "
        f"weights are cast once per training step and once per decoding pass, ≈ 6 B × N = {cast_traffic / 1e9:.1f} GB "
        f"of memory traffic ≈ {cast_traffic / 3e12 * 1000:.0f} ms at 3 TB/s each time (cache off, as the STaR-family "
        f"loops run, it would be that per forward call: {Lth + 1} forwards and {1 + Lth + ahead} LM-head calls per "
        f"step, and every decoding call)"
    )
    for ds, t in TASKS.items():
        batches = math.ceil(t["eval"] / GEN_BATCH_HUB)
        per_token = (Lth + 1) + 1  # forward calls per token: L+1 with a thought, 1 without
        typical = min(q["max_new_tokens"], 2 * t["completion"])  # a batch runs until its longest row stops
        h_max = batches * q["max_new_tokens"] * per_token * call_ms / 1000 / 3600
        h_typ = batches * typical * per_token * call_ms / 1000 / 3600
        print(
            f"- evaluation on {ds} ({t['eval']:,} questions, {batches} batches, with and without thoughts): "
            f"≈ {h_typ:.2f} h if a batch stops after ~{typical} tokens, ≤ {h_max:.2f} h at {q['max_new_tokens']}; "
            f"× {n_evals} evaluations (steps 0, {q['eval_every']}, …, {q['steps']}) ≈ {n_evals * h_typ:.1f}–"
            f"{n_evals * h_max:.1f} h"
        )
    ck = weights(m, 4) + weights(m, 8)  # float32 weights (mixed) + AdamW states
    print(
        f"- checkpoint after every evaluation but the first: float32 weights + AdamW ≈ 12 N = {ck / GIB:.0f} GiB, "
        f"≈ {ck / (disk_gb_s * 1e9):.0f} s at {disk_gb_s:g} GB/s; the swap holds two at once ({2 * ck / GIB:.0f} GiB of disk)"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--gen-tok-s", type=float, default=1000, help="decoded tokens/s (default: HF-style loop, gen batch 32, 7B)")
    p.add_argument("--prefill-tok-s", type=float, default=20000, help="prompt tokens/s of forward-only passes")
    p.add_argument("--train-tok-s", type=float, default=6000, help="fine-tuning tokens/s")
    p.add_argument("--solve", type=float, default=0.1, help="fraction solved directly in iteration 1 (rationalization = the rest)")
    p.add_argument("--tflops", type=float, default=300, help="effective bf16 TFLOP/s of training (Quiet-STaR)")
    p.add_argument("--call-ms", type=float, default=20, help="ms per decoding forward call, batch 32, 1.5B model (Quiet-STaR eval)")
    p.add_argument("--disk-gb-s", type=float, default=1.0, help="checkpoint write speed, GB/s")
    p.add_argument("--no-memory", action="store_true")
    a = p.parse_args()
    if not a.no_memory:
        memory_tables()
    cost_tables(a.gen_tok_s, a.prefill_tok_s, a.train_tok_s, a.solve)
    quiet_cost(a.tflops, a.call_ms, a.disk_gb_s)


if __name__ == "__main__":
    main()
