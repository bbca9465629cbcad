"""Torch side of the data pipeline: dataset of (image tensor, matched targets), multi-scale batch sampler, loader.

Reproducibility contract: the batch sampler yields items ``(index, size, epoch)``. The image size of a batch is drawn
from ``(seed, epoch, batch number)`` (identical on every process), and each sample's augmentation from
``(seed, epoch, index)``. The order of indices comes from :class:`torch.utils.data.DistributedSampler` (also used
with one process), whose permutation depends only on ``(seed, epoch)``. Hence the union of the per-process batches
at step ``k`` is exactly the single-process batch at step ``k`` with the same global batch size, independent of the
number of workers — which is what makes DDP runs and resumed runs reproduce uninterrupted single-process runs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from edge_sdk.preprocess import Letterbox, Normalization, make_input
from edge_sdk.priors import AnchorConfig

from .augment import Annotations, augment
from .data import FaceSample
from .matching import build_targets

log = logging.getLogger(__name__)


class FaceDataset(Dataset):
    """Items are ``(index, size, epoch)``; returns the normalised image (3,S,S) and per-prior targets."""

    def __init__(
        self,
        samples: list[FaceSample],
        augment_cfg,
        matching_cfg,
        anchors: AnchorConfig,
        normalization: Normalization,
        seed: int = 0,
        cache_images: bool = False,
    ) -> None:
        self.samples = samples
        self.augment_cfg = augment_cfg
        self.matching_cfg = matching_cfg
        self.anchors = anchors
        self.normalization = normalization
        self.seed = int(seed)
        self.cache: dict[int, np.ndarray] | None = {} if cache_images else None

    def __len__(self) -> int:
        return len(self.samples)

    def load_image(self, index: int) -> np.ndarray:
        if self.cache is not None and index in self.cache:
            return self.cache[index]
        path = self.samples[index].path
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(f"cannot read image {path}")
        if self.cache is not None:
            self.cache[index] = image
        return image

    def prepare(self, index: int, size: int, epoch: int) -> tuple[np.ndarray, Annotations]:
        """Augmented uint8 image (size x size) and its faces, deterministic in (seed, epoch, index)."""
        sample = self.samples[index]
        rng = np.random.default_rng([self.seed, int(epoch), int(index)])
        ann = Annotations(sample.boxes.copy(), sample.landmarks.copy(), sample.has_landmarks.copy())
        return augment(self.load_image(index), ann, int(size), self.augment_cfg, rng, self.normalization.mean)

    def __getitem__(self, item: tuple[int, int, int]) -> dict[str, Any]:
        index, size, epoch = item
        image, ann = self.prepare(index, size, epoch)
        identity = Letterbox(size, size, size, size, size, size)
        tensor = make_input(image, identity, self.normalization)[0]  # the runtime's normalization, one definition
        m = self.matching_cfg
        t = build_targets(
            ann.boxes, ann.landmarks, ann.has_landmarks, size, size, self.anchors, m.pos_iou, m.neg_iou, m.force_min_iou
        )
        return {
            "image": torch.from_numpy(tensor),
            "labels": torch.from_numpy(t.labels),
            "boxes": torch.from_numpy(t.boxes),
            "landmarks": torch.from_numpy(t.landmarks),
            "landmark_mask": torch.from_numpy(t.landmark_mask),
            "num_faces": len(ann.boxes),
            "index": int(index),
        }


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {
        k: torch.stack([it[k] for it in items]) for k in ("image", "labels", "boxes", "landmarks", "landmark_mask")
    }
    out["num_faces"] = torch.tensor([it["num_faces"] for it in items])
    out["index"] = torch.tensor([it["index"] for it in items])
    return out


class MultiScaleBatchSampler(Sampler[list[tuple[int, int, int]]]):
    """Per-process batches of ``(index, size, epoch)`` over a :class:`DistributedSampler`; drops the last partial
    batch. ``set_epoch(epoch, start_batch)`` selects the epoch and skips already-trained batches (resume)."""

    def __init__(self, sampler: DistributedSampler, batch_size: int, sizes: list[int], seed: int) -> None:
        self.sampler = sampler
        self.batch_size = int(batch_size)
        self.sizes = [int(s) for s in sizes]
        self.seed = int(seed)
        self.epoch = 0
        self.start_batch = 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.epoch = int(epoch)
        self.start_batch = int(start_batch)
        self.sampler.set_epoch(self.epoch)

    def size_for(self, batch_number: int) -> int:
        if len(self.sizes) == 1:
            return self.sizes[0]
        rng = np.random.default_rng([self.seed, self.epoch, int(batch_number), 0x5CA1E])
        return self.sizes[int(rng.integers(len(self.sizes)))]

    def __len__(self) -> int:
        return len(self.sampler) // self.batch_size

    def __iter__(self) -> Iterator[list[tuple[int, int, int]]]:
        indices = list(self.sampler)
        for b in range(self.start_batch, len(self)):
            size = self.size_for(b)
            chunk = indices[b * self.batch_size : (b + 1) * self.batch_size]
            yield [(int(i), size, self.epoch) for i in chunk]


def _worker_init(_: int) -> None:
    cv2.setNumThreads(1)  # workers are the parallelism; OpenCV threads would oversubscribe the CPUs
    torch.set_num_threads(1)


def build_loader(
    dataset: FaceDataset,
    global_batch: int,
    sizes: list[int],
    seed: int,
    rank: int,
    world_size: int,
    num_workers: int,
    pin_memory: bool,
) -> tuple[DataLoader, MultiScaleBatchSampler]:
    """Loader of per-process batches (``global_batch / world_size`` images each)."""
    if global_batch % world_size:
        raise ValueError(f"train.batch_size {global_batch} is not divisible by the {world_size} processes")
    per_rank = global_batch // world_size
    sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=True)
    batches = MultiScaleBatchSampler(sampler, per_rank, sizes, seed)
    if len(batches) == 0:
        raise ValueError(f"{len(dataset)} images are fewer than one global batch of {global_batch}")
    # Workers come from a fork server, not a fork of this process: by the time the first batch is drawn the trainer
    # may have run OpenCV's and torch's thread pools (the evaluation at step 0), and a fork of a process whose pools
    # ran deadlocks in the child (seen on a 16-core CUDA machine: no step after the first evaluation). Persistent:
    # the workers start once per run, not once per epoch.
    loader = DataLoader(
        dataset,
        batch_sampler=batches,
        collate_fn=collate,
        num_workers=num_workers,
        pin_memory=pin_memory,
        worker_init_fn=_worker_init if num_workers else None,
        multiprocessing_context="forkserver" if num_workers else None,
        persistent_workers=num_workers > 0,
    )
    return loader, batches
