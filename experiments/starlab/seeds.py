"""Every random stream of a run, derived from the run's seed by name.

A run has one seed (``cfg["seed"]``); each consumer of randomness — a phase's sampling, a
fine-tune's batch order, a LoRA adapter's initialisation, the DPO pairs — draws from its own
stream, ``seed × multiplier + offset + n``, where ``n`` is the iteration (or a sub-stream such
as the sampling phase). Within one iteration no two streams coincide (for a seed ≥ 1); across
iterations they can (seed 1: "lora" at iteration 6 equals "verifier_lora" at 0), which only
correlates draws made for unrelated purposes. The values are the ones the code used before
this module existed, so a run's numbers are unchanged by it; a hash-based derivation would
remove the coincidences and change every run's numbers. The table below is the one place
they are written.
"""

from __future__ import annotations

#: name → (multiplier, offset). n is added on top (the iteration, or as the stream's doc says).
STREAMS: dict[str, tuple[int, int]] = {
    # STaR / V-STaR generator
    "finetune": (1009, 0),  # train.finetune's batch order; n = iteration (0: the warm-up)
    "sample": (100003, 0),  # generation; n = iteration × 11 + SAMPLE_PHASES[phase]
    "lora_warmup": (29, 0),  # the warm-up's LoRA adapter (merged after it)
    "lora": (31, 0),  # the iteration's LoRA adapter; n = iteration
    # V-STaR verifier
    "dpo_pairs": (7919, 0),  # which (right, wrong) pairs; n = iteration
    "verifier_lora": (37, 0),
    "dpo_batches": (101, 0),
    "orm_lora": (41, 0),
    "orm_head": (13, 0),
    "orm_batches": (103, 0),
    # Quiet-STaR
    "quiet_warmup": (1009, 0),  # the warm-up fine-tune (as the generator's iteration 0)
    "quiet_lora": (31, 7),
    "quiet_doc_order": (7919, 1),  # the corpus's document order before packing
    "quiet_batches": (1009, 17),  # the packed rows' batch order
    "quiet_thoughts": (100003, 5),  # the thoughts sampled in training
    # torchrun: rank r ≥ 1 samples from derive(phase seed, "rank", r · RANK_STRIDE), beyond every
    # stream above (their seeds stay under 2^48 for a seed < 2^31); rank 0 keeps the phase seed
    "rank": (1, 0),
}
RANK_STRIDE = 2**52

#: Sub-streams of "sample": one per phase that generates.
SAMPLE_PHASES: dict[str, int] = {"sample": 0, "rationalize": 1, "evaluate": 3, "verify": 5}
OTHER_PHASE = 6


def derive(seed: int, stream: str, n: int = 0) -> int:
    """The seed of ``stream`` for a run seeded ``seed`` (``n``: the iteration or sub-stream)."""
    mul, off = STREAMS[stream]
    return int(seed) * mul + off + int(n)


def sample_seed(seed: int, iteration: int, phase: str) -> int:
    """The generator seed of one phase's sampling in one iteration."""
    return derive(seed, "sample", iteration * 11 + SAMPLE_PHASES.get(phase, OTHER_PHASE))


def rank_seed(seed: int, rank: int) -> int:
    """The sampling seed of ``rank`` for a phase seeded ``seed`` (rank 0: ``seed`` itself)."""
    return derive(seed, "rank", rank * RANK_STRIDE)
