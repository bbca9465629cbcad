"""Prior ↔ face matching and regression targets, in numpy, on the runtime's own priors and box coding.

Priors come from :func:`edge_sdk.priors.generate_priors` and targets from :func:`edge_sdk.priors.encode_boxes` /
:func:`edge_sdk.priors.encode_landmarks` — the exact functions the runtime inverts with ``decode_*`` — so training
and inference cannot drift apart. Matching runs per image in the data-loading workers (plain numpy), which keeps the
GPU free and needs no second (torch) copy of the box coding.

Rule (RetinaFace / SSD): each prior takes the face of highest IoU; it is positive when that IoU >= ``pos_iou``,
negative when < ``neg_iou``, ignored in between. Each face then claims its own best prior when that IoU >=
``force_min_iou`` (so small or oddly shaped faces still get one positive), overriding the prior's assignment.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from edge_sdk.priors import AnchorConfig, Priors, encode_boxes, encode_landmarks, generate_priors

POSITIVE, NEGATIVE, IGNORE = 1, 0, -1
_CHUNK = 256  # faces per IoU block (bounds memory for crowded images)


@dataclass
class Targets:
    """Per-prior training targets of one image (P priors)."""

    labels: np.ndarray  # (P,) int64: 1 face, 0 background, -1 ignored
    boxes: np.ndarray  # (P, 4) float32 encoded deltas (zeros where not positive)
    landmarks: np.ndarray  # (P, 2K) float32 encoded deltas (zeros where not used)
    landmark_mask: np.ndarray  # (P,) bool: positive and its face has landmarks


@lru_cache(maxsize=16)
def priors_for(height: int, width: int, anchors: AnchorConfig) -> tuple[Priors, np.ndarray]:
    """Priors for an input size and their xyxy corners (cached per size)."""
    priors = generate_priors(height, width, anchors)
    corners = np.concatenate([priors.centers - priors.sizes / 2, priors.centers + priors.sizes / 2], axis=1)
    return priors, corners


def _iou_block(faces: np.ndarray, priors_xyxy: np.ndarray) -> np.ndarray:
    """IoU (faces x priors) in continuous coordinates (no +1), float32."""
    iw = np.minimum(faces[:, None, 2], priors_xyxy[None, :, 2]) - np.maximum(faces[:, None, 0], priors_xyxy[None, :, 0])
    ih = np.minimum(faces[:, None, 3], priors_xyxy[None, :, 3]) - np.maximum(faces[:, None, 1], priors_xyxy[None, :, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    area_f = (faces[:, 2] - faces[:, 0]) * (faces[:, 3] - faces[:, 1])
    area_p = (priors_xyxy[:, 2] - priors_xyxy[:, 0]) * (priors_xyxy[:, 3] - priors_xyxy[:, 1])
    return inter / np.maximum(area_f[:, None] + area_p[None, :] - inter, 1e-12)


def match(
    faces_xyxy: np.ndarray,
    priors_xyxy: np.ndarray,
    pos_iou: float = 0.35,
    neg_iou: float = 0.35,
    force_min_iou: float = 0.2,
) -> tuple[np.ndarray, np.ndarray]:
    """Labels (P,) in {1, 0, -1} and the matched face index per prior (P,) (meaningful where label is 1)."""
    n_priors = len(priors_xyxy)
    faces = np.asarray(faces_xyxy, dtype=np.float32).reshape(-1, 4)
    labels = np.full(n_priors, NEGATIVE, dtype=np.int64)
    matched = np.zeros(n_priors, dtype=np.int64)
    if len(faces) == 0:
        return labels, matched
    best_iou = np.full(n_priors, -1.0, dtype=np.float32)
    best_prior = np.empty(len(faces), dtype=np.int64)
    best_prior_iou = np.empty(len(faces), dtype=np.float32)
    for start in range(0, len(faces), _CHUNK):
        iou = _iou_block(faces[start : start + _CHUNK], priors_xyxy)
        j = iou.argmax(axis=0)
        value = iou[j, np.arange(n_priors)]
        better = value > best_iou  # strict: the first face wins ties, like argmax over all faces
        best_iou[better], matched[better] = value[better], j[better] + start
        best_prior[start : start + len(iou)] = iou.argmax(axis=1)
        best_prior_iou[start : start + len(iou)] = iou.max(axis=1)
    labels[best_iou >= pos_iou] = POSITIVE
    labels[(best_iou >= neg_iou) & (best_iou < pos_iou)] = IGNORE
    forced = np.flatnonzero(best_prior_iou >= force_min_iou)
    # Sequential semantics (a later face wins a shared best prior), as the reference loop.
    matched[best_prior[forced]] = forced
    labels[best_prior[forced]] = POSITIVE
    return labels, matched


def build_targets(
    boxes: np.ndarray,
    landmarks: np.ndarray,
    has_landmarks: np.ndarray,
    height: int,
    width: int,
    anchors: AnchorConfig,
    pos_iou: float = 0.35,
    neg_iou: float = 0.35,
    force_min_iou: float = 0.2,
) -> Targets:
    """Match faces (network-input pixels) to the priors of a ``height x width`` input and encode the positives."""
    priors, corners = priors_for(height, width, anchors)
    labels, matched = match(boxes, corners, pos_iou, neg_iou, force_min_iou)
    n, k2 = len(priors), 2 * anchors.num_landmarks
    box_t = np.zeros((n, 4), np.float32)
    lm_t = np.zeros((n, k2), np.float32)
    lm_mask = np.zeros(n, dtype=bool)
    pos = np.flatnonzero(labels == POSITIVE)
    if len(pos):
        centers, sizes = priors.centers[pos], priors.sizes[pos]
        face = matched[pos]
        box_t[pos] = encode_boxes(np.asarray(boxes, np.float32)[face], centers, sizes, anchors.variances)
        with_lm = np.asarray(has_landmarks, bool)[face]
        if with_lm.any():
            lm_pos = pos[with_lm]
            lm_t[lm_pos] = encode_landmarks(
                np.asarray(landmarks, np.float32)[face[with_lm]], centers[with_lm], sizes[with_lm], anchors.variances
            )
            lm_mask[lm_pos] = True
    return Targets(labels=labels, boxes=box_t, landmarks=lm_t, landmark_mask=lm_mask)
