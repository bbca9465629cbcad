"""Detection results: arrays first (fast, vectorized), per-face records on demand."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

#: Landmark order. "left"/"right" are as seen in the image (viewer's left), i.e. point 0 is the subject's right
#: eye. This is the RetinaFace label order and also YuNet's (OpenCV FaceDetectorYN) order.
LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "left_mouth", "right_mouth")


@dataclass(frozen=True)
class Face:
    """One detected face, in original image pixels."""

    box: np.ndarray  # (4,) x1, y1, x2, y2
    score: float
    landmarks: np.ndarray  # (5, 2) in LANDMARK_NAMES order

    def to_dict(self) -> dict:
        return {
            "box": [round(float(v), 2) for v in self.box],
            "score": round(float(self.score), 5),
            "landmarks": {name: [round(float(x), 2), round(float(y), 2)] for name, (x, y) in zip(LANDMARK_NAMES, self.landmarks)},
        }


@dataclass(frozen=True)
class Detections:
    """Faces found in one image, sorted by descending score.

    ``boxes`` (N,4) float32 xyxy, ``scores`` (N,) float32 in [0,1], ``landmarks`` (N,5,2) float32.
    """

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray

    @classmethod
    def empty(cls) -> "Detections":
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32))

    def __len__(self) -> int:
        return len(self.scores)

    def __iter__(self) -> Iterator[Face]:
        for box, score, points in zip(self.boxes, self.scores, self.landmarks):
            yield Face(box=box, score=float(score), landmarks=points)

    def __getitem__(self, index: int) -> Face:
        return Face(box=self.boxes[index], score=float(self.scores[index]), landmarks=self.landmarks[index])

    def to_array(self) -> np.ndarray:
        """YuNet / ``cv2.FaceDetectorYN`` layout: N x 15 rows ``x, y, w, h, 10 landmark coords, score``."""
        xywh = np.concatenate([self.boxes[:, :2], self.boxes[:, 2:4] - self.boxes[:, :2]], axis=1)
        return np.concatenate(
            [xywh, self.landmarks.reshape(len(self), -1), self.scores[:, None]], axis=1
        ).astype(np.float32)

    def to_dicts(self) -> list[dict]:
        return [face.to_dict() for face in self]
