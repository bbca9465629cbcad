"""Vectorized non-maximum suppression (numpy only)."""

from __future__ import annotations

import numpy as np

_BLOCK = 64  # boxes resolved per step; each step is one (kept x remaining) IoU matrix
_AFTER = np.triu(np.ones((_BLOCK, _BLOCK), dtype=bool), 1)  # [i, j]: j comes after i (np.triu per call costs more)


def box_area(boxes: np.ndarray) -> np.ndarray:
    # np.maximum, not np.clip: the same values (NaN included) for a fraction of the call overhead
    return np.maximum(boxes[:, 2] - boxes[:, 0], 0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0)


def pairwise_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (len(a), len(b)) of xyxy boxes (continuous coordinates, no +1)."""
    return _iou(a, b, box_area(a), box_area(b))


def _iou(a: np.ndarray, b: np.ndarray, area_a: np.ndarray, area_b: np.ndarray) -> np.ndarray:
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.maximum(iw, 0) * np.maximum(ih, 0)
    union = area_a[:, None] + area_b[None, :] - inter
    return inter / np.maximum(union, 1e-12)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, max_output: int | None = None) -> np.ndarray:
    """Exact greedy NMS. Returns indices of kept boxes, highest score first.

    A box is dropped when its IoU with a higher-scored kept box is strictly greater than ``iou_threshold``
    (the torchvision / OpenCV convention). Boxes are resolved in blocks of the highest-scored survivors: the block
    is settled greedily on its small IoU matrix, then its kept boxes suppress all lower-scored survivors with one
    (kept x remaining) IoU matrix. Equivalent to one-at-a-time greedy NMS with far fewer numpy calls (which is
    what costs at the few dozen candidates of a typical frame: the areas are computed once, up front).
    """
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(-scores, kind="stable")
    remaining = boxes[order].astype(np.float32, copy=False)
    remaining_area = box_area(remaining)
    remaining_index = order
    kept: list[np.ndarray] = []
    n_kept = 0
    while len(remaining):
        head, head_area, head_index = remaining[:_BLOCK], remaining_area[:_BLOCK], remaining_index[:_BLOCK]
        n = len(head)
        keep = _greedy((_iou(head, head, head_area, head_area) > iou_threshold) & _AFTER[:n, :n])
        kept.append(head_index[keep])
        n_kept += int(np.count_nonzero(keep))
        if max_output is not None and n_kept >= max_output:
            break
        if len(remaining) <= _BLOCK:
            break
        remaining, remaining_area, remaining_index = (
            remaining[_BLOCK:],
            remaining_area[_BLOCK:],
            remaining_index[_BLOCK:],
        )
        survivors = ~(_iou(head[keep], remaining, head_area[keep], remaining_area) > iou_threshold).any(axis=0)
        remaining, remaining_area, remaining_index = (
            remaining[survivors],
            remaining_area[survivors],
            remaining_index[survivors],
        )
    result = kept[0] if len(kept) == 1 else np.concatenate(kept)
    return result if max_output is None else result[:max_output]


def _greedy(suppresses: np.ndarray) -> np.ndarray:
    """Greedy NMS inside one block, from ``suppresses[i, j]``: box i (higher score) overlaps box j > the threshold,
    for i < j only. Box j is kept iff no kept box before it suppresses it; that condition has exactly one solution,
    so iterating it from "all kept" until nothing changes reaches the greedy answer, in as many passes as the
    longest chain of suppressions (a few; the one-box-at-a-time loop needs one pass per box)."""
    keep = np.ones(len(suppresses), dtype=bool)
    while True:
        updated = ~suppresses[keep].any(axis=0)
        if (updated == keep).all():
            return keep
        keep = updated
