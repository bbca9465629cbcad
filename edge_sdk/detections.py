"""Detection results: arrays first (fast, vectorized), per-face records on demand, numpy-style indexing, and crops /
5-point alignment for handing faces to a recognizer."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

from .errors import InvalidArgumentError

#: Landmark order. "left"/"right" are as seen in the image (viewer's left), i.e. point 0 is the subject's right
#: eye. This is the RetinaFace label order and also YuNet's (OpenCV FaceDetectorYN) order.
LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "left_mouth", "right_mouth")

#: The 112x112 five-point template face recognizers are trained on (ArcFace / InsightFace ``norm_crop``), in
#: :data:`LANDMARK_NAMES` order.
ALIGN_TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)

NO_TRACK = -1  #: ``track_ids`` value of a face that no tracker has seen


@dataclass(frozen=True)
class Face:
    """One detected face, in original image pixels."""

    box: np.ndarray  # (4,) x1, y1, x2, y2
    score: float
    landmarks: np.ndarray  # (5, 2) in LANDMARK_NAMES order
    track_id: int | None = None

    def to_dict(self) -> dict:
        return {
            "box": [round(float(v), 2) for v in self.box],
            "score": round(float(self.score), 5),
            "landmarks": {
                name: [round(float(x), 2), round(float(y), 2)] for name, (x, y) in zip(LANDMARK_NAMES, self.landmarks)
            },
            "track_id": self.track_id,
        }


@dataclass(frozen=True)
class Detections:
    """Faces found in one image, sorted by descending score.

    ``boxes`` (N,4) float32 xyxy, ``scores`` (N,) float32 in [0,1], ``landmarks`` (N,5,2) float32, ``track_ids`` (N,)
    int64 (:data:`NO_TRACK` where no tracker assigned one; see :meth:`FaceDetector.track`).

    Indexing works like numpy: ``faces[0]`` is one :class:`Face`; ``faces[:3]``, ``faces[faces.scores > 0.9]`` and
    ``faces[[2, 0]]`` are new :class:`Detections`.
    """

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray
    track_ids: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.track_ids is None:
            object.__setattr__(self, "track_ids", np.full(len(self.scores), NO_TRACK, dtype=np.int64))

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32))

    def __len__(self) -> int:
        return len(self.scores)

    def __iter__(self) -> Iterator[Face]:
        for i in range(len(self)):
            yield self._face(i)

    def __getitem__(self, index: int | slice | np.ndarray | list) -> Face | Detections:
        if isinstance(index, (int, np.integer)) and not isinstance(index, (bool, np.bool_)):
            return self._face(int(index))
        if isinstance(index, slice):
            rows = index
        else:
            rows = np.asarray(index)
            if rows.dtype == bool:
                if rows.shape != (len(self),):
                    raise InvalidArgumentError(f"boolean mask of shape {rows.shape} for {len(self)} faces")
            elif rows.size and rows.dtype.kind not in "iu":
                raise InvalidArgumentError(
                    f"index faces with an int, a slice, a boolean mask or ints, got {rows.dtype}"
                )
            else:
                rows = rows.astype(np.intp)
        return Detections(self.boxes[rows], self.scores[rows], self.landmarks[rows], self.track_ids[rows])

    def _face(self, i: int) -> Face:
        track = int(self.track_ids[i])
        return Face(
            box=self.boxes[i],
            score=float(self.scores[i]),
            landmarks=self.landmarks[i],
            track_id=None if track == NO_TRACK else track,
        )

    def to_array(self) -> np.ndarray:
        """YuNet / ``cv2.FaceDetectorYN`` layout: N x 15 rows ``x, y, w, h, 10 landmark coords, score``."""
        xywh = np.concatenate([self.boxes[:, :2], self.boxes[:, 2:4] - self.boxes[:, :2]], axis=1)
        return np.concatenate([xywh, self.landmarks.reshape(len(self), -1), self.scores[:, None]], axis=1).astype(
            np.float32
        )

    def to_dicts(self) -> list[dict]:
        return [face.to_dict() for face in self]

    def with_track_ids(self, track_ids: np.ndarray) -> Detections:
        return Detections(self.boxes, self.scores, self.landmarks, np.asarray(track_ids, dtype=np.int64))

    def crop(self, image: np.ndarray, i: int, margin: float = 0.0) -> np.ndarray:
        """Face ``i`` cut out of ``image`` (the image it was detected in), its box grown by ``margin`` (a fraction
        of the box size on each side) and clipped to the image. A copy, never empty."""
        self._check_index(i)
        height, width = image.shape[:2]
        x1, y1, x2, y2 = (float(v) for v in self.boxes[i])
        dx, dy = (x2 - x1) * margin, (y2 - y1) * margin
        left, top = int(np.clip(np.floor(x1 - dx), 0, width - 1)), int(np.clip(np.floor(y1 - dy), 0, height - 1))
        right = int(np.clip(np.ceil(x2 + dx), left + 1, width))
        bottom = int(np.clip(np.ceil(y2 + dy), top + 1, height))
        return image[top:bottom, left:right].copy()

    def align(self, image: np.ndarray, i: int, size: int = 112) -> np.ndarray:
        """Face ``i`` warped by the 5-point similarity transform onto the standard recognizer template
        (:data:`ALIGN_TEMPLATE_112`, scaled to ``size``): the ``size`` x ``size`` input ArcFace-style recognizers
        expect (InsightFace's ``norm_crop``)."""
        self._check_index(i)
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 16 <= size <= 2048:
            raise InvalidArgumentError(f"size must be an int in [16, 2048], got {size!r}")
        template = ALIGN_TEMPLATE_112 * (size / 112.0)
        matrix, _ = cv2.estimateAffinePartial2D(self.landmarks[i].astype(np.float32), template, method=cv2.LMEDS)
        if matrix is None:
            raise InvalidArgumentError(f"face {i}: its landmarks are degenerate, no similarity transform fits")
        return cv2.warpAffine(image, matrix, (int(size), int(size)), borderValue=0.0)

    def _check_index(self, i: int) -> None:
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not -len(self) <= i < len(self):
            raise InvalidArgumentError(f"face index {i!r} out of range for {len(self)} faces")
