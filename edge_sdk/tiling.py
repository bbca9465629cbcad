"""Tiled detection for tiny faces in large frames.

One global pass sees the whole (letterboxed) frame and finds the large faces; overlapping tiles at native
resolution find the small faces that the global pass shrinks below the model's smallest anchor. A tile's detection
is kept only when it is small enough to have been seen whole by some tile (its longer side at most the overlap) and
does not touch an inner tile edge (where it would be a fragment of a face cut by the tile border). Everything is
merged by the detector's own NMS.
"""

from __future__ import annotations

import math

import numpy as np

from .detections import Detections
from .detector import FaceDetector
from .errors import InvalidArgumentError
from .image import to_bgr_uint8
from .nms import nms


def tile_origins(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size ``tile`` covering ``length`` with at least ``overlap`` shared pixels;
    the last tile is aligned to the end, so every tile is full-size when ``length >= tile``."""
    if length <= tile:
        return [0]
    step = tile - overlap
    count = math.ceil((length - tile) / step) + 1
    return sorted({min(i * step, length - tile) for i in range(count)})


class TiledDetector:
    """Wraps a :class:`FaceDetector` whose ``input_size`` is the tile size (fixed-size models work unchanged).

    Args:
        detector: runs both the global pass and each tile.
        overlap: pixels shared by neighbouring tiles; faces up to this size are always whole in some tile.
        edge_margin: a tile detection closer than this to an inner tile edge is treated as a fragment.
        global_pass: also run the detector on the whole frame (needed for faces larger than ``overlap``).
    """

    def __init__(self, detector: FaceDetector, overlap: int = 128, edge_margin: int = 2, global_pass: bool = True):
        if detector.input_size is None:
            raise InvalidArgumentError("TiledDetector needs a detector with a fixed input_size (the tile size)")
        self.detector = detector
        self.tile_width, self.tile_height = detector.input_size
        if not 0 < overlap < min(self.tile_width, self.tile_height):
            raise InvalidArgumentError(f"overlap must be in (0, tile size), got {overlap!r}")
        if isinstance(edge_margin, bool) or not isinstance(edge_margin, int) or not 0 <= edge_margin < overlap:
            raise InvalidArgumentError(f"edge_margin must be an int in [0, overlap), got {edge_margin!r}")
        self.overlap = overlap
        self.edge_margin = edge_margin
        self.global_pass = global_pass

    def tiles(self, width: int, height: int) -> list[tuple[int, int]]:
        """(x, y) origins of the tiles for a frame of this size (empty when the frame fits in one tile)."""
        if width <= self.tile_width and height <= self.tile_height:
            return []
        return [
            (x, y)
            for y in tile_origins(height, self.tile_height, self.overlap)
            for x in tile_origins(width, self.tile_width, self.overlap)
        ]

    def detect(self, image: object, *, rgb: bool = False) -> Detections:
        frame = to_bgr_uint8(image, self.detector.max_pixels, rgb=rgb)
        height, width = frame.shape[:2]
        origins = self.tiles(width, height)
        parts = [self.detector.detect(frame)] if self.global_pass or not origins else []
        for x, y in origins:
            found = self.detector.detect(frame[y : y + self.tile_height, x : x + self.tile_width])
            keep = self._whole_faces(found, x, y, width, height)
            offset = np.array([x, y], np.float32)
            parts.append(
                Detections(found.boxes[keep] + np.tile(offset, 2), found.scores[keep], found.landmarks[keep] + offset)
            )
        return self._merge(parts)

    def _whole_faces(self, found: Detections, x: int, y: int, width: int, height: int) -> np.ndarray:
        boxes = found.boxes
        small = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) <= self.overlap
        m = self.edge_margin
        tile_w, tile_h = min(self.tile_width, width - x), min(self.tile_height, height - y)
        inner_left, inner_top = x > 0, y > 0  # tile edges that are not the frame's edges
        inner_right, inner_bottom = x + tile_w < width, y + tile_h < height
        touches = (
            (inner_left & (boxes[:, 0] <= m))
            | (inner_top & (boxes[:, 1] <= m))
            | (inner_right & (boxes[:, 2] >= tile_w - m))
            | (inner_bottom & (boxes[:, 3] >= tile_h - m))
        )
        return small & ~touches

    def _merge(self, parts: list[Detections]) -> Detections:
        boxes = np.concatenate([p.boxes for p in parts])
        scores = np.concatenate([p.scores for p in parts])
        landmarks = np.concatenate([p.landmarks for p in parts])
        keep = nms(boxes, scores, self.detector.nms_threshold, self.detector.max_faces)
        return Detections(boxes[keep], scores[keep], landmarks[keep])
