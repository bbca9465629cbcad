"""Raw head tensors → faces in original pixels: score filter, top-k, decode only the survivors, NMS, undo the
letterbox, clip. Shared by :class:`edge_sdk.FaceDetector` and the training-time evaluator (one definition)."""

from __future__ import annotations

import numpy as np

from .detections import Detections
from .nms import nms
from .preprocess import Letterbox
from .priors import Priors, decode_boxes, decode_landmarks

PRE_NMS_TOP_K = 5000  # candidates kept (by score) before NMS, as in the RetinaFace reference


def face_scores(scores: np.ndarray, activation: str = "softmax") -> np.ndarray:
    """One image's face probability per anchor, from its ``scores`` head as the manifest's ``score_activation``
    declares it: "softmax": (P, 2) probabilities (background, face) from the softmax inside the graph, the face is
    column 1; "sigmoid": (P, 1) face logits, squashed here. A (P,) array is taken as face probabilities already."""
    if scores.ndim == 1:
        return scores
    if activation == "softmax":
        return scores[:, 1]
    if activation == "sigmoid":
        return (0.5 * (1.0 + np.tanh(0.5 * scores[:, -1].astype(np.float32)))).astype(np.float32)  # overflow-free
    raise ValueError(f"unknown score activation {activation!r} (known: softmax, sigmoid)")


def decode_detections(
    box_deltas: np.ndarray,
    scores: np.ndarray,
    landmark_deltas: np.ndarray,
    priors: Priors,
    letterbox: Letterbox,
    score_threshold: float,
    nms_threshold: float,
    variances: tuple[float, float] = (0.1, 0.2),
    max_faces: int | None = None,
    score_activation: str = "softmax",
) -> Detections:
    """One image's heads: ``box_deltas`` (P,4), ``scores`` (see :func:`face_scores`; ``score_activation`` from the
    manifest), ``landmark_deltas`` (P,2K); ``priors`` for the letterbox canvas."""
    face = face_scores(scores, score_activation)
    if len(priors) != len(face):
        raise ValueError(f"{len(face)} anchors in the model output, {len(priors)} priors for the canvas")
    candidates = np.nonzero(face >= score_threshold)[0]
    if len(candidates) == 0:
        return Detections.empty()
    if len(candidates) > PRE_NMS_TOP_K:
        candidates = candidates[np.argpartition(-face[candidates], PRE_NMS_TOP_K)[:PRE_NMS_TOP_K]]
    centers, sizes = priors.centers[candidates], priors.sizes[candidates]
    boxes = decode_boxes(box_deltas[candidates], centers, sizes, variances)
    cand_scores = face[candidates]

    keep = nms(boxes, cand_scores, nms_threshold, max_faces)
    # landmarks only for the faces NMS kept (elementwise: the same values as decoding every candidate)
    landmarks = decode_landmarks(landmark_deltas[candidates[keep]], centers[keep], sizes[keep], variances)
    boxes = letterbox.boxes_to_original(boxes[keep])
    landmarks = letterbox.to_original(landmarks)
    bounds = np.array([letterbox.src_width, letterbox.src_height] * 2, dtype=boxes.dtype)
    np.minimum(np.maximum(boxes, 0, out=boxes), bounds, out=boxes)  # np.clip's values, fewer calls
    scores = cand_scores[keep]
    nonempty = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    if not nonempty.all():
        boxes, scores, landmarks = boxes[nonempty], scores[nonempty], landmarks[nonempty]
    return Detections(
        boxes=boxes.astype(np.float32, copy=False),
        scores=scores.astype(np.float32, copy=False),
        landmarks=landmarks.astype(np.float32, copy=False),
    )
