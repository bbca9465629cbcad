"""Bounded input shapes for dynamic-shape models: pad an input up to a coarse "bucket" shape before the runtime sees
it, and crop the raw outputs back to the anchors of the input as given.

Why: OpenVINO's CPU plugin prepares kernels and memory per input shape and pays for every shape change; a stream of
frames of ever-new sizes (a folder of photos, resized crops) made it grow ~150 MB and run 3-5x slower than ONNX
Runtime. Rounding H and W up to a multiple of 128 leaves a handful of shapes, which its shape cache then holds.

Why cropping is exact up to padding: the padding is zero (the normalized mean), like the letterbox's own padding;
anchors are laid out level by level, row-major, ``k`` per cell (docs/MODEL_CONTRACT.md §5), and the cell ``(y, x)``
of a level sits at the same place in the padded input, so the anchors of the given input are a fixed sub-grid of
the padded input's. Only features within a receptive field of the right/bottom edge see padding instead of the
convolutions' own zero border: the same padding equivalence as the letterbox's rounding to a multiple of 32.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from ..priors import AnchorConfig

# Canvas sides are rounded up to a multiple of this (640x480 → 640x512, 1280x720 → 1280x768; frames of 40-720 px
# give 6 x 6 shapes).
SHAPE_MULTIPLE = 128


def bucket_shape(height: int, width: int, multiple: int = SHAPE_MULTIPLE) -> tuple[int, int]:
    """``(height, width)`` rounded up to a multiple of ``multiple``."""
    return math.ceil(height / multiple) * multiple, math.ceil(width / multiple) * multiple


def pad_to(tensor: np.ndarray, height: int, width: int) -> np.ndarray:
    """An (N, C, h, w) tensor zero-padded at the bottom/right to (N, C, ``height``, ``width``)."""
    n, c, h, w = tensor.shape
    if (h, w) == (height, width):
        return tensor
    padded = np.zeros((n, c, height, width), dtype=tensor.dtype)
    padded[:, :, :h, :w] = tensor
    return padded


@lru_cache(maxsize=64)
def anchor_subset(anchors: AnchorConfig, height: int, width: int, padded_height: int, padded_width: int) -> np.ndarray:
    """Indices, into the anchors of a ``padded_height`` x ``padded_width`` input, of the anchors of the
    ``height`` x ``width`` input in its top-left corner, in the given input's own anchor order."""
    parts, offset = [], 0
    for (rows, cols), (padded_rows, padded_cols), k in zip(anchors.feature_map_sizes(height, width),
                                                         anchors.feature_map_sizes(padded_height, padded_width),
                                                         anchors.anchors_per_cell):
        grid = np.arange(padded_rows * padded_cols * k).reshape(padded_rows, padded_cols, k)
        parts.append(offset + grid[:rows, :cols].ravel())
        offset += padded_rows * padded_cols * k
    return np.concatenate(parts)


def crop_outputs(outputs: list[np.ndarray], anchors: AnchorConfig, height: int, width: int, padded_height: int,
                 padded_width: int) -> list[np.ndarray]:
    """Raw (N, P_padded, D) head tensors of a padded input → those of the ``height`` x ``width`` input."""
    if (height, width) == (padded_height, padded_width):
        return outputs
    index = anchor_subset(anchors, height, width, padded_height, padded_width)
    return [np.take(out, index, axis=1) for out in outputs]
