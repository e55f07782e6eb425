"""Run by test_dist.py under torchrun (2 processes, gloo): ``finetune`` on fixed examples with the
process group, for each batching mode; rank 0 writes every mode's losses, stats and the
parameter checksums of all ranks to the JSON file named on the command line."""

from __future__ import annotations

import json
import sys

import torch
import torch.distributed as D

from starlab import dist, models
from starlab.train import TrainStats, finetune

MODES = {
    "unpacked": {"n": 20, "options": {}},
    "packed": {"n": 20, "options": {"pack_len": 40, "micro_batch_size": 2}},
    "one_example": {"n": 1, "options": {}},  # a batch of one row: rank 1 has none
}
STEPS = 30


def build(n: int):
    model, tok = models.build({"source": "tiny", "name": "t", "n_layer": 1, "n_embd": 32, "n_head": 2, "max_len": 64}, seed=0)
    examples = [([tok.bos_id] + tok.encode(f"{i}+{i + 3}:"), tok.encode(f"{2 * i + 3}") + [tok.eos_id]) for i in range(n)]
    return model, tok, examples


def train(mode: str, d: dist.Dist) -> dict:
    spec = MODES[mode]
    model, tok, examples = build(spec["n"])
    stats = TrainStats()
    losses = finetune(
        model, examples, steps=STEPS, lr=0.003, batch_size=8, pad_id=tok.pad_id, seed=0, stats=stats, dist=d, **spec["options"]
    )
    checksum = float(sum(p.detach().double().sum() for p in model.parameters()))
    sums: list = [None] * d.world
    if d.enabled:
        D.all_gather_object(sums, checksum)
    else:
        sums = [checksum]
    return {"losses": losses, "stats": vars(stats), "checksums": sums}


def main() -> None:
    torch.set_num_threads(1)
    d = dist.from_env("cpu")
    try:
        out = {mode: train(mode, d) for mode in MODES}
        if d.main:
            with open(sys.argv[1], "w", encoding="utf-8") as f:
                json.dump({"world": d.world, **out}, f)
    finally:
        dist.close(d)


if __name__ == "__main__":
    main()
