"""Stable face identities across video frames: ByteTrack-style association on IoU with a constant-velocity Kalman
motion model, in numpy.

Each frame's faces are matched to the tracks in two passes, as ByteTrack does: confident faces first (IoU with the
tracks' predicted boxes), then the remaining tracks against the low-score faces — a face that blur or occlusion
pushed below the confident level keeps its identity instead of starting a new one. A third pass, OC-SORT's
observation-centric recovery, matches what is left against the lost tracks' last observed boxes, so a face that
stops or reappears where it was lost is recognised although the motion model extrapolated it away
(``lost_velocity_decay`` < 1 also damps that extrapolation: for fixed cameras where people stop and turn).
Unmatched confident faces start tracks; a track unmatched for
``track_buffer`` frames is dropped. ``hold_frames`` reports a lost track's predicted
box for a few frames (what a privacy blur needs through a missed detection); ``smooth`` reports the filtered box
instead of the raw one.

Why not a library: the trackers on PyPI that implement ByteTrack either need torch (boxmot) or bring scipy,
matplotlib and pillow into the runtime (supervision); the runtime's budget is numpy + OpenCV. Matching is greedy on
IoU (highest first) instead of the Hungarian method: with faces, which rarely overlap, the two agree, and the
runtime has no assignment solver.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .detections import NO_TRACK, Detections
from .errors import InvalidArgumentError


@dataclass(frozen=True)
class TrackerConfig:
    """ByteTrack's knobs. Scores are the detector's face probabilities."""

    high_score: float = 0.6  # faces at or above this take part in the first pass and may start tracks
    first_iou: float = 0.2  # least IoU for a first-pass match (ByteTrack: cost 1 - IoU <= 0.8)
    second_iou: float = 0.5  # least IoU for the second pass (low-score faces)
    new_track_score: float = 0.7  # an unmatched face starts a track only this confident
    track_buffer: int = 30  # frames a lost track is kept for re-identification
    lost_velocity_decay: float = 1.0  # a lost track's velocity is multiplied by this per missed frame (ByteTrack: 1)
    hold_frames: int = 0  # frames a lost track's predicted box is still reported (0: only matched faces)
    smooth: bool = False  # report the Kalman-filtered box instead of the detector's

    def __post_init__(self) -> None:
        for name in ("high_score", "first_iou", "second_iou", "new_track_score", "lost_velocity_decay"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise InvalidArgumentError(f"{name} must be in [0, 1], got {value!r}")
        for name in ("track_buffer", "hold_frames"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidArgumentError(f"{name} must be an int >= 0, got {value!r}")


class _Kalman:
    """Constant-velocity Kalman filter on (cx, cy, w, h) for many tracks at once: state (N, 8), covariance (N, 8, 8).
    Noise scales with the box height, as in SORT/ByteTrack."""

    _F = np.eye(8)
    _F[:4, 4:] = np.eye(4)
    _H = np.eye(4, 8)
    _POS, _VEL = 1.0 / 20, 1.0 / 160

    @classmethod
    def initiate(cls, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z = _to_cxcywh(boxes)
        mean = np.concatenate([z, np.zeros_like(z)], axis=1)
        h = z[:, 3:4]
        std = np.concatenate([2 * cls._POS * h.repeat(4, 1), 10 * cls._VEL * h.repeat(4, 1)], axis=1)
        return mean, np.stack([np.diag(s**2) for s in std]) if len(std) else np.zeros((0, 8, 8))

    @classmethod
    def predict(cls, mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not len(mean):
            return mean, cov
        h = np.maximum(mean[:, 3:4], 1.0)
        std = np.concatenate([cls._POS * h.repeat(4, 1), cls._VEL * h.repeat(4, 1)], axis=1)
        mean = mean @ cls._F.T
        cov = cls._F @ cov @ cls._F.T + np.stack([np.diag(s**2) for s in std])
        return mean, cov

    @classmethod
    def update(cls, mean: np.ndarray, cov: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z = _to_cxcywh(boxes)
        h = np.maximum(mean[:, 3:4], 1.0)
        r = np.stack([np.diag(s**2) for s in (cls._POS * h.repeat(4, 1))])
        s = cls._H @ cov @ cls._H.T + r
        gain = cov @ cls._H.T @ np.linalg.inv(s)
        mean = mean + (gain @ (z - mean @ cls._H.T)[:, :, None])[:, :, 0]
        cov = cov - gain @ cls._H @ cov
        return mean, cov


class FaceTracker:
    """Assigns track ids to each frame's :class:`Detections`; call :meth:`update` once per frame, in order."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self._next_id = 1
        self._ids = np.zeros(0, dtype=np.int64)
        self._mean = np.zeros((0, 8))
        self._cov = np.zeros((0, 8, 8))
        self._missed = np.zeros(0, dtype=np.int64)  # frames since the last match
        self._last = Detections.empty()  # each track's last matched face (box, score, landmarks), row = track

    @property
    def active_tracks(self) -> int:
        return len(self._ids)

    def update(self, faces: Detections) -> Detections:
        """This frame's faces with ``track_ids`` set (plus held predictions of lost tracks, see ``hold_frames``)."""
        cfg = self.config
        self._mean, self._cov = _Kalman.predict(self._mean, self._cov)
        predicted = _to_xyxy(self._mean[:, :4])
        face_ids = np.full(len(faces), NO_TRACK, dtype=np.int64)
        unmatched_tracks = np.arange(len(self._ids))
        confident = np.flatnonzero(faces.scores >= cfg.high_score)
        weak = np.flatnonzero(faces.scores < cfg.high_score)
        matches: list[tuple[int, int]] = []
        passes = (
            (confident, predicted, cfg.first_iou),
            (weak, predicted, cfg.second_iou),
            (confident, self._last.boxes, cfg.first_iou),
        )  # the last: recovery on the last observed boxes
        for candidates, track_boxes, least_iou in passes:
            taken_faces = {f for _, f in matches}
            candidates = np.array([f for f in candidates if f not in taken_faces], dtype=np.intp)
            pairs = _greedy_iou_match(track_boxes[unmatched_tracks], faces.boxes[candidates], least_iou)
            matches += [(int(unmatched_tracks[t]), int(candidates[f])) for t, f in pairs]
            taken = {t for t, _ in pairs}
            unmatched_tracks = np.array([t for k, t in enumerate(unmatched_tracks) if k not in taken], dtype=np.intp)

        if matches:
            tracks, rows = (np.array(v, dtype=np.intp) for v in zip(*matches))
            self._mean[tracks], self._cov[tracks] = _Kalman.update(
                self._mean[tracks], self._cov[tracks], faces.boxes[rows]
            )
            self._missed[tracks] = 0
            face_ids[rows] = self._ids[tracks]
            boxes, scores, landmarks = (a.copy() for a in (self._last.boxes, self._last.scores, self._last.landmarks))
            boxes[tracks], scores[tracks], landmarks[tracks] = (
                faces.boxes[rows],
                faces.scores[rows],
                faces.landmarks[rows],
            )
            self._last = Detections(boxes, scores, landmarks)
        self._missed[unmatched_tracks] += 1
        self._mean[unmatched_tracks, 4:] *= cfg.lost_velocity_decay

        matched_rows = {f for _, f in matches}
        born = [f for f in confident if f not in matched_rows and faces.scores[f] >= cfg.new_track_score]
        if born:
            rows = np.array(born, dtype=np.intp)
            new_ids = np.arange(self._next_id, self._next_id + len(rows), dtype=np.int64)
            self._next_id += len(rows)
            mean, cov = _Kalman.initiate(faces.boxes[rows])
            self._ids = np.concatenate([self._ids, new_ids])
            self._mean, self._cov = np.concatenate([self._mean, mean]), np.concatenate([self._cov, cov])
            self._missed = np.concatenate([self._missed, np.zeros(len(rows), dtype=np.int64)])
            self._last = Detections(
                np.concatenate([self._last.boxes, faces.boxes[rows]]),
                np.concatenate([self._last.scores, faces.scores[rows]]),
                np.concatenate([self._last.landmarks, faces.landmarks[rows]]),
            )
            face_ids[rows] = new_ids

        result = self._report(faces, face_ids)
        self._forget(self._missed <= cfg.track_buffer)
        return result

    def _report(self, faces: Detections, face_ids: np.ndarray) -> Detections:
        cfg = self.config
        boxes = faces.boxes
        if cfg.smooth and len(faces):
            index = {int(t): k for k, t in enumerate(self._ids)}
            rows = [k for k, t in enumerate(face_ids) if t != NO_TRACK]
            boxes = boxes.copy()
            if rows:
                boxes[rows] = _to_xyxy(self._mean[[index[int(face_ids[k])] for k in rows], :4]).astype(np.float32)
        out = Detections(boxes, faces.scores, faces.landmarks, face_ids)
        held = np.flatnonzero((self._missed >= 1) & (self._missed <= cfg.hold_frames))
        if not len(held):
            return out
        predicted = _to_xyxy(self._mean[held, :4]).astype(np.float32)
        last_boxes = self._last.boxes[held]
        shift = (predicted[:, :2] + predicted[:, 2:]) / 2 - (last_boxes[:, :2] + last_boxes[:, 2:]) / 2
        landmarks = self._last.landmarks[held] + shift[:, None, :]
        combined = Detections(
            np.concatenate([out.boxes, predicted]),
            np.concatenate([out.scores, self._last.scores[held]]),
            np.concatenate([out.landmarks, landmarks]),
            np.concatenate([out.track_ids, self._ids[held]]),
        )
        return combined[np.argsort(-combined.scores, kind="stable")]

    def _forget(self, keep: np.ndarray) -> None:
        if keep.all():
            return
        self._ids, self._mean, self._cov, self._missed = (
            a[keep] for a in (self._ids, self._mean, self._cov, self._missed)
        )
        self._last = self._last[keep]


def _greedy_iou_match(tracks: np.ndarray, faces: np.ndarray, least_iou: float) -> list[tuple[int, int]]:
    """(track row, face row) pairs, highest IoU first, each row used once, IoU >= ``least_iou``."""
    if not len(tracks) or not len(faces):
        return []
    iou = _iou_matrix(tracks, faces)
    pairs: list[tuple[int, int]] = []
    for flat in np.argsort(-iou, axis=None, kind="stable"):
        t, f = divmod(int(flat), iou.shape[1])
        if iou[t, f] < least_iou:
            break
        if np.isfinite(iou[t, f]):
            pairs.append((t, f))
            iou[t, :] = -np.inf
            iou[:, f] = -np.inf
    return pairs


def _iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a[:, None, :].astype(np.float64), b[None, :, :].astype(np.float64)
    w = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    h = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = w * h
    area = lambda x: (x[..., 2] - x[..., 0]) * (x[..., 3] - x[..., 1])  # noqa: E731
    return inter / np.maximum(area(a) + area(b) - inter, 1e-9)


def _to_cxcywh(boxes: np.ndarray) -> np.ndarray:
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], axis=1)


def _to_xyxy(cxcywh: np.ndarray) -> np.ndarray:
    c = np.asarray(cxcywh, dtype=np.float64).reshape(-1, 4)
    half = np.maximum(c[:, 2:], 0) / 2
    return np.concatenate([c[:, :2] - half, c[:, :2] + half], axis=1)
