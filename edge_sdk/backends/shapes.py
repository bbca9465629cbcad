"""Bounded input shapes for dynamic-shape models: pad an input up to a coarse "bucket" shape before the runtime sees
it, and crop the raw outputs back to the anchors of the input as given.

Why: OpenVINO's CPU plugin prepares kernels and memory per input shape and pays for every shape change; a stream of
frames of ever-new sizes (a folder of photos, resized crops) made it grow ~100-150 MB and run 2-3.5x slower than
ONNX Runtime. Rounding H and W up to a multiple of 128 leaves a handful of shapes, which its shape cache then holds;
:class:`ShapeBuckets` coarsens the multiple when a stream still uses more shapes than that cache.

Why cropping is exact up to padding: the padding is zero (the normalized mean), like the letterbox's own padding;
anchors are laid out level by level, row-major, ``k`` per cell (docs/MODEL_CONTRACT.md §5), and the cell ``(y, x)``
of a level sits at the same place in the padded input, so the anchors of the given input are a fixed sub-grid of
the padded input's. Only features within a receptive field of the right/bottom edge see padding instead of the
convolutions' own zero border: the same padding equivalence as the letterbox's rounding to a multiple of 32.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from functools import lru_cache

import numpy as np

from ..priors import AnchorConfig

# Canvas sides are rounded up to a multiple of this (640x480 → 640x512, 1280x720 → 1280x768; frames of 40-720 px
# give 6 x 6 shapes).
SHAPE_MULTIPLE = 128


def bucket_shape(height: int, width: int, multiple: int = SHAPE_MULTIPLE) -> tuple[int, int]:
    """``(height, width)`` rounded up to a multiple of ``multiple``."""
    return math.ceil(height / multiple) * multiple, math.ceil(width / multiple) * multiple


def pad_to(
    tensor: np.ndarray, height: int, width: int, layout: str = "NCHW", fill: np.ndarray | float = 0.0
) -> np.ndarray:
    """An (N, C, h, w) tensor (or (N, h, w, C) for ``layout="NHWC"``) padded at the bottom/right to ``height`` x
    ``width`` with ``fill`` (per channel, or one value): the normalized mean, so the padding is the letterbox's."""
    channels_last = layout == "NHWC"
    n, h, w = (tensor.shape[0], *tensor.shape[1:3]) if channels_last else (tensor.shape[0], *tensor.shape[2:4])
    if (h, w) == (height, width):
        return tensor
    if channels_last:
        padded = np.empty((n, height, width, tensor.shape[3]), dtype=tensor.dtype)
        padded[...] = fill
        padded[:, :h, :w] = tensor
        return padded
    padded = np.empty((n, tensor.shape[1], height, width), dtype=tensor.dtype)
    padded[...] = np.reshape(fill, (-1, 1, 1)) if np.ndim(fill) else fill
    padded[:, :, :h, :w] = tensor
    return padded


class ShapeBuckets:
    """The bucket shape of each input: H and W rounded up to ``multiple``; an LRU of the bucket shapes in use.

    When a new shape would make more than ``capacity`` shapes in use (the runtime's shape cache), the multiple
    doubles (up to ``max_multiple``) and the record starts over, so a stream of many sizes settles on few, coarser
    shapes; a stream of few sizes keeps the fine ones. The multiple never shrinks back (no oscillation).
    """

    def __init__(self, multiple: int = SHAPE_MULTIPLE, capacity: int = 16, max_multiple: int = 4 * SHAPE_MULTIPLE):
        self.multiple, self.capacity, self.max_multiple = multiple, capacity, max_multiple
        self.in_use: OrderedDict[tuple[int, int], None] = OrderedDict()

    def shape_for(self, height: int, width: int) -> tuple[int, int]:
        shape = bucket_shape(height, width, self.multiple)
        if shape not in self.in_use and len(self.in_use) >= self.capacity:
            if self.multiple < self.max_multiple:
                self.multiple *= 2
                self.in_use.clear()
                shape = bucket_shape(height, width, self.multiple)
            else:
                self.in_use.popitem(last=False)
        self.in_use[shape] = None
        self.in_use.move_to_end(shape)
        return shape


@lru_cache(maxsize=64)
def anchor_subset(anchors: AnchorConfig, height: int, width: int, padded_height: int, padded_width: int) -> np.ndarray:
    """Indices, into the anchors of a ``padded_height`` x ``padded_width`` input, of the anchors of the
    ``height`` x ``width`` input in its top-left corner, in the given input's own anchor order."""
    parts, offset = [], 0
    for (rows, cols), (padded_rows, padded_cols), k in zip(
        anchors.feature_map_sizes(height, width),
        anchors.feature_map_sizes(padded_height, padded_width),
        anchors.anchors_per_cell,
    ):
        grid = np.arange(padded_rows * padded_cols * k).reshape(padded_rows, padded_cols, k)
        parts.append(offset + grid[:rows, :cols].ravel())
        offset += padded_rows * padded_cols * k
    return np.concatenate(parts)


def crop_outputs(
    outputs: list[np.ndarray], anchors: AnchorConfig, height: int, width: int, padded_height: int, padded_width: int
) -> list[np.ndarray]:
    """Raw (N, P_padded, D) head tensors of a padded input → those of the ``height`` x ``width`` input."""
    if (height, width) == (padded_height, padded_width):
        return outputs
    index = anchor_subset(anchors, height, width, padded_height, padded_width)
    return [np.take(out, index, axis=1) for out in outputs]
