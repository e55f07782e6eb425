"""The one batch sampler (starlab/batches.py) and the one optimiser factory (starlab/optim.py)."""

from __future__ import annotations

import torch

from starlab import optim
from starlab.batches import EpochBatches


def test_batches_are_shuffled_epochs_whose_remainder_is_dropped():
    b = EpochBatches(10, 4, seed=3)
    g = torch.Generator().manual_seed(3)
    first, second = torch.randperm(10, generator=g), torch.randperm(10, generator=g)
    got = [b.next() for _ in range(4)]
    assert [x.tolist() for x in got] == [first[:4].tolist(), first[4:8].tolist(), second[:4].tolist(), second[4:8].tolist()]
    assert EpochBatches(3, 8, seed=0).next().tolist() == torch.randperm(3, generator=torch.Generator().manual_seed(0)).tolist()


def test_arranged_epochs_batch_their_units_and_a_state_continues_the_sequence():
    pairs = lambda order: [order[i : i + 2] for i in range(0, len(order), 2)]  # noqa: E731
    b = EpochBatches(6, 2, seed=1, arrange=pairs)
    assert all(len(row) == 2 for row in b.next())
    b.next()
    saved = b.state()
    ahead = [b.next() for _ in range(3)]
    c = EpochBatches(6, 2, seed=99, arrange=pairs)
    c.load_state(*saved)
    assert [c.next() for _ in range(3)] == ahead


def test_adamw_leaves_out_frozen_parameters_and_keeps_groups():
    a, b, frozen = (torch.nn.Parameter(torch.zeros(2)) for _ in range(3))
    frozen.requires_grad_(False)
    opt, sched = optim.adamw([a, frozen, b], lr=0.1, schedule=lambda step: 0.5)
    assert opt.param_groups[0]["params"] == [a, b] and opt.param_groups[0]["betas"] == (0.9, 0.99)
    assert opt.param_groups[0]["lr"] == 0.05 and sched.get_last_lr() == [0.05]
    opt, _ = optim.adamw([{"params": [a, frozen], "lr": 0.2}, {"params": [b]}], lr=0.1, weight_decay=0.01, schedule=lambda step: 1.0)
    assert [g["params"] for g in opt.param_groups] == [[a], [b]]
    assert [g["initial_lr"] for g in opt.param_groups] == [0.2, 0.1] and opt.param_groups[1]["weight_decay"] == 0.01
