"""Batches drawn by shuffled epochs: the one sampler behind every trainer here (``train.finetune``
and its packed rows, the verifier's DPO and ORM, Quiet-STaR's packed rows)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch


class EpochBatches:
    """Batches of ``batch_size`` units from shuffled epochs: an epoch is one ``torch.randperm(n)``
    of the sampler's own generator, seeded with ``seed``; a batch that would run past the epoch's
    end starts the next epoch instead (the remainder is dropped), and an epoch with fewer units
    than ``batch_size`` is one batch. Without ``arrange`` the units are the items themselves and
    a batch is an index tensor (``tensor[batch]`` selects it); ``arrange`` groups an epoch's
    order (a list of indices) into units, e.g. packed rows of example indices, and a batch is a
    list of them. ``state``/``load_state`` let a checkpoint continue the same sequence."""

    def __init__(self, n: int, batch_size: int, seed: int, arrange: Callable[[list[int]], Sequence[Any]] | None = None):
        self.n, self.batch_size, self.arrange = n, max(1, int(batch_size)), arrange
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch = self._shuffle()
        self.pos = 0

    def _shuffle(self) -> Any:
        perm = torch.randperm(self.n, generator=self.generator)
        return perm if self.arrange is None else self.arrange(perm.tolist())

    def next(self) -> Any:
        if self.pos + min(self.batch_size, len(self.epoch)) > len(self.epoch):
            self.epoch, self.pos = self._shuffle(), 0
        batch = self.epoch[self.pos : self.pos + self.batch_size]
        self.pos += len(batch)
        return batch

    def state(self) -> tuple[torch.Tensor, Any, int]:
        """(generator state, this epoch's order, position in it)."""
        return self.generator.get_state(), self.epoch, self.pos

    def load_state(self, generator_state: torch.Tensor, epoch: Any, pos: int) -> None:
        self.generator.set_state(generator_state)
        self.epoch, self.pos = epoch, pos
