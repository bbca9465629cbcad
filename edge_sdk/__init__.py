"""edge_sdk: small-face detection for edge devices (numpy + OpenCV + one inference runtime; no torch).

from edge_sdk import FaceDetector
faces = FaceDetector().detect(cv2.imread("photo.jpg"))
"""

from ._version import DISTRIBUTION, __version__
from .backends import available_backends
from .detections import LANDMARK_NAMES, Detections, Face
from .detector import FaceDetector
from .errors import (
    BackendError,
    BackendUnavailableError,
    EdgeSDKError,
    InvalidArgumentError,
    InvalidImageError,
    ModelLoadError,
    OutputError,
    SourceError,
)
from .models import DEFAULT_MODEL, bundled_models
from .tracking import FaceTracker, TrackerConfig

__all__ = [
    "DEFAULT_MODEL",
    "DISTRIBUTION",
    "LANDMARK_NAMES",
    "BackendError",
    "BackendUnavailableError",
    "Detections",
    "EdgeSDKError",
    "Face",
    "FaceDetector",
    "InvalidArgumentError",
    "InvalidImageError",
    "ModelLoadError",
    "OutputError",
    "SourceError",
    "FaceTracker",
    "TrackerConfig",
    "__version__",
    "available_backends",
    "bundled_models",
]
