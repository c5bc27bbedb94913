"""torch.distributed for bulk runs: one process or torchrun's ranks, a device per rank, counts summed across ranks."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Context:
    rank: int
    world: int
    device: torch.device

    @property
    def distributed(self) -> bool:
        return self.world > 1


def setup() -> Context:
    """Join torchrun's process group if launched by it (WORLD_SIZE > 1): nccl on CUDA (device cuda:LOCAL_RANK),
    gloo on CPU. A plain `python -m robust_synth.bulk` is rank 0 of 1 and needs no process group."""
    world, rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        device = torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                **({"device_id": device} if device.type == "cuda" else {}))
    return Context(rank, world, device)


def _reduce(ctx: Context, values: list[int], op) -> list[int]:
    if not ctx.distributed:
        return list(values)
    t = torch.tensor(values, dtype=torch.int64, device=ctx.device)
    dist.all_reduce(t, op=op)
    return [int(v) for v in t.tolist()]


def sum_counts(ctx: Context, values: list[int]) -> list[int]:
    """Element-wise sums over all ranks (every rank must call it the same number of times)."""
    return _reduce(ctx, values, dist.ReduceOp.SUM)


def max_count(ctx: Context, value: int) -> int:
    return _reduce(ctx, [value], dist.ReduceOp.MAX)[0]


def barrier(ctx: Context) -> None:
    if ctx.distributed:
        dist.barrier()


def close(ctx: Context) -> None:
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()
