"""HTTP detection service (FastAPI + uvicorn, extra ``[serve]``): ``edge-sdk serve``.

Endpoints:

- ``POST /detect``: a JPEG/PNG body (``Content-Type: image/jpeg|image/png``) or ``multipart/form-data`` with one
  file field. Query: ``score_threshold``, ``nms_threshold``, ``max_faces``, ``blur`` (``blur``/``pixelate``/
  ``true``). Returns the CLI's JSON record, or with ``blur`` the anonymized image in the input's format
  (header ``X-Faces``: the face count).
- ``GET /health``: model and backend; ``GET /metrics``: Prometheus text.

Errors are JSON ``{"error": <code>, "detail": <text>}`` with a 4xx status (413 body or image too large, 415 not an
image, 400 corrupt, 422 bad parameter, 503 overloaded); the server keeps serving.

Concurrency: requests are decoded and letterboxed in a bounded thread pool (``concurrency``); the detector
serializes the model call itself for backends that are not thread-safe, so any backend is safe. Beyond
``concurrency + max_queue`` requests in flight, new ones get 503 at once instead of piling up.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import anyio
import cv2
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..detector import FaceDetector
from ..errors import InvalidArgumentError, InvalidImageError
from ..privacy import anonymize_faces
from .payload import FORMATS, Limits, PayloadError, UnsupportedMediaError, decode_payload
from .records import detect_record, with_overrides

log = logging.getLogger(__name__)

_ROUTES = ("/detect", "/health", "/metrics")
_BLUR_VALUES = {"1": "blur", "true": "blur", "yes": "blur", "blur": "blur", "pixelate": "pixelate",
                "0": None, "false": None, "no": None, "": None}
_LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass(frozen=True)
class ServiceConfig:
    """Limits and concurrency of the service."""

    limits: Limits = field(default_factory=Limits)
    concurrency: int = 2  # requests decoded/processed at once (threads)
    max_queue: int = 32  # requests allowed to wait beyond that before 503
    jpeg_quality: int = 90

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.max_queue < 0:
            raise InvalidArgumentError(
                f"concurrency must be >= 1 and max_queue >= 0, got {self.concurrency}, {self.max_queue}")


class ApiError(Exception):
    """An error answered as JSON ``{"error": reason, "detail": detail}``."""

    def __init__(self, status: int, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.reason, self.detail = status, reason, detail


class _BodyTooLarge(Exception):
    pass


class _Metrics:
    """Prometheus metrics in a registry of this app's own (several apps in one process do not collide)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("edge_sdk_http_requests", "HTTP requests by route and status",
                                ["method", "route", "status"], registry=self.registry)
        self.errors = Counter("edge_sdk_http_errors", "error responses by reason", ["reason"], registry=self.registry)
        self.latency = Histogram("edge_sdk_http_request_duration_seconds", "request latency (receive to response)",
                                 ["route"], buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.in_flight = Gauge("edge_sdk_http_detect_in_flight", "POST /detect requests in flight",
                               registry=self.registry)
        self.faces = Counter("edge_sdk_faces_detected", "faces returned by /detect", registry=self.registry)


class _MetricsMiddleware:
    """Pure ASGI middleware: counts and times every request, and enforces the body-size limit while the body
    streams in (the endpoint's read raises :class:`_BodyTooLarge`, answered 413 by its exception handler)."""

    def __init__(self, app: Callable, metrics: _Metrics, max_body_bytes: int) -> None:
        self.app, self.metrics, self.max_body_bytes = app, metrics, max_body_bytes

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        route = scope["path"] if scope["path"] in _ROUTES else "other"
        status = 500
        received = 0

        async def send_wrapper(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        async def receive_wrapper() -> dict:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise _BodyTooLarge(f"request body exceeds the limit of {self.max_body_bytes} bytes")
            return message

        try:
            await self.app(scope, receive_wrapper, send_wrapper)
        finally:
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - start)


def _parse_blur(value: str | None) -> str | None:
    if value is None:
        return None
    key = value.strip().lower()
    if key not in _BLUR_VALUES:
        choices = sorted(k for k in _BLUR_VALUES if k)
        raise ApiError(422, "invalid_parameter", f"blur must be one of {choices}, got {value!r}")
    return _BLUR_VALUES[key]


async def _read_image(request: Request, limits: Limits) -> tuple[bytes, str | None, str | None]:
    """(encoded bytes, file name, declared content type) from a raw image body or a multipart form."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limits.max_bytes:
        raise _BodyTooLarge(f"request body of {declared} bytes exceeds the limit of {limits.max_bytes} bytes")
    if content_type == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=8, max_part_size=limits.max_bytes)
        try:
            upload = next((v for v in form.values() if hasattr(v, "read")), None)
            if upload is None:
                raise ApiError(400, "missing_file", "multipart body has no file field (send one image as 'file')")
            data = await upload.read()
            return data, upload.filename, (upload.content_type or None)
        finally:
            await form.close()
    if content_type not in (*FORMATS.values(), "application/octet-stream"):
        raise UnsupportedMediaError(
            f"content type {content_type or '(none)'!r} is not accepted: send image/jpeg, image/png, "
            "application/octet-stream or multipart/form-data"
        )
    return await request.body(), None, content_type


def create_app(detector: FaceDetector, config: ServiceConfig | None = None) -> FastAPI:
    """The FastAPI app around one loaded detector."""
    config = config or ServiceConfig()
    metrics = _Metrics()
    limiter = anyio.CapacityLimiter(config.concurrency)
    state = {"in_flight": 0}
    app = FastAPI(title="edge-sdk face detection", version=__version__, docs_url=None, redoc_url=None)

    def error_response(status: int, reason: str, detail: str) -> JSONResponse:
        metrics.errors.labels(reason).inc()
        if status >= 500:
            log.error("%s: %s", reason, detail)
        else:
            log.info("rejected (%s): %s", reason, detail)
        return JSONResponse({"error": reason, "detail": detail}, status_code=status)

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.reason, exc.detail)

    @app.exception_handler(PayloadError)
    async def _payload_error(_: Request, exc: PayloadError) -> JSONResponse:
        return error_response(exc.status, exc.reason, str(exc))

    @app.exception_handler(_BodyTooLarge)
    async def _too_large(_: Request, exc: _BodyTooLarge) -> JSONResponse:
        return error_response(413, "payload_too_large", str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return error_response(422, "invalid_parameter", detail)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        reason = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "bad_request")
        return error_response(exc.status_code, reason, str(exc.detail))

    @app.exception_handler(Exception)
    async def _internal(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(500, "internal_error", f"{type(exc).__name__}: {exc}")

    def process(data: bytes, name: str | None, declared: str | None, view: FaceDetector, blur: str | None) -> Response:
        image, fmt = decode_payload(data, config.limits, declared)
        detections, record = detect_record(view, image, name)
        metrics.faces.inc(len(detections))
        if blur is None:
            return JSONResponse(record)
        params = [cv2.IMWRITE_JPEG_QUALITY, config.jpeg_quality] if fmt == "jpeg" else []
        ok, encoded = cv2.imencode(".jpg" if fmt == "jpeg" else ".png", anonymize_faces(image, detections, mode=blur),
                                   params)
        if not ok:
            raise ApiError(500, "internal_error", "could not encode the anonymized image")
        return Response(encoded.tobytes(), media_type=FORMATS[fmt], headers={"X-Faces": str(len(detections))})

    @app.post("/detect")
    async def detect(
        request: Request,
        score_threshold: float | None = Query(None, ge=0.0, le=1.0),
        nms_threshold: float | None = Query(None, ge=0.0, le=1.0),
        max_faces: int | None = Query(None, ge=1),
        blur: str | None = Query(None, description="blur | pixelate | true: return the anonymized image"),
    ) -> Response:
        mode = _parse_blur(blur)
        if state["in_flight"] >= config.concurrency + config.max_queue:
            raise ApiError(503, "overloaded", f"{state['in_flight']} requests in flight; retry later")
        state["in_flight"] += 1
        metrics.in_flight.inc()
        try:
            data, name, declared = await _read_image(request, config.limits)
            view = with_overrides(detector, score_threshold, nms_threshold, max_faces)
            return await anyio.to_thread.run_sync(process, data, name, declared, view, mode, limiter=limiter)
        except (InvalidImageError, InvalidArgumentError) as exc:
            if isinstance(exc, PayloadError):
                raise
            raise ApiError(400, "invalid_request", str(exc)) from exc
        finally:
            state["in_flight"] -= 1
            metrics.in_flight.dec()

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok", "version": __version__, "model": detector.manifest.name,
                "model_file": detector.model_file.path.name, "backend": detector.backend_name}

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(_MetricsMiddleware, metrics=metrics, max_body_bytes=config.limits.max_bytes)
    return app


def serve(detector: FaceDetector, host: str = "127.0.0.1", port: int = 8080, config: ServiceConfig | None = None,
          log_level: str = "warning") -> None:
    """Run the service with uvicorn until SIGINT/SIGTERM (one process; see ``concurrency`` for parallelism)."""
    import uvicorn

    log.info("serving %s via %s on http://%s:%d", detector.model_file.path.name, detector.backend_name, host, port)
    uvicorn.run(create_app(detector, config), host=host, port=port, log_level=log_level, access_log=False,
                timeout_graceful_shutdown=5)


def run_from_args(args: Any) -> int:
    """``edge-sdk serve``."""
    from .records import detector_from_args

    config = ServiceConfig(limits=Limits(args.max_bytes, args.max_pixels), concurrency=args.concurrency,
                           max_queue=args.max_queue)
    detector = detector_from_args(args, max_pixels=args.max_pixels)
    serve(detector, args.host, args.port, config, log_level="info" if args.verbose else "warning")
    return 0
