"""Process-group setup for ``torchrun`` (or a single plain process) and the few collectives training needs.

``torchrun --nproc_per_node N [--nnodes M --node_rank R --rdzv_endpoint HOST:PORT] -m training.train ...`` sets
``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``/``MASTER_PORT``; this module reads them (nothing here
launches processes). Device and backend choice, in one place:

* ``device="cuda"`` (or ``"auto"`` with CUDA available): ``cuda:LOCAL_RANK`` and the **NCCL** backend;
* otherwise the CPU and the **gloo** backend.

Without torchrun's environment (plain ``python -m training.train``) no process group is created and the collectives
below are no-ops, so the same code path runs single-process. Under torchrun a process group is created even for one
process (``--nproc_per_node 1``), so NCCL, DDP and SyncBatchNorm conversion are exercised by a one-GPU run.
"""

from __future__ import annotations

import datetime
import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistContext:
    rank: int
    local_rank: int
    world_size: int
    device: torch.device
    backend: str | None  # None: single process, no process group

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.backend is not None


def select_device(requested: str, local_rank: int = 0) -> torch.device:
    """``auto`` → CUDA when available; ``cuda`` fails loudly when it is not."""
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(
                "device 'cuda' requested but torch.cuda.is_available() is False "
                "(a CPU-only torch build, or no visible GPU)"
            )
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    if requested != "cpu":
        raise ValueError(f"device must be auto|cpu|cuda, got {requested!r}")
    return torch.device("cpu")


def launched_by_torchrun() -> bool:
    """True when torchrun (or another launcher that sets its rendezvous variables) started this process."""
    return "WORLD_SIZE" in os.environ and "MASTER_ADDR" in os.environ


def setup(requested_device: str = "auto", timeout_minutes: float = 60.0) -> DistContext:
    """Initialise from the torchrun environment (or single process). The timeout bounds how long processes wait for
    each other, e.g. while rank 0 writes a checkpoint."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = select_device(requested_device, local_rank)
    if not launched_by_torchrun():
        return DistContext(0, 0, 1, device, None)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if not dist.is_initialized():
        kwargs = {"device_id": device} if backend == "nccl" else {}
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=timeout_minutes), **kwargs)
    log.info(
        "process group: backend %s, rank %d/%d, local rank %d, device %s", backend, rank, world_size, local_rank, device
    )
    return DistContext(rank, local_rank, world_size, device, backend)


def cleanup(ctx: DistContext) -> None:
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(tensor: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Sum over processes (in place; returns the tensor)."""
    if ctx.distributed:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def barrier(ctx: DistContext) -> None:
    if ctx.distributed:
        if ctx.backend == "nccl":
            dist.barrier(device_ids=[ctx.local_rank])
        else:
            dist.barrier()


def gather_objects(obj: object, ctx: DistContext) -> list[object]:
    """Every process's ``obj``, in rank order (only meaningful on rank 0; others get the same list)."""
    if not ctx.distributed:
        return [obj]
    out: list[object] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: object, ctx: DistContext) -> object:
    if not ctx.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
