"""Process-group set-up for `torchrun` (gloo on CPU, NCCL on GPU) and small collective helpers.

A plain `jrgr train` is a world of one; under torchrun (RANK/WORLD_SIZE/LOCAL_RANK in the environment)
every process joins the group, and only rank 0 logs, draws pictures and writes checkpoints.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from jrgr_deploy.errors import JRGRError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistContext:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def resolve_device(requested: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is an error (never a silent
    fallback)."""
    if requested == "cpu":
        return torch.device("cpu")
    if requested == "cuda" or (requested == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise JRGRError("train.device is 'cuda' but torch sees no CUDA GPU (use train.device=cpu)")
        return torch.device("cuda", local_rank % max(1, torch.cuda.device_count()))
    return torch.device("cpu")


def init_distributed(requested_device: str) -> DistContext:
    """Join the torchrun process group when launched by torchrun; otherwise a world of one."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(requested_device, local_rank)
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
        logger.info("rank %d/%d joined the %s process group on %s", rank, world_size, backend, device)
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank, device=device)


def shutdown_distributed() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def mean_over_ranks(values: dict[str, float], ctx: DistContext) -> dict[str, float]:
    """Average scalar logs over all processes (every rank must call it at the same step)."""
    if not ctx.enabled or not values:
        return values
    keys = sorted(values)
    tensor = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=ctx.device)
    dist.all_reduce(tensor)
    tensor /= ctx.world_size
    return dict(zip(keys, tensor.tolist(), strict=True))


def barrier(ctx: DistContext) -> None:
    if ctx.enabled:
        dist.barrier()


def replica_checksums(modules: list[torch.nn.Module], ctx: DistContext) -> list[float]:
    """Per-rank float64 sum of every parameter (one entry per rank): DDP replicas must agree exactly."""
    total = torch.zeros((), dtype=torch.float64, device=ctx.device)
    for module in modules:
        for p in module.parameters():
            total += p.detach().double().sum() + p.detach().double().abs().sum() * 1e-3
    if not ctx.enabled:
        return [float(total)]
    gathered = [torch.zeros_like(total) for _ in range(ctx.world_size)]
    dist.all_gather(gathered, total)
    return [float(t) for t in gathered]


def any_over_ranks(flag: bool, ctx: DistContext) -> bool:
    """True when `flag` is set on any process (every rank must call it at the same step): decisions that end
    a loop (a stop request, a non-finite loss) must be taken by all ranks together, or the others hang."""
    if not ctx.enabled:
        return flag
    tensor = torch.tensor([1.0 if flag else 0.0], device=ctx.device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return bool(tensor.item() > 0)
