"""Anchor ("prior") generation and box/landmark coding: the one definition shared by runtime and training.

Layout contract (RetinaFace): for each level (stride) in order, for each feature-map cell in row-major order
(y, then x), for each min size of that level, one prior ``(cx, cy, w, h)`` in pixels of the network input.
The model's head tensors list anchors in exactly this order.

Training imports this module (numpy) and converts the priors to tensors; it must never keep a copy of its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class AnchorConfig:
    """Where anchors sit and how offsets are scaled.

    ``min_sizes[i]`` are the square anchor sizes (pixels) at ``strides[i]``. ``variances`` are the
    (centre, size) scale factors of the SSD/RetinaFace box coding.
    """

    strides: tuple[int, ...] = (8, 16, 32)
    min_sizes: tuple[tuple[int, ...], ...] = ((16, 32), (64, 128), (256, 512))
    variances: tuple[float, float] = (0.1, 0.2)
    num_landmarks: int = 5

    def __post_init__(self) -> None:
        if len(self.strides) != len(self.min_sizes):
            raise ValueError("AnchorConfig: one min_sizes tuple per stride is required")

    @property
    def anchors_per_cell(self) -> tuple[int, ...]:
        return tuple(len(s) for s in self.min_sizes)

    @property
    def max_stride(self) -> int:
        return max(self.strides)

    def feature_map_sizes(self, height: int, width: int) -> list[tuple[int, int]]:
        """Feature map (rows, cols) per level: ``ceil(size / stride)``, what stride-2 3x3 convs with padding 1 give."""
        return [(math.ceil(height / s), math.ceil(width / s)) for s in self.strides]

    def num_priors(self, height: int, width: int) -> int:
        return sum(
            rows * cols * len(sizes)
            for (rows, cols), sizes in zip(self.feature_map_sizes(height, width), self.min_sizes)
        )

    def to_dict(self) -> dict:
        return {
            "strides": list(self.strides),
            "min_sizes": [list(s) for s in self.min_sizes],
            "variances": list(self.variances),
            "num_landmarks": self.num_landmarks,
        }

    @classmethod
    def from_dict(cls, data: dict) -> AnchorConfig:
        return cls(
            strides=tuple(int(s) for s in data["strides"]),
            min_sizes=tuple(tuple(int(v) for v in sizes) for sizes in data["min_sizes"]),
            variances=(float(data["variances"][0]), float(data["variances"][1])),
            num_landmarks=int(data.get("num_landmarks", 5)),
        )


@dataclass
class Priors:
    """Priors for one input size, in pixels: ``centers`` (P,2) and ``sizes`` (P,2)."""

    height: int
    width: int
    centers: np.ndarray = field(repr=False)
    sizes: np.ndarray = field(repr=False)

    def __len__(self) -> int:
        return len(self.centers)

    def as_cxcywh(self) -> np.ndarray:
        return np.concatenate([self.centers, self.sizes], axis=1)


def generate_priors(height: int, width: int, config: AnchorConfig = AnchorConfig()) -> Priors:
    """All priors for an input of ``height`` x ``width`` pixels, vectorized."""
    centers, sizes = [], []
    for (rows, cols), stride, min_sizes in zip(
        config.feature_map_sizes(height, width), config.strides, config.min_sizes
    ):
        ys, xs = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
        cell_centers = (np.stack([xs.ravel(), ys.ravel()], axis=1) + 0.5) * stride  # (cells, 2)
        k = len(min_sizes)
        centers.append(np.repeat(cell_centers, k, axis=0))
        cell_sizes = np.asarray(min_sizes, dtype=np.float64)[:, None].repeat(2, axis=1)  # (k, 2)
        sizes.append(np.tile(cell_sizes, (rows * cols, 1)))
    return Priors(
        height=height,
        width=width,
        centers=np.concatenate(centers).astype(np.float32),
        sizes=np.concatenate(sizes).astype(np.float32),
    )


def decode_boxes(deltas: np.ndarray, centers: np.ndarray, sizes: np.ndarray, variances=(0.1, 0.2)) -> np.ndarray:
    """Box deltas (N,4) → xyxy boxes (N,4) in the priors' pixel frame."""
    v_center, v_size = variances
    cxcy = centers + deltas[:, :2] * v_center * sizes
    wh = sizes * np.exp(deltas[:, 2:4] * v_size)
    return np.concatenate([cxcy - wh / 2, cxcy + wh / 2], axis=1)


def decode_landmarks(deltas: np.ndarray, centers: np.ndarray, sizes: np.ndarray, variances=(0.1, 0.2)) -> np.ndarray:
    """Landmark deltas (N, 2K) → points (N, K, 2) in the priors' pixel frame."""
    points = deltas.reshape(len(deltas), -1, 2)
    return centers[:, None, :] + points * variances[0] * sizes[:, None, :]


def encode_boxes(boxes_xyxy: np.ndarray, centers: np.ndarray, sizes: np.ndarray, variances=(0.1, 0.2)) -> np.ndarray:
    """Inverse of :func:`decode_boxes` (used by training targets and by tests)."""
    wh = boxes_xyxy[:, 2:4] - boxes_xyxy[:, :2]
    cxcy = (boxes_xyxy[:, :2] + boxes_xyxy[:, 2:4]) / 2
    return np.concatenate([(cxcy - centers) / (variances[0] * sizes), np.log(wh / sizes) / variances[1]], axis=1)


def encode_landmarks(points: np.ndarray, centers: np.ndarray, sizes: np.ndarray, variances=(0.1, 0.2)) -> np.ndarray:
    """Inverse of :func:`decode_landmarks`: points (N,K,2) → deltas (N,2K)."""
    deltas = (points - centers[:, None, :]) / (variances[0] * sizes[:, None, :])
    return deltas.reshape(len(points), -1)
