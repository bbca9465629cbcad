"""HTTP detection service (FastAPI + uvicorn, extra ``[serve]``): ``edge-sdk serve``.

Endpoints:

- ``POST /detect``: a JPEG/PNG body (``Content-Type: image/jpeg|image/png``) or ``multipart/form-data`` with one
  file field. Query: ``score_threshold``, ``nms_threshold``, ``max_faces``, ``blur`` (``blur``/``pixelate``/
  ``true``). Returns the CLI's JSON record, or with ``blur`` the anonymized image in the input's format
  (header ``X-Faces``: the face count).
- ``GET /health``: model and backend; ``GET /metrics``: Prometheus text.

Errors are JSON ``{"error": <code>, "detail": <text>}`` with a 4xx status (408 body too slow, 413 body or image
too large, 415 not an image, 400 corrupt, 422 bad parameter or beyond the server's bounds, 503 overloaded); the
server keeps serving.

What one client can make the service spend is bounded (:class:`ServiceConfig`; the "Threat model" section of
``docs/INTEGRATIONS.md``): connections (``max_connections``), time to send the request headers
(``header_timeout_s``) and the body (``body_timeout_s``), memory for bodies being received (``max_body_memory``),
and CPU per request (``min_score_threshold`` and ``max_faces`` bound the faces kept; blur is one pass per face
size, not per face). A request takes one of ``concurrency + max_queue`` processing slots only once its body is
in: slow uploads cannot lock other clients out. Requests are decoded and letterboxed in a bounded thread pool
(``concurrency``); the detector serializes the model call itself for backends that are not thread-safe, so any
backend is safe.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import cv2
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from .. import __version__
from ..detector import FaceDetector
from ..errors import InvalidArgumentError, InvalidImageError
from ..privacy import anonymize_faces
from .http_protocol import ConnectionGuard, guarded_protocol
from .payload import FORMATS, Limits, PayloadError, UnsupportedMediaError, decode_payload
from .records import detect_record, with_overrides
from .throttled_log import ThrottledLog

log = logging.getLogger(__name__)

_ROUTES = ("/detect", "/health", "/metrics")
_BLUR_VALUES = {
    "1": "blur",
    "true": "blur",
    "yes": "blur",
    "blur": "blur",
    "pixelate": "pixelate",
    "0": None,
    "false": None,
    "no": None,
    "": None,
}
_LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0)
CLIENT_CLOSED_REQUEST = 499  # nginx's status for a client that went away before the answer (metrics label only)
DEFAULT_MIN_SCORE_THRESHOLD = 0.1
DEFAULT_MAX_FACES = 500


@dataclass(frozen=True)
class ServiceConfig:
    """Limits, timeouts and concurrency of the service (defaults in ``docs/INTEGRATIONS.md``, "Threat model")."""

    limits: Limits = field(default_factory=Limits)
    concurrency: int = 2  # requests decoded/processed at once (threads)
    max_queue: int = 32  # requests with their body in allowed to wait beyond that before 503
    jpeg_quality: int = 90
    max_connections: int = 64  # open connections; requests on further ones get 503 and the connection is closed
    header_timeout_s: float = 10.0  # from connection open (or first byte of a keep-alive request) to full headers
    body_timeout_s: float = 20.0  # from the headers to the last byte of the body, else 408
    max_body_memory: int = 256 * 1024 * 1024  # bytes of request bodies held at once (all requests), else 503
    min_score_threshold: float = DEFAULT_MIN_SCORE_THRESHOLD  # lowest ?score_threshold a request may ask for
    max_faces: int = DEFAULT_MAX_FACES  # most faces one answer holds (and the highest ?max_faces)
    warning_interval_s: float = 10.0  # at most one 503 warning per interval in the log (the rest are counted)

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.max_queue < 0:
            raise InvalidArgumentError(
                f"concurrency must be >= 1 and max_queue >= 0, got {self.concurrency}, {self.max_queue}"
            )
        for name in ("max_connections", "max_faces"):
            if getattr(self, name) < 1:
                raise InvalidArgumentError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        for name in ("header_timeout_s", "body_timeout_s", "warning_interval_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise InvalidArgumentError(f"{name} must be a positive number of seconds, got {value!r}")
        if not 0.0 <= self.min_score_threshold <= 1.0:
            raise InvalidArgumentError(f"min_score_threshold must be in [0, 1], got {self.min_score_threshold!r}")
        if self.max_body_memory < self.limits.max_bytes:
            raise InvalidArgumentError(
                f"max_body_memory ({self.max_body_memory}) must be at least the largest "
                f"accepted body, limits.max_bytes ({self.limits.max_bytes})"
            )


class ApiError(Exception):
    """An error answered as JSON ``{"error": reason, "detail": detail}``."""

    def __init__(self, status: int, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.reason, self.detail = status, reason, detail


class _Metrics:
    """Prometheus metrics in a registry of this app's own (several apps in one process do not collide)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "edge_sdk_http_requests",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.errors = Counter("edge_sdk_http_errors", "error responses by reason", ["reason"], registry=self.registry)
        self.latency = Histogram(
            "edge_sdk_http_request_duration_seconds",
            "request latency (receive to response)",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "edge_sdk_http_detect_in_flight", "POST /detect requests holding a processing slot", registry=self.registry
        )
        self.faces = Counter("edge_sdk_faces_detected", "faces returned by /detect", registry=self.registry)
        self.slow_clients = Counter(
            "edge_sdk_http_slow_clients",
            "connections that missed the header deadline (closed) or the body deadline (408), by phase",
            ["phase"],
            registry=self.registry,
        )
        self.disconnects = Counter(
            "edge_sdk_http_client_disconnects",
            "clients that went away before their request body was in",
            registry=self.registry,
        )
        self.refused = Counter(
            "edge_sdk_http_connections_refused", "connections beyond max_connections (503)", registry=self.registry
        )
        self.connections = Gauge("edge_sdk_http_open_connections", "open HTTP connections", registry=self.registry)
        self.body_memory = Gauge(
            "edge_sdk_http_body_memory_bytes", "bytes of request bodies held", registry=self.registry
        )


class _RequestGuard:
    """Pure ASGI middleware around every request: counts and times it, and guards the body while it streams in:
    the size limit (413), the deadline ``body_timeout_s`` counted from the headers (408, and the connection is
    closed), and the memory all bodies held at once may take (503). These raise :class:`ApiError` out of the
    endpoint's read. (The rest of a body answered early is discarded by the protocol: :mod:`.http_protocol`.)
    """

    def __init__(self, app: Callable, metrics: _Metrics, config: ServiceConfig) -> None:
        self.app, self.metrics, self.config = app, metrics, config
        self.body_memory = 0  # bytes of all bodies received and not yet answered (one event loop: no lock)

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        deadline = anyio.current_time() + self.config.body_timeout_s
        route = scope["path"] if scope["path"] in _ROUTES else "other"
        status = 500
        received = 0
        body_done = timed_out = False

        async def send_wrapper(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if timed_out:  # a client this slow gets no second request on this connection
                    message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        async def receive_wrapper() -> dict:
            nonlocal received, body_done, timed_out
            if body_done:
                return await receive()
            with anyio.move_on_after(deadline - anyio.current_time()) as timer:
                message = await receive()
            if timer.cancelled_caught:
                timed_out = True
                self.metrics.slow_clients.labels("body").inc()
                raise ApiError(
                    408, "request_timeout", f"request body not received within {self.config.body_timeout_s:g} s"
                )
            if message["type"] == "http.request":
                chunk = len(message.get("body", b""))
                received += chunk
                self._hold(chunk)
                body_done = not message.get("more_body", False)
                if received > self.config.limits.max_bytes:
                    raise ApiError(
                        413,
                        "payload_too_large",
                        f"request body exceeds the limit of {self.config.limits.max_bytes} bytes",
                    )
                if self.body_memory > self.config.max_body_memory:
                    raise ApiError(503, "overloaded", "too many request bodies in memory; retry later")
            return message

        try:
            await self.app(scope, receive_wrapper, send_wrapper)
        finally:
            self._hold(-received)
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - start)

    def _hold(self, delta: int) -> None:
        self.body_memory += delta
        self.metrics.body_memory.set(self.body_memory)


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
        raise ApiError(
            413, "payload_too_large", f"request body of {declared} bytes exceeds the limit of {limits.max_bytes} bytes"
        )
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


def _request_view(
    detector: FaceDetector,
    config: ServiceConfig,
    score_threshold: float | None,
    nms_threshold: float | None,
    max_faces: int | None,
) -> FaceDetector:
    """The detector with this request's thresholds, within the operator's bounds: asking for a lower score
    threshold or more faces than the server allows is a 422 (not silently clamped, so the client knows); an
    answer never holds more than ``config.max_faces`` faces."""
    if score_threshold is not None and score_threshold < config.min_score_threshold:
        raise ApiError(
            422,
            "invalid_parameter",
            f"score_threshold must be >= {config.min_score_threshold:g} on this server, got {score_threshold:g}",
        )
    if max_faces is not None and max_faces > config.max_faces:
        raise ApiError(
            422, "invalid_parameter", f"max_faces must be <= {config.max_faces} on this server, got {max_faces}"
        )
    if max_faces is None and (detector.max_faces is None or detector.max_faces > config.max_faces):
        max_faces = config.max_faces
    return with_overrides(detector, score_threshold, nms_threshold, max_faces)


def create_app(detector: FaceDetector, config: ServiceConfig | None = None) -> FastAPI:
    """The FastAPI app around one loaded detector.

    ``app.state.connection_guard`` holds the connection limits for the server (:func:`serve` passes them to
    uvicorn; another ASGI server runs the app without them).
    """
    config = config or ServiceConfig()
    metrics = _Metrics()
    limiter = anyio.CapacityLimiter(config.concurrency)
    state = {"in_flight": 0}
    warn_overloaded = ThrottledLog(log, logging.WARNING, config.warning_interval_s)
    note_disconnect = ThrottledLog(log, logging.INFO, config.warning_interval_s)
    app = FastAPI(title="edge-sdk face detection", version=__version__, docs_url=None, redoc_url=None)

    def error_response(status: int, reason: str, detail: str) -> JSONResponse:
        metrics.errors.labels(reason).inc()
        if status == 503:
            warn_overloaded("%s: %s", reason, detail)
        elif status >= 500:
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

    @app.exception_handler(ClientDisconnect)
    async def _client_gone(request: Request, _: ClientDisconnect) -> Response:
        metrics.disconnects.inc()
        note_disconnect("client %s disconnected before its request body was in", _client_address(request))
        return Response(status_code=CLIENT_CLOSED_REQUEST)  # nobody reads it; it labels the request in /metrics

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
        # Starlette re-raises after this answer, and uvicorn logs the traceback: no log.exception here (twice)
        return error_response(500, "internal_error", f"{type(exc).__name__}: {exc}")

    def process(data: bytes, name: str | None, declared: str | None, view: FaceDetector, blur: str | None) -> Response:
        image, fmt = decode_payload(data, config.limits, declared)
        detections, record = detect_record(view, image, name)
        metrics.faces.inc(len(detections))
        if blur is None:
            return JSONResponse(record)
        params = [cv2.IMWRITE_JPEG_QUALITY, config.jpeg_quality] if fmt == "jpeg" else []
        ok, encoded = cv2.imencode(
            ".jpg" if fmt == "jpeg" else ".png", anonymize_faces(image, detections, mode=blur), params
        )
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
        view = _request_view(detector, config, score_threshold, nms_threshold, max_faces)
        data, name, declared = await _read_image(request, config.limits)  # before a slot: slow bodies wait outside
        if state["in_flight"] >= config.concurrency + config.max_queue:
            raise ApiError(503, "overloaded", f"{state['in_flight']} requests in flight; retry later")
        state["in_flight"] += 1
        metrics.in_flight.inc()
        try:
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
        return {
            "status": "ok",
            "version": __version__,
            "model": detector.manifest.name,
            "model_file": detector.model_file.path.name,
            "backend": detector.backend_name,
        }

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def refuse_connection(
        scope: dict, receive: Callable[[], Awaitable[dict]], send: Callable[[dict], Awaitable[None]]
    ) -> None:
        metrics.refused.inc()
        detail = f"more than {config.max_connections} connections open; retry later"
        await error_response(503, "overloaded", detail)(scope, receive, send)  # the protocol then closes

    app.state.connection_guard = ConnectionGuard(
        header_timeout_s=config.header_timeout_s,
        linger_timeout_s=config.body_timeout_s,
        max_connections=config.max_connections,
        refuse_app=refuse_connection,
        on_header_timeout=metrics.slow_clients.labels("headers").inc,
        on_linger_timeout=metrics.slow_clients.labels("body").inc,
        on_open=metrics.connections.set,
        on_close=metrics.connections.set,
    )
    app.add_middleware(_RequestGuard, metrics=metrics, config=config)
    return app


def _client_address(request: Request) -> str:
    return f"{request.client.host}:{request.client.port}" if request.client else "(unknown)"


def serve(
    detector: FaceDetector,
    host: str = "127.0.0.1",
    port: int = 8080,
    config: ServiceConfig | None = None,
    log_level: str = "warning",
) -> None:
    """Run the service with uvicorn until SIGINT/SIGTERM (one process; see ``concurrency`` for parallelism)."""
    import uvicorn

    app = create_app(detector, config)
    log.info("serving %s via %s on http://%s:%d", detector.model_file.path.name, detector.backend_name, host, port)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=5,
        http=guarded_protocol(app.state.connection_guard),
    )


def config_from_args(args: Any) -> ServiceConfig:
    """The :class:`ServiceConfig` of ``edge-sdk serve``'s arguments. Options the command line does not offer keep
    their defaults; the operator's own detector settings (``--score-threshold``, ``--max-faces``) and ``--max-bytes``
    widen the bounds that would otherwise refuse them."""
    defaults = ServiceConfig()
    limits = Limits(args.max_bytes, args.max_pixels)
    chosen = {
        name: getattr(args, name)
        for name in (
            "max_connections",
            "header_timeout_s",
            "body_timeout_s",
            "max_body_memory",
            "min_score_threshold",
            "max_faces_per_request",
        )
        if getattr(args, name, None) is not None
    }
    return ServiceConfig(
        limits=limits,
        concurrency=args.concurrency,
        max_queue=args.max_queue,
        min_score_threshold=chosen.pop("min_score_threshold", min(defaults.min_score_threshold, args.score_threshold)),
        max_faces=chosen.pop("max_faces_per_request", max(defaults.max_faces, args.max_faces or 0)),
        max_body_memory=chosen.pop("max_body_memory", max(defaults.max_body_memory, limits.max_bytes)),
        **chosen,
    )


def run_from_args(args: Any) -> int:
    """``edge-sdk serve``."""
    from .records import detector_from_args

    config = config_from_args(args)
    detector = detector_from_args(args, max_pixels=args.max_pixels)
    serve(detector, args.host, args.port, config, log_level="info" if args.verbose else "warning")
    return 0
