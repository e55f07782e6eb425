"""Several processes, one run: ``runtime.nproc`` > 1 runs ``python -m starlab run`` under torchrun
(``torch.distributed.run``: ``--standalone`` on one node; on a Slurm job's nodes, srun starts it on
each and the ranks meet by rendezvous), one process per device.

What the ranks share and split (every variant):

- every rank holds the whole model and the same data; the random streams that decide batches,
  rationalization and adapters are seeded without the rank, so every rank makes the same choices;
- sampling and evaluation split the prompts (rank r decodes prompts r, r + W, …) and gather the
  completions in prompt order, so every rank sees every completion and keeps the same set;
- a training step's batch is the same on every rank; rank r computes rows r, r + W, … of it under
  DistributedDataParallel, each row's loss divided by the whole batch's completion tokens, so the
  averaged gradient is the one-process gradient of the global batch (V-STaR's DPO verifier and
  ORM split their pair and example batches alike, starlab/verifier.py; Quiet-STaR, whose model
  DDP cannot wrap, normalises each rank's rows by the whole batch and sums the gradients with
  ``Dist.sum_grads``);
- rank 0 alone writes events, artifacts and checkpoints; the others write nothing;
- a stop is decided together (``CollectiveStop``): each rank's signal flag is all-reduced at every
  training step, and a sampling rank that saw the signal reports it in the gather, so no rank is
  left waiting in a collective that another has left.
"""

from __future__ import annotations

import datetime
import gc
import os
import signal
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as D

from .stopping import StopFlag, StopRequested

T = TypeVar("T")


@dataclass(frozen=True)
class Dist:
    """This process's place among the run's processes (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def shard(self, n: int) -> list[int]:
        """The indices of ``n`` items this rank handles: rank, rank + world, …"""
        return list(range(self.rank, n, self.world))

    def gather(self, local: Sequence[T], n: int, *, stopped: bool = False) -> list[T]:
        """Every rank's ``local`` results (for its ``shard(n)``) in item order, on every rank.
        A rank that ``stopped`` (its stop flag was raised mid-way) makes every rank raise
        StopRequested after the gather, so all leave together."""
        if not self.enabled:
            if stopped:
                raise StopRequested("stop requested")
            return list(local)
        parts: list[Any] = [None] * self.world
        D.all_gather_object(parts, (stopped, list(local)))
        if any(s for s, _ in parts):
            raise StopRequested("stop requested (on some rank)")
        out: list[Any] = [None] * n
        for r, (_, items) in enumerate(parts):
            idx = range(r, n, self.world)
            if len(items) != len(idx):
                raise RuntimeError(f"rank {r} returned {len(items)} results for {len(idx)} items")
            for i, item in zip(idx, items):
                out[i] = item
        return out

    def any(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is true on any."""
        if not self.enabled:
            return flag
        t = torch.tensor([1 if flag else 0], dtype=torch.int32, device=_collective_device())
        D.all_reduce(t, op=D.ReduceOp.MAX)
        return bool(t.item())

    def barrier(self) -> None:
        """Wait until every rank is here (an all-reduce on the collective device, as ``any``)."""
        self.any(False)

    def objects(self, obj: T) -> list[T]:
        """Every rank's ``obj`` in rank order, on every rank."""
        if not self.enabled:
            return [obj]
        parts: list[Any] = [None] * self.world
        D.all_gather_object(parts, obj)
        return parts

    def sum_grads(self, params: Iterable[torch.nn.Parameter]) -> None:
        """Each trainable parameter's gradient summed over the ranks, so every rank holds the whole
        batch's (for losses each rank normalised by the whole batch, where DDP cannot wrap the
        forward: Quiet-STaR calls its model's parts). A rank without a parameter's gradient adds
        zeros; a parameter no rank has a gradient for keeps none, as in one process (so AdamW
        leaves it alone). The gradients travel in flat buckets of one dtype and device."""
        if not self.enabled:
            return
        trainable = [p for p in params if p.requires_grad]
        has = torch.tensor([p.grad is not None for p in trainable], dtype=torch.int32, device=_collective_device())
        D.all_reduce(has, op=D.ReduceOp.MAX)
        groups: dict[tuple[torch.dtype, torch.device], list[torch.Tensor]] = {}
        for p, any_rank in zip(trainable, has.tolist()):
            if not any_rank:
                continue
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            groups.setdefault((p.grad.dtype, p.grad.device), []).append(p.grad)
        for grads in groups.values():  # the same order on every rank: the parameters'
            start = 0
            while start < len(grads):
                end, size = start, 0
                while end < len(grads) and (end == start or size + grads[end].numel() <= GRAD_BUCKET_ELEMENTS):
                    size += grads[end].numel()
                    end += 1
                flat = torch.cat([g.reshape(-1) for g in grads[start:end]])
                D.all_reduce(flat, op=D.ReduceOp.SUM)
                at = 0
                for g in grads[start:end]:
                    g.copy_(flat[at : at + g.numel()].view_as(g))
                    at += g.numel()
                start = end

    def sums(self, values: Sequence[float]) -> list[float]:
        """Each of ``values`` summed over the ranks (one all-reduce), on every rank."""
        if not self.enabled:
            return list(values)
        t = torch.tensor(list(values), dtype=torch.float64, device=_collective_device())
        D.all_reduce(t, op=D.ReduceOp.SUM)
        return [float(x) for x in t.tolist()]


SINGLE = Dist()

#: elements per all-reduce in ``sum_grads`` (64 MiB of float32)
GRAD_BUCKET_ELEMENTS = 1 << 24


def _collective_device() -> torch.device:
    """NCCL reduces CUDA tensors only; gloo CPU ones."""
    return torch.device("cuda", torch.cuda.current_device()) if D.get_backend() == "nccl" else torch.device("cpu")


def die_with_agent() -> None:
    """torchrun starts each rank in a session of its own, so a signal to the run's process group
    reaches only the agent: it forwards SIGTERM (a stop), but a SIGKILL (the supervisor's after
    the grace period) would leave the ranks running without it. Linux: the kernel sends this
    process SIGKILL when its parent dies (PR_SET_PDEATHSIG); elsewhere a thread watches the
    parent pid."""
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
            if os.getppid() != parent:  # the agent died before the call
                os._exit(1)
            return

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="starlab-agent-watch", daemon=True).start()


def from_env(device: str) -> Dist:
    """The process group torchrun describes in the environment (WORLD_SIZE, RANK, LOCAL_RANK),
    initialised; ``SINGLE`` without torchrun. ``device`` is runtime.device: NCCL and one GPU per
    process (``cuda:LOCAL_RANK``) when the run uses CUDA, gloo on the CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return SINGLE
    die_with_agent()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    cuda = device != "cpu" and torch.cuda.is_available()
    if cuda:
        if local >= torch.cuda.device_count():
            per_node = int(os.environ.get("LOCAL_WORLD_SIZE", world))
            raise RuntimeError(
                f"runtime.nproc asks for {per_node} processes on this node but only {torch.cuda.device_count()} GPU(s) are visible"
            )
        torch.cuda.set_device(local)
    if not D.is_initialized():
        D.init_process_group("nccl" if cuda else "gloo", timeout=datetime.timedelta(minutes=30))
    return Dist(rank=rank, world=world, local_rank=local)


def device_for(d: Dist, device: torch.device) -> torch.device:
    """This rank's device: its own GPU under torchrun."""
    if d.enabled and device.type == "cuda":
        return torch.device("cuda", d.local_rank)
    return device


def close(d: Dist, *, clean: bool = True) -> None:
    """Tear the process group down. After a clean end (``clean``: every rank finished or stopped
    at the same step) each rank first frees what may still hold collective work (DDP and FSDP
    wrappers left to the garbage collector) and waits at a barrier for the others, so no rank
    closes its connections while another's last collective is in flight: gloo can abort a
    process then ("terminate called without an active exception"). After an error there is no
    barrier, because the other ranks may never reach it."""
    if not (d.enabled and D.is_initialized()):
        return
    if clean:
        gc.collect()
        D.barrier()
    D.destroy_process_group()


class CollectiveStop(StopFlag):
    """A stop flag every rank consults together: ``check()`` all-reduces the local signal flag,
    so all ranks raise StopRequested at the same step. Call it the same number of times on every
    rank (once per training step); ``local`` is the signal-driven flag it reads."""

    def __init__(self, local: StopFlag, d: Dist):
        super().__init__()
        self.local, self.d = local, d

    def request(self, signum: int | None = None) -> None:
        self.local.request(signum)

    @property
    def requested(self) -> bool:
        return self.local.requested

    def check(self) -> None:
        if self.d.any(self.local.requested):
            raise StopRequested("stop requested")
