"""FaceDetector: image → letterbox → backend → score filter → decode survivors → NMS → original pixels."""

from __future__ import annotations

import hashlib
import logging
import numbers
import os
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from ._version import install_hint
from .backends import BACKENDS, Backend, BackendSpec, resolve_backend_name
from .detections import Detections
from .errors import BackendError, BackendUnavailableError, InvalidArgumentError, InvalidImageError, ModelLoadError
from .image import DEFAULT_MAX_PIXELS, to_bgr_uint8
from .manifest import Manifest, ModelFile, load_manifest
from .model_input import InputWriter
from .models import resolve_model
from .postprocess import decode_detections
from .preprocess import Letterbox
from .priors import Priors, generate_priors
from .sources import Frame
from .tracking import FaceTracker, TrackerConfig

log = logging.getLogger(__name__)

_PRIOR_CACHE_SIZE = 16  # distinct input shapes remembered (dynamic models see many sizes; keep memory bounded)
# Most images stacked into one model call by detect_batch (a 640x640 input is 4.9 MB of float32; more images per
# call stop paying off on CPUs long before this, see docs/BATCHING.md).
MAX_CALL_BATCH = 16
MAX_THREADS = 1024  # more inference threads than this is a mistake (and overflows some runtimes' int32 settings)


class StreamItem(tuple):
    """What :meth:`FaceDetector.stream` yields: a ``(frame, faces)`` pair — so ``for frame, faces in stream`` works —
    that also carries the frame's ``index``, ``timestamp`` (UTC wall clock, epoch seconds: from the source for
    :class:`edge_sdk.sources.Frame` items, else when the frame arrived), ``media_time_ms`` and ``reconnects`` (live
    sources)."""

    index: int
    timestamp: float
    media_time_ms: float | None
    reconnects: int
    latency_ms: float  # the model call's time for this frame (its share of a batch); 0 for a frame that reused faces

    def __new__(
        cls,
        frame: object,
        faces: Detections,
        index: int,
        timestamp: float,
        media_time_ms: float | None = None,
        reconnects: int = 0,
        latency_ms: float = 0.0,
    ) -> StreamItem:
        item = super().__new__(cls, (frame, faces))
        item.index, item.timestamp, item.media_time_ms, item.reconnects = index, timestamp, media_time_ms, reconnects
        item.latency_ms = latency_ms
        return item

    @property
    def frame(self) -> object:
        return self[0]

    @property
    def faces(self) -> Detections:
        return self[1]


class FaceDetector:
    """Detects faces, their scores and 5 landmarks.

    Args:
        model: None for the bundled default, a bundled model name, a model directory, or a model file.
        backend: "auto", "onnxruntime" (alias "onnx"), ... (see :func:`edge_sdk.available_backends`).
        input_size: network input side (int) or (width, height); the image is letterboxed into it.
            None runs at the image's own size (padded to a multiple of 32) on the dynamic-shape model.
        score_threshold: minimum face probability kept (InsightFace's ``det_thresh``).
        nms_threshold: IoU above which the lower-scored of two boxes is suppressed.
        max_faces: keep at most this many faces (highest scores), None for all.
        threads: inference threads (None: the runtime's default).
        precision: "fp32" (default); quantized variants are picked the same way when the model ships them.
        device: backend-specific device name (e.g. "CPU"); None for the backend's default.
        max_pixels: images larger than this are rejected instead of exhausting memory.
    """

    def __init__(
        self,
        model: str | Path | None = None,
        backend: str = "auto",
        input_size: int | tuple[int, int] | None = 640,
        score_threshold: float = 0.5,
        nms_threshold: float = 0.4,
        max_faces: int | None = None,
        threads: int | None = None,
        precision: str = "fp32",
        device: str | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        self.input_size = _check_input_size(input_size)
        self.score_threshold = _check_unit_interval("score_threshold", score_threshold)
        self.nms_threshold = _check_unit_interval("nms_threshold", nms_threshold)
        self.max_faces = _check_optional_int("max_faces", max_faces, 1, None)
        threads = _check_optional_int("threads", threads, 1, MAX_THREADS)
        self.max_pixels = _check_optional_int("max_pixels", max_pixels, 1, None)
        if self.max_pixels is None:
            raise InvalidArgumentError("max_pixels must be a positive int, got None")
        for name, value in (("backend", backend), ("precision", precision)):
            if not isinstance(value, str):
                raise InvalidArgumentError(f"{name} must be a string, got {value!r}")
        if device is not None and not isinstance(device, str):
            raise InvalidArgumentError(f"device must be a string (e.g. 'cpu', 'cuda', 'GPU') or None, got {device!r}")
        if model is not None and not isinstance(model, (str, os.PathLike)):
            raise InvalidArgumentError(
                f"model must be None, a bundled model name, a model directory or a model file, got {model!r}"
            )

        directory, requested_file = resolve_model(model)
        self.manifest: Manifest = load_manifest(directory)
        backend_name = resolve_backend_name(backend)
        started = time.perf_counter()
        candidates = _choose(self.manifest, requested_file, backend_name, precision, self.input_size, threads)
        self.backend, self.model_file = _load_first(candidates, self.manifest, threads, device, backend_name)
        loaded = time.perf_counter()
        self._priors: OrderedDict[tuple[int, int], Priors] = OrderedDict()
        self._priors_lock = threading.Lock()
        # Backends whose runtime object is not safe to call from several threads get one call at a time.
        self._run_lock = None if getattr(self.backend, "thread_safe", False) else threading.Lock()
        # writes images straight into the input this backend's file takes, in per-thread reused buffers
        self._input = InputWriter(self.backend.input_spec, self.manifest.normalization)
        self._self_check_once()
        #: where the construction time went (ms): choosing + verifying + loading the file, and the self-check run
        self.load_timings = {
            "load_ms": (loaded - started) * 1000,
            "self_check_ms": (time.perf_counter() - loaded) * 1000,
        }

    @property
    def backend_name(self) -> str:
        return self.backend.name

    @property
    def pixel_map(self) -> str:
        """How pixels become this model file's input: "opencv" or "reference" (same values, see
        :mod:`edge_sdk.pixel_maps`; OpenCV's is kept only where this CPU gives it bit for bit), or "none" where the
        model file takes the uint8 canvas and normalizes itself (OpenVINO)."""
        return self._input.pixel_map_name

    @property
    def max_batch(self) -> int | None:
        """Largest number of images one model call takes: None for any (dynamic batch dimension), 1 for model files
        with a fixed batch of one (TFLite, the int8 files), which :meth:`detect_batch` then runs one by one."""
        return self.backend.max_batch

    def __repr__(self) -> str:
        return (
            f"FaceDetector(model={self.manifest.name!r}, file={self.model_file.path.name!r}, "
            f"backend={self.backend.name!r}, input_size={self.input_size}, score_threshold={self.score_threshold})"
        )

    def letterbox_for(self, width: int, height: int) -> Letterbox:
        """The letterbox this detector uses for an image of the given size."""
        return Letterbox.for_input_size(width, height, self.input_size, self.manifest.anchors.max_stride)

    def preprocess(self, image: object, rgb: bool = False, *, reuse: bool = False) -> tuple[np.ndarray, Letterbox]:
        """The model input for one image (what :meth:`run_backend` takes: see ``backend.input_spec``) and its
        letterbox. ``reuse=True`` returns this thread's reused buffer, valid until its next call (no allocation:
        what :meth:`detect` does); otherwise a copy the caller owns."""
        bgr = to_bgr_uint8(image, self.max_pixels, rgb=rgb)
        box = self.letterbox_for(bgr.shape[1], bgr.shape[0])
        tensor = self._input.prepare([(bgr, box)], box.canvas_height, box.canvas_width)
        return (tensor if reuse else tensor.copy()), box

    def run_backend(self, tensor: np.ndarray) -> list[np.ndarray]:
        """The bare model call (serialized for backends that are not thread-safe)."""
        if self._run_lock is None:
            return self.backend.run(tensor)
        with self._run_lock:
            return self.backend.run(tensor)

    def detect(self, image: object, *, rgb: bool = False) -> Detections:
        """Faces in one image, in original pixels, sorted by score.

        ``image``: HxWx3 uint8 BGR (OpenCV); ``rgb=True`` for RGB arrays. Grayscale, BGRA, float [0, 1], PIL
        images, file paths and encoded bytes are accepted too (see :mod:`edge_sdk.image`).
        """
        tensor, box = self.preprocess(image, rgb=rgb, reuse=True)
        return self.postprocess(self.run_backend(tensor), box)

    def detect_batch(self, images: Iterable[object], *, rgb: bool = False) -> list[Detections]:
        """Faces in each of several images: one :class:`Detections` per image, in order, equal to ``detect`` on
        each.

        Images whose network inputs have the same shape (always, with a fixed ``input_size``) are stacked into one
        model call of up to ``max_batch`` (and at most ``MAX_CALL_BATCH``) images; a model without a dynamic batch
        dimension runs them one by one. Batching raises throughput where the runtime uses the extra work well and
        costs latency: the first image's faces arrive with the last one's.
        """
        _check_image_sequence("detect_batch", images)
        prepared = []
        for index, image in enumerate(images):
            try:
                bgr = to_bgr_uint8(image, self.max_pixels, rgb=rgb)
            except InvalidImageError as exc:
                raise type(exc)(f"image {index} of the batch: {exc}") from exc
            prepared.append((bgr, self.letterbox_for(bgr.shape[1], bgr.shape[0])))
        results: list[Detections | None] = [None] * len(prepared)
        limit = min(self.max_batch or MAX_CALL_BATCH, MAX_CALL_BATCH)
        by_shape: dict[tuple[int, int], list[int]] = {}
        for index, (_, box) in enumerate(prepared):
            by_shape.setdefault((box.canvas_height, box.canvas_width), []).append(index)
        for (height, width), indices in by_shape.items():
            for start in range(0, len(indices), limit):
                chunk = indices[start : start + limit]
                tensor = self._input.prepare([prepared[index] for index in chunk], height, width)
                raw = [np.asarray(r) for r in self.run_backend(tensor)]
                if any(r.shape[0] != len(chunk) for r in raw):
                    raise BackendError(
                        f"{self.backend.name} returned {[r.shape for r in raw]} for a batch of {len(chunk)}"
                    )
                for slot, index in enumerate(chunk):
                    results[index] = self.postprocess([r[slot : slot + 1] for r in raw], prepared[index][1])
        return [r for r in results if r is not None]

    def postprocess(self, raw: list[np.ndarray], box: Letterbox) -> Detections:
        """Raw head tensors of one image → :class:`Detections` in original pixels (see :mod:`edge_sdk.postprocess`)."""
        box_deltas, scores, landmark_deltas = (np.asarray(r)[0] for r in raw)
        try:
            return decode_detections(
                box_deltas,
                scores,
                landmark_deltas,
                self._priors_for(box.canvas_height, box.canvas_width),
                box,
                self.score_threshold,
                self.nms_threshold,
                self.manifest.anchors.variances,
                self.max_faces,
                score_activation=self.manifest.score_activation,
            )
        except ValueError as exc:
            raise ModelLoadError(f"model output does not match the manifest's anchor config: {exc}") from exc

    def stream(
        self,
        frames: Iterable[object],
        every: int = 1,
        batch_size: int = 1,
        track: bool = False,
        tracker: TrackerConfig | None = None,
    ) -> Iterator[StreamItem]:
        """Yield a :class:`StreamItem` — ``(frame, detections)`` with the frame's index and timestamps — for each
        frame of an iterable (a list, a generator, an :class:`edge_sdk.sources.VideoSource`), in order.

        ``every=N`` runs the model on every N-th frame only; the frames in between reuse the last detections
        (cheap frame skipping for slow boards). ``batch_size=B`` gathers B of the frames the model runs on into one
        :meth:`detect_batch` call: more throughput for offline video, B frames more latency (and B frames held in
        memory) for live sources. ``track=True`` gives each face a stable ``track_id`` across frames
        (:class:`edge_sdk.tracking.FaceTracker`; ``tracker`` sets its options). Items that are
        :class:`edge_sdk.sources.Frame` are unwrapped: the item's frame is their image, the timestamps theirs.
        """
        _check_image_sequence("stream", frames)
        for name, value in (("every", every), ("batch_size", batch_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidArgumentError(f"{name} must be a positive int, got {value!r}")
        if tracker is not None and not isinstance(tracker, TrackerConfig):
            raise InvalidArgumentError(f"tracker must be a TrackerConfig or None, got {type(tracker).__name__}")
        face_tracker = FaceTracker(tracker) if (track or tracker is not None) else None
        return self._stream(iter(frames), every, batch_size, face_tracker)

    def track(
        self, frames: Iterable[object], every: int = 1, batch_size: int = 1, config: TrackerConfig | None = None
    ) -> Iterator[StreamItem]:
        """:meth:`stream` with tracking on: each face carries a ``track_id`` stable across frames."""
        return self.stream(frames, every=every, batch_size=batch_size, track=True, tracker=config)

    def _stream(
        self, frames: Iterator[object], every: int, batch_size: int, tracker: FaceTracker | None
    ) -> Iterator[StreamItem]:
        last = Detections.empty()
        pending: list[tuple[bool, StreamItem]] = []  # (the model runs on it, item without faces), in arrival order
        waiting = 0  # frames in ``pending`` the model runs on
        for index, item in enumerate(frames):
            meta = _as_stream_item(item, index)
            runs = index % every == 0
            if not runs and not pending:  # nothing in flight: a skipped frame is answered at once
                yield _with_faces(meta, last)
                continue
            pending.append((runs, meta))
            waiting += runs
            if waiting == batch_size:
                answered, last = self._detect_pending(pending, last, tracker)
                yield from answered
                pending, waiting = [], 0
        if pending:
            answered, last = self._detect_pending(pending, last, tracker)
            yield from answered

    def _detect_pending(
        self, pending: list[tuple[bool, StreamItem]], last: Detections, tracker: FaceTracker | None
    ) -> tuple[list[StreamItem], Detections]:
        """Detect the frames of ``pending`` the model runs on (one batch); every frame gets its faces, skipped ones
        those of the frame the model last ran on. Returns the answers and the newest detections."""
        to_run = [item.frame for runs, item in pending if runs]
        start = time.perf_counter()
        detected = iter(self.detect_batch(to_run) if len(to_run) > 1 else [self.detect(f) for f in to_run])
        share_ms = (time.perf_counter() - start) * 1000 / max(len(to_run), 1)
        answered = []
        for runs, item in pending:
            if runs:
                last = next(detected)
                if tracker is not None:
                    last = tracker.update(last)
            answered.append(_with_faces(item, last, share_ms if runs else 0.0))
        return answered, last

    def _self_check_once(self) -> None:
        """The self-check, skipped when this exact file, manifest, backend, runtime and input size passed it before
        on this machine (it costs about as much as the load itself; docs/BENCHMARKS.md, cold start)."""
        from . import cache

        manifest_bytes = (self.manifest.directory / "manifest.json").read_bytes()
        digest = cache.fact_digest(
            file=self.model_file.sha256,
            manifest=hashlib.sha256(manifest_bytes).hexdigest(),
            backend=self.backend.name,
            size=self.input_size,
            runtime=_loaded_runtime_version(BACKENDS[self.backend.name].packages),
        )
        if cache.has_marker("self-check", digest):
            return
        self._self_check()
        cache.set_marker("self-check", digest)

    def _self_check(self) -> None:
        """One inference on a blank input at load: the model's outputs must agree with the manifest (anchor count,
        values per anchor), so a mismatched model fails here with ModelLoadError, not later with wrong faces."""
        width, height = self.model_file.input_size or self.input_size or (64, 64)
        box = Letterbox(width, height, width, height, width, height)
        tensor = self._input.prepare([(np.zeros((height, width, 3), np.uint8), box)], height, width)
        outputs = [np.asarray(o) for o in self.run_backend(tensor)]
        expected_anchors = self.manifest.anchors.num_priors(height, width)
        expected = [
            (1, expected_anchors, 4),
            (1, expected_anchors, self.manifest.num_classes),
            (1, expected_anchors, 2 * self.manifest.anchors.num_landmarks),
        ]
        if len(outputs) != 3 or [o.shape for o in outputs] != expected:
            raise ModelLoadError(
                f"{self.model_file.path.name}: outputs {[o.shape for o in outputs]} for a {width}x{height} input, "
                f"the manifest implies {expected}: model and manifest disagree"
            )

    def _priors_for(self, height: int, width: int) -> Priors:
        key = (height, width)
        with self._priors_lock:
            priors = self._priors.get(key)
            if priors is not None:
                self._priors.move_to_end(key)
                return priors
        priors = generate_priors(height, width, self.manifest.anchors)
        with self._priors_lock:
            self._priors[key] = priors
            while len(self._priors) > _PRIOR_CACHE_SIZE:
                self._priors.popitem(last=False)
        return priors


def _choose(
    manifest: Manifest,
    requested_file: Path | None,
    backend: str,
    precision: str,
    input_size: tuple[int, int] | None,
    threads: int | None = None,
) -> list[tuple[BackendSpec, ModelFile]]:
    """The (backend, file) pairs to try, best first. An explicit file decides the format; otherwise every installed
    backend that has a matching file, in auto order: the backend ``edge-sdk tune`` measured fastest on this machine
    for this model and settings (:mod:`edge_sdk.tuning`), then :data:`AUTO_ORDER`."""
    if requested_file is not None:
        model_file = manifest.find_file(requested_file)
        if model_file is None:
            raise ModelLoadError(f"{requested_file.name} is not listed in {manifest.directory / 'manifest.json'}")
        if model_file.input_size is not None and model_file.input_size != input_size:
            raise InvalidArgumentError(
                f"{requested_file.name} has a fixed input of {model_file.input_size}, but input_size={input_size} "
                "was asked"
            )
        specs = [s for s in _candidate_specs(backend) if model_file.format in s.formats]
        files = {s.name: model_file for s in specs}
    else:
        specs = _candidate_specs(backend)
        files = {s.name: manifest.select(s.formats, precision, input_size) for s in specs}
        specs = [s for s in specs if files[s.name] is not None]
    if not specs:
        raise ModelLoadError(
            f"model {manifest.name!r} has no {precision} file at input size {_size_text(input_size)} for backend "
            f"{backend!r}; it has: {_files_text(manifest, _candidate_specs(backend))}. Pick one of those (input_size, "
            "precision, backend) or export the file (python -m export --sizes ... --formats ...)"
        )
    installed = [s for s in specs if s.is_installed()]
    if not installed:
        if backend == "auto":
            wanted = ", ".join(install_hint(s.extra) for s in specs)
            others = [s.name for s in BACKENDS.values() if s.is_installed()]
            why = (
                f" (installed: {', '.join(others)}, but the model has no {precision} file at input size "
                f"{_size_text(input_size)} for them)"
                if others
                else ""
            )
            raise BackendUnavailableError(
                f"no installed runtime can run model {manifest.name!r} at {precision}, input size "
                f"{_size_text(input_size)}{why}: {wanted}, or use a size/precision the installed "
                f"backends have ({_files_text(manifest, [BACKENDS[n] for n in others])})"
            )
        installed = specs  # let the backend itself raise its typed "install the extra" error
    if backend == "auto" and requested_file is None and len(installed) > 1:
        fastest = _tuned_choice(manifest, precision, input_size, threads)
        installed.sort(key=lambda s: (s.name != fastest,))
    return [(s, files[s.name]) for s in installed]


def _tuned_choice(
    manifest: Manifest, precision: str, input_size: tuple[int, int] | None, threads: int | None
) -> str | None:
    from .backend_choice import cached_choice

    try:
        return cached_choice(manifest.directory / "manifest.json", precision, input_size, threads)
    except OSError as exc:  # an unreadable manifest was already refused; the cache is best effort
        log.warning("backend-choice cache not read: %s", exc)
        return None


def _load_first(
    candidates: list[tuple[BackendSpec, ModelFile]],
    manifest: Manifest,
    threads: int | None,
    device: str | None,
    backend: str,
) -> tuple[Backend, ModelFile]:
    """Load the first candidate that works. With ``backend="auto"`` and a ``device``, a backend that lacks the device
    (its typed InvalidArgumentError) passes the choice on; if none has it, the error names what was tried."""
    refusals: list[str] = []
    for spec, model_file in candidates:
        try:
            backend_obj = spec.load_class()(model_file, manifest, threads=threads, device=device)
        except InvalidArgumentError as exc:
            if backend != "auto" or device is None:
                raise
            refusals.append(f"{spec.name}: {exc}")
            continue
        log.info("loaded %s via %s", model_file.path.name, spec.name)
        return backend_obj, model_file
    installed = [s.name for s in BACKENDS.values() if s.is_installed()]
    raise InvalidArgumentError(
        f"no installed backend has device {device!r} (installed: {', '.join(installed) or 'none'}); "
        + "; ".join(refusals)
    )


def _size_text(size: tuple[int, int] | None) -> str:
    return "original (dynamic)" if size is None else f"{size[0]}x{size[1]}"


def _files_text(manifest: Manifest, specs: list[BackendSpec]) -> str:
    formats = {f for s in specs for f in s.formats}
    files = [
        f"{f.path.name} ({f.format}, {f.precision}, {_size_text(f.input_size)})"
        for f in manifest.files
        if f.format in formats
    ]
    return ", ".join(files) or "no files"


# backend="auto" without a tuned choice on this machine (edge-sdk tune): the order measured fastest at 640x640 fp32
# in one run here (docs/BENCHMARKS.md, "auto"); a runtime that is not installed, or a format the model lacks at the
# asked size (TFLite is fixed 640x640), passes the choice down the list.
AUTO_ORDER = ("openvino", "tflite", "onnxruntime")


def _candidate_specs(backend: str) -> list[BackendSpec]:
    if backend == "auto":
        return [BACKENDS[n] for n in AUTO_ORDER if n in BACKENDS] + [
            s for n, s in BACKENDS.items() if n not in AUTO_ORDER
        ]
    return [BACKENDS[backend]]


def _is_bool(value: object) -> bool:
    return isinstance(value, (bool, np.bool_))


def _check_unit_interval(name: str, value: float) -> float:
    """A number in [0, 1]: Python or numpy ints and floats (``np.float32(0.5)`` is normal input), never a bool."""
    if _is_bool(value) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) <= 1.0:
        raise InvalidArgumentError(f"{name} must be a number in [0, 1], got {value!r}")
    return float(value)


def _check_optional_int(name: str, value: object, low: int, high: int | None) -> int | None:
    """None, or an int (Python or numpy, never a bool) in [low, high]."""
    if value is None:
        return None
    if _is_bool(value) or not isinstance(value, numbers.Integral) or value < low or (high is not None and value > high):
        bound = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise InvalidArgumentError(f"{name} must be an int {bound} or None, got {value!r}")
    return int(value)


def _loaded_runtime_version(packages: tuple[str, ...]) -> str | None:
    """The version of a backend's runtime package, read from the module it already imported (no metadata scan)."""
    for name in packages:
        module = sys.modules.get(name)
        if module is not None:
            version = getattr(module, "__version__", None)
            if version is None and hasattr(module, "get_version"):
                version = module.get_version()
            return str(version) if version is not None else f"{name} (unversioned)"
    return None


def _check_image_sequence(method: str, images: object) -> None:
    """``images`` must be an iterable of images, not one image (or None)."""
    single = (np.ndarray, str, bytes, bytearray, memoryview, os.PathLike, Frame)
    if isinstance(images, single) or type(images).__module__.startswith("PIL."):
        raise InvalidArgumentError(
            f"{method} takes a sequence of images (a list of arrays, paths, a generator, a video source), not a "
            f"single image ({type(images).__name__}); use detect() for one image"
        )
    try:
        iter(images)  # type: ignore[call-overload]
    except TypeError:
        raise InvalidArgumentError(
            f"{method} takes an iterable of images (a list, a generator, a video source), got {images!r}"
        ) from None


def _as_stream_item(item: object, index: int) -> StreamItem:
    """A frame of a stream with its metadata (and no faces yet)."""
    if isinstance(item, Frame):
        return StreamItem(
            item.image, Detections.empty(), item.index, item.timestamp, item.media_time_ms, item.reconnects
        )
    return StreamItem(item, Detections.empty(), index, time.time())


def _with_faces(item: StreamItem, faces: Detections, latency_ms: float = 0.0) -> StreamItem:
    return StreamItem(item.frame, faces, item.index, item.timestamp, item.media_time_ms, item.reconnects, latency_ms)


def _check_input_size(size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    if size is None:
        return None
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        size = (int(size), int(size))
    if (
        not isinstance(size, (tuple, list))
        or len(size) != 2
        or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and 32 <= v <= 8192 for v in size)
    ):
        raise InvalidArgumentError(
            f"input_size must be None, an int or (width, height) with values in [32, 8192], got {size!r}"
        )
    return int(size[0]), int(size[1])
