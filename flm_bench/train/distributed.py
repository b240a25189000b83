"""Data-parallel training under ``torchrun``: ranks, shards, gradient averaging, process group.

The harness loop (:func:`flm_bench.train.loop.fit`) trains data-parallel when a
``torch.distributed`` process group with more than one rank is initialised (the
``flm-bench pretrain`` command does that when ``torchrun`` launched it):

- every rank draws the same sequence of global batches from the same seeded generator and
  trains on its :func:`shard` of each (contiguous rows; sizes differ by at most one);
- each rank's loss, a mean over its own ``model.loss_count`` terms, is weighted by its share
  of the global batch's count, and the gradients are *summed* over ranks, so the step is the
  one a single process takes on the whole global batch (up to float summation order);
- validation users are sharded too and the per-user scores gathered in rank order, so every
  rank computes the same mean, takes the same early-stopping decision and restores the same
  best epoch.

Why not ``DistributedDataParallel``: it reduces gradients only for work done through its
``forward``, but models here train through ``NeuralRecommender.loss`` (and score through
``score``), the trained parameters are sometimes a subset, and some get no gradient at all in
a step. One explicit ``all_reduce`` of a flattened buffer, in a fixed parameter order, says
exactly what is summed, keeps "no gradient" apart from "zero gradient" (AdamW skips the
former but still decays and moves momentum on the latter), and costs one collective per step.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

    from flm_bench.train.neural import NeuralRecommender


@dataclass(frozen=True)
class Launch:
    """What ``torchrun`` tells one process about the job (``RANK``, ``WORLD_SIZE``, ``LOCAL_*``)."""

    rank: int
    world_size: int
    local_rank: int
    local_world_size: int

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Launch | None:
        """The launch this process is part of, or None when it runs alone (no ``WORLD_SIZE`` > 1)."""
        env = os.environ if environ is None else environ
        world = int(env.get("WORLD_SIZE", "1") or 1)
        if world <= 1:
            return None
        return cls(
            rank=int(env.get("RANK", "0")),
            world_size=world,
            local_rank=int(env.get("LOCAL_RANK", "0")),
            local_world_size=int(env.get("LOCAL_WORLD_SIZE", str(world))),
        )


def world() -> tuple[int, int]:
    """``(rank, world_size)`` of the initialised process group, ``(0, 1)`` without one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def shard(n: int, rank: int, world_size: int) -> slice:
    """The rows of an ``n``-row global batch that ``rank`` trains on: contiguous, in rank order,
    sizes differing by at most one (a rank may get none when ``n < world_size``)."""
    assert 0 <= rank < world_size, f"rank {rank} outside a world of {world_size}"
    base, extra = divmod(n, world_size)
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (rank < extra))


def loss_weight(local_count: int, global_count: int) -> float:
    """Factor on one rank's mean loss so that the sum over ranks is the global batch's mean."""
    assert global_count > 0, "a global batch without loss terms"
    return local_count / global_count


def broadcast_module(module: torch.nn.Module, src: int = 0) -> None:
    """Overwrite every parameter and floating-point buffer with rank ``src``'s (in place, fixed
    order). Integer and boolean buffers are indices derived from the data, equal everywhere."""
    import torch
    import torch.distributed as dist

    with torch.no_grad():
        for t in [*module.parameters(), *(b for b in module.buffers() if b.is_floating_point())]:
            dist.broadcast(t.data, src)


def all_reduce_gradients(params: Sequence[torch.nn.Parameter]) -> None:
    """Sum every parameter's ``.grad`` over ranks, in one flattened buffer per dtype.

    A parameter that got no gradient on any rank keeps ``grad = None`` (as it would in one
    process); one that got a gradient on some rank gets the sum, zeros standing in for the rest.
    """
    import torch
    import torch.distributed as dist

    groups: dict[torch.dtype, list[torch.nn.Parameter]] = {}
    for p in params:
        assert p.grad is None or not p.grad.is_sparse, "data-parallel training needs dense gradients"
        groups.setdefault(p.dtype, []).append(p)
    for dtype, group in groups.items():
        device = group[0].device
        flat = torch.cat(
            [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in group]
            + [torch.tensor([float(p.grad is not None) for p in group], dtype=dtype, device=device)]
        )
        dist.all_reduce(flat, dist.ReduceOp.SUM)
        offset, present = 0, flat[-len(group) :].tolist()
        for p, seen in zip(group, present):
            if seen:
                p.grad = flat[offset : offset + p.numel()].view_as(p).clone()
            offset += p.numel()


def all_reduce_sum(value: float, device: torch.device | str) -> float:
    """``value`` summed over ranks."""
    import torch
    import torch.distributed as dist

    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t, dist.ReduceOp.SUM)
    return float(t.item())


def gather_arrays(values: np.ndarray) -> np.ndarray:
    """Every rank's 1-d ``values`` concatenated in rank order (the same array on every rank)."""
    import torch.distributed as dist

    parts: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(parts, np.asarray(values))
    return np.concatenate(parts)


def broadcast_object(value: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``value`` (picklable), on every rank."""
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src)
    return box[0]


def barrier() -> None:
    """Wait for every rank (no-op without a process group)."""
    import torch.distributed as dist

    if world()[1] > 1:
        dist.barrier()


def cpu_threads(local_world_size: int) -> int:
    """Intra-op threads per process: this machine's CPUs shared by its local ranks."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cpus // max(local_world_size, 1))


def init(launch: Launch, device: str) -> str:
    """Join the process group ``torchrun`` set up; return this rank's device.

    CUDA (``device`` is ``cuda...``): NCCL, device ``cuda:LOCAL_RANK``. Otherwise gloo on CPU,
    with torch's intra-op threads set to the CPUs divided by the local ranks.
    """
    import torch
    import torch.distributed as dist

    if device.startswith("cuda"):
        device = f"cuda:{launch.local_rank}"
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        torch.set_num_threads(cpu_threads(launch.local_world_size))
        backend = "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend)
    assert dist.get_world_size() == launch.world_size, "process group and WORLD_SIZE disagree"
    return device


def shutdown() -> None:
    """Leave the process group (no-op without one)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def train_step(
    model: NeuralRecommender,
    params: Sequence[torch.nn.Parameter],
    optimizer: torch.optim.Optimizer,
    batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    objective: str,
) -> float:
    """One optimizer step on this rank's shard of the global ``batch``; the global batch's loss.

    Every rank holds the whole ``(inputs, lengths, targets)`` batch (built from the same seeded
    generator), so the global loss count is known without communication. The shard keeps the
    global batch's padded width. A rank with an empty shard contributes zero gradients.
    """
    inputs, lengths, targets = batch
    rank, world_size = world()
    rows = shard(len(inputs), rank, world_size)
    weight = loss_weight(model.loss_count(targets[rows], objective), model.loss_count(targets, objective))
    optimizer.zero_grad(set_to_none=True)
    value = 0.0
    if weight > 0:
        loss = model.loss(inputs[rows], lengths[rows], targets[rows], objective) * weight
        loss.backward()
        value = loss.item()
    all_reduce_gradients(params)
    optimizer.step()
    return all_reduce_sum(value, inputs.device)
