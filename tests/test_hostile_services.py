"""Hostile but fair clients against the services (issue 17, items 1-3), all real and on 127.0.0.1: the MQTT bridge
with a real mosquitto, the HTTP service under uvicorn in a subprocess, raw sockets for slow clients, real images.
Every wait is bounded; every test stops by itself."""

from __future__ import annotations

import http.client
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_sdk.detections import Detections
from edge_sdk.integrations.records import with_overrides
from edge_sdk.nms import pairwise_iou
from edge_sdk.privacy import anonymize_faces

from .conftest import REPO_ROOT, require
from .integration_support import (
    ERROR_TOPIC,
    MqttClient,
    assert_same_faces,
    free_port,
    real_images,
    running_bridge,
    running_broker,
    wait_until,
    wait_until_answering,
)

CROWD, FEW, ONE = range(3)  # indexes into real_images(): 7, 5 and 1 faces


@pytest.fixture(scope="module")
def images() -> list[Path]:
    return real_images()


# privacy: blur over the union of boxes ----------------------------------------------------------------------------


def per_box_reference(image: np.ndarray, boxes: np.ndarray, mode: str, margin: float = 0.15) -> np.ndarray:
    """The look anonymize_faces had when it blurred box by box (its implementation before the union pass)."""
    out = image.copy()
    height, width = out.shape[:2]
    for x1, y1, x2, y2 in boxes:
        grow_x, grow_y = (x2 - x1) * margin, (y2 - y1) * margin
        left, top = max(0, int(x1 - grow_x)), max(0, int(y1 - grow_y))
        right, bottom = min(width, int(np.ceil(x2 + grow_x))), min(height, int(np.ceil(y2 + grow_y)))
        if right <= left or bottom <= top:
            continue
        region = out[top:bottom, left:right]
        if mode == "blur":
            kernel = max(3, (max(region.shape[:2]) // 2) | 1)
            out[top:bottom, left:right] = cv2.GaussianBlur(region, (kernel, kernel), kernel / 3)
        else:
            cells = max(1, min(region.shape[:2]) // 8)
            small = cv2.resize(
                region,
                (max(1, region.shape[1] // cells), max(1, region.shape[0] // cells)),
                interpolation=cv2.INTER_AREA,
            )
            out[top:bottom, left:right] = cv2.resize(small, region.shape[1::-1], interpolation=cv2.INTER_NEAREST)
    return out


def as_detections(boxes: np.ndarray) -> Detections:
    boxes = np.asarray(boxes, np.float32)
    return Detections(boxes, np.ones(len(boxes), np.float32), np.zeros((len(boxes), 5, 2), np.float32))


@pytest.mark.parametrize("mode", ["blur", "pixelate"])
def test_union_blur_looks_like_blurring_each_box(images: list[Path], mode: str) -> None:
    image = cv2.imread(str(images[CROWD]))  # 1024x768, real texture under every box
    # separate faces from 20 to 340 px: grown by the margin they still do not touch; some share a size level
    boxes = np.array(
        [
            [20, 20, 40, 44],
            [80, 20, 112, 60],
            [150, 20, 210, 90],
            [260, 20, 380, 170],
            [460, 40, 760, 380],
            [850, 40, 1000, 240],
            [30, 470, 90, 540],
            [150, 470, 230, 570],
            [300, 480, 340, 540],
            [620, 480, 960, 730],
        ],
        np.float32,
    )
    grown = boxes + np.tile(boxes[:, 2:] - boxes[:, :2], 2) * [-0.15, -0.15, 0.15, 0.15]
    assert (pairwise_iou(grown, grown) > 0).sum() == len(boxes), "test data: grown boxes must not touch"
    expected = per_box_reference(image, boxes, mode)
    union = anonymize_faces(image, as_detections(boxes), mode=mode)
    inside = np.zeros(image.shape[:2], bool)
    for x1, y1, x2, y2 in boxes.astype(int):
        grow_x, grow_y = int(np.ceil((x2 - x1) * 0.15)) + 1, int(np.ceil((y2 - y1) * 0.15)) + 1  # + rounding
        window = (slice(max(0, y1 - grow_y), y2 + grow_y), slice(max(0, x1 - grow_x), x2 + grow_x))
        inside[window] = True
        changed = np.abs(expected[window].astype(int) - image[window]).mean()
        difference = np.abs(union[window].astype(int) - expected[window]).mean()
        assert difference <= 0.1 * changed + 0.1, (mode, x2 - x1, difference, changed)  # about 0-1 grey level
    assert np.abs(union[inside].astype(int) - image[inside]).mean() > 10  # and the effect itself is strong
    np.testing.assert_array_equal(union[~inside], image[~inside])  # nothing else touched


@pytest.mark.parametrize("mode", ["blur", "pixelate"])
def test_anonymizing_5000_overlapping_boxes_is_one_pass_per_size(detector, images: list[Path], mode: str) -> None:
    image = cv2.imread(str(images[CROWD]))
    everything = with_overrides(detector, score_threshold=0.0, nms_threshold=1.0).detect(image)
    assert len(everything) > 4500  # every candidate the model has (PRE_NMS_TOP_K), overlapping in heaps
    start = time.perf_counter()
    out = anonymize_faces(image, everything, mode=mode)
    elapsed = time.perf_counter() - start
    assert elapsed < 5, f"{mode} of {len(everything)} boxes took {elapsed:.1f} s"  # box by box it took minutes
    real = detector.detect(image)
    for x1, y1, x2, y2 in real.boxes.astype(int):  # every real face is anonymized ...
        assert np.abs(out[y1:y2, x1:x2].astype(int) - image[y1:y2, x1:x2]).mean() > 3
    assert len(detector.detect(out)) == 0  # ... beyond the detector's recognition


# MQTT bridge: reply topics, worker supervision ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    with running_broker(tmp_path_factory.mktemp("mosquitto")) as broker:
        yield broker


def test_bad_reply_topics_are_reported_and_one_worker_keeps_answering(
    broker, tmp_path: Path, detector, images: list[Path]
) -> None:
    jpeg = images[ONE].read_bytes()
    options = ["--backend", "onnxruntime", "--workers", "1", "--queue-size", "8"]
    with running_bridge(broker, tmp_path / "bridge.log", options, ["faces/#", ERROR_TOPIC, "replies/#"]) as client:
        long_frame_topic = "frames/" + "a" * (65_535 - len("frames/"))  # valid; its result topic is not
        bad = [  # (frame topic, ResponseTopic, error code)
            ("frames/door", "replies/#", "invalid_response_topic"),  # the reported frame: paho raised in publish
            ("frames/door", "replies/+/cam", "invalid_response_topic"),
            ("frames/door", "replies/" + "x" * 2000, "invalid_response_topic"),  # over max_topic_bytes (1024)
            (long_frame_topic, None, "invalid_topic"),  # faces/<topic> would be over 65,535 bytes: paho raised
        ]
        for topic, response_topic, reason in bad:
            client.publish(topic, jpeg, response_topic=response_topic, correlation=b"bad")
            error = json.loads(client.receive(ERROR_TOPIC, timeout=15).payload)
            assert error["error"] == reason and error["topic"] == topic, error
        expected = detector.detect(cv2.imread(str(images[ONE])))
        for i in range(10):  # one worker, still alive: 10 frames (a camera waiting for each answer), 10 results
            client.publish(f"frames/cam{i}", jpeg)
            record = json.loads(client.receive(f"faces/frames/cam{i}", timeout=15).payload)
            assert_same_faces(expected, record["faces"])
        with pytest.raises(queue.Empty):  # and none was refused
            client.receive(ERROR_TOPIC, timeout=0.5)


class _SimulatedBug(BaseException):
    """Not an ``Exception``: gets past the per-frame guard, as a bug in the bridge itself would."""


class _DetectorWithABug:
    """The real detector, except that a 17x17 frame raises :class:`_SimulatedBug`."""

    def __init__(self, detector) -> None:
        self._detector = detector

    def __getattr__(self, name: str):
        return getattr(self._detector, name)

    def detect(self, image, **kwargs):
        if image.shape[:2] == (17, 17):
            raise _SimulatedBug("worker killer")
        return self._detector.detect(image, **kwargs)


def test_a_worker_that_dies_is_replaced_and_counted(broker, detector, images: list[Path]) -> None:
    from edge_sdk.integrations.mqtt_bridge import BridgeConfig, MqttBridge

    bridge = MqttBridge(_DetectorWithABug(detector), BridgeConfig(port=broker.port, workers=1, queue_size=4))
    client = MqttClient(broker.port, ["faces/#", ERROR_TOPIC])
    try:
        bridge.start()
        wait_until_answering(client, timeout=30)
        client.publish("frames/poison", cv2.imencode(".png", np.zeros((17, 17, 3), np.uint8))[1].tobytes())
        jpeg = images[ONE].read_bytes()
        for i in range(3):
            client.publish(f"frames/after{i}", jpeg)
        for i in range(3):
            client.receive(f"faces/frames/after{i}", timeout=30)
        # answered counts the readiness probes too (one may be answered late, under load): at least the 3 frames
        assert bridge.stats.worker_restarts == 1 and bridge.stats.answered >= 3, bridge.stats
    finally:
        client.close()
        bridge.stop()


# HTTP service: slow clients, connection cap, CPU per request, disconnects, logging -------------------------------

HEADER_TIMEOUT_S, BODY_TIMEOUT_S, MAX_CONNECTIONS, MAX_FACES = 2.0, 3.0, 64, 50
STALLED_UPLOAD = (
    b"POST /detect HTTP/1.1\r\nHost: edge\r\nContent-Type: image/jpeg\r\nContent-Length: 5000000\r\n\r\n"
    + b"\xff\xd8\xff\xe0\x00\x10JFIF"
)  # headers and 10 bytes of a declared 5 MB body
SERVER = """
import logging, sys
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s", stream=sys.stdout)
from edge_sdk import FaceDetector
from edge_sdk.integrations.http_service import ServiceConfig, serve
config = ServiceConfig(header_timeout_s={header}, body_timeout_s={body}, max_connections={connections},
                       max_faces={faces}, warning_interval_s=600)
serve(FaceDetector(backend="onnxruntime"), "127.0.0.1", {port}, config, log_level="warning")
"""


class Service:
    def __init__(self, port: int, log_path: Path) -> None:
        self.port, self.log_path = port, log_path

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            conn.close()

    def detect(self, data: bytes, query: str = "", timeout: float = 30) -> tuple[int, dict[str, str], bytes]:
        return self.request("POST", f"/detect{query}", data, {"Content-Type": "image/jpeg"}, timeout)

    def metric(self, name: str) -> float:
        """A sample of /metrics (0 when absent)."""
        _, _, body = self.request("GET", "/metrics")
        for line in body.decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
        return 0.0

    def log_lines(self) -> list[str]:
        return self.log_path.read_text().splitlines()


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> Service:
    for module in ("fastapi", "uvicorn", "prometheus_client", "python_multipart"):
        require(module, "edge-face-sdk[serve]: the HTTP service")
    port = free_port()
    log_path = tmp_path_factory.mktemp("serve") / "serve.log"
    code = SERVER.format(
        header=HEADER_TIMEOUT_S, body=BODY_TIMEOUT_S, connections=MAX_CONNECTIONS, faces=MAX_FACES, port=port
    )
    with open(log_path, "w") as log:
        process = subprocess.Popen([sys.executable, "-c", code], cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
    service = Service(port, log_path)

    def healthy() -> bool:
        assert process.poll() is None, f"server exited early:\n{log_path.read_text()}"
        try:
            return service.request("GET", "/health", timeout=2)[0] == 200
        except OSError:
            return False

    try:
        wait_until(healthy, 60, "GET /health")
        yield service
    finally:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert "Traceback" not in log_path.read_text(), log_path.read_text()  # nothing a client did blew up


def open_stalled(count: int, first_bytes: bytes, port: int) -> list[socket.socket]:
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        if first_bytes:
            sock.sendall(first_bytes)
        sockets.append(sock)
    return sockets


def read_until_closed(sock: socket.socket, timeout: float) -> bytes:
    """Everything the server sends until it closes the connection (fails if it is still open after ``timeout``)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    finally:
        sock.close()
    return data


def test_slow_uploads_do_not_lock_clients_out_and_meet_their_deadlines(
    service: Service, detector, images: list[Path]
) -> None:
    uploads = open_stalled(40, STALLED_UPLOAD, service.port)  # more than concurrency + max_queue (34)
    headers_only = open_stalled(8, b"POST /detect HTTP/1.1\r\nHost: edge\r\n", service.port)  # slowloris
    silent = open_stalled(4, b"", service.port)
    answered_early = open_stalled(2, STALLED_UPLOAD.replace(b"/detect", b"/detect?blur=maybe"), service.port)
    opened = time.monotonic()
    try:
        time.sleep(0.3)  # all of them are in the server now
        jpeg = images[ONE].read_bytes()
        expected = detector.detect(cv2.imread(str(images[ONE])))
        for _ in range(3):
            start = time.perf_counter()
            status, _, body = service.detect(jpeg, timeout=5)
            assert status == 200, body
            assert time.perf_counter() - start < 1.0  # answered at once, not after the stalled ones
            assert_same_faces(expected, json.loads(body)["faces"])
        start = time.perf_counter()
        assert service.request("GET", "/health", timeout=5)[0] == 200 and time.perf_counter() - start < 1.0

        for sock in uploads:  # 408 at the body deadline, then closed
            answer = read_until_closed(sock, BODY_TIMEOUT_S + 5)
            assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
            assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"] == "request_timeout"
        for sock in answered_early:  # 422 at once; the rest of the body never comes: closed at the deadline
            answer = read_until_closed(sock, BODY_TIMEOUT_S + 5)
            assert answer.startswith(b"HTTP/1.1 422 "), answer[:200]
        for sock in headers_only + silent:  # closed at the header deadline
            assert read_until_closed(sock, HEADER_TIMEOUT_S + 5) == b""
        assert time.monotonic() - opened < BODY_TIMEOUT_S + 3
    finally:
        for sock in uploads + headers_only + silent + answered_early:
            sock.close()
    assert service.metric('edge_sdk_http_slow_clients_total{phase="body"}') == 42
    assert service.metric('edge_sdk_http_slow_clients_total{phase="headers"}') == 12
    assert service.metric("edge_sdk_http_body_memory_bytes") == 0


def test_connections_beyond_the_cap_get_503_and_overload_is_one_warning(service: Service, images: list[Path]) -> None:
    idle = open_stalled(MAX_CONNECTIONS, b"", service.port)
    try:
        for _ in range(3):
            status, _, body = service.detect(images[ONE].read_bytes(), timeout=5)
            assert status == 503 and json.loads(body)["error"] == "overloaded", body
        refused = open_stalled(1, b"GET /health HTTP/1.1\r\nHost: edge\r\n\r\n", service.port)[0]
        assert read_until_closed(refused, 5).startswith(b"HTTP/1.1 503 ")  # answered, then closed
        for sock in idle:  # the header deadline frees the slots
            read_until_closed(sock, HEADER_TIMEOUT_S + 5)
    finally:
        for sock in idle:
            sock.close()
    assert service.detect(images[ONE].read_bytes(), timeout=5)[0] == 200
    assert service.metric("edge_sdk_http_connections_refused_total") == 4
    overload_lines = [line for line in service.log_lines() if "overloaded" in line]
    assert len(overload_lines) == 1 and overload_lines[0].startswith("WARNING "), overload_lines  # not 4 ERRORs


def test_requests_cannot_ask_for_unbounded_work(service: Service, images: list[Path]) -> None:
    crowd = images[CROWD].read_bytes()
    for query in (
        "?score_threshold=0&nms_threshold=1&blur=true",
        "?score_threshold=0.05",
        f"?max_faces={MAX_FACES + 1}",
    ):
        status, _, body = service.detect(crowd, query, timeout=10)
        assert status == 422 and json.loads(body)["error"] == "invalid_parameter", (query, body)
        assert "on this server" in json.loads(body)["detail"]
    # the most a request may ask for: the lowest score, no suppression, every face allowed, blurred
    start = time.perf_counter()
    status, headers, body = service.detect(
        crowd, f"?score_threshold=0.1&nms_threshold=1&max_faces={MAX_FACES}&blur=true", timeout=10
    )
    assert status == 200 and int(headers["x-faces"]) == MAX_FACES, body[:200]
    assert time.perf_counter() - start < 5  # liveness; about 0.3 s on 2 busy cores
    status, _, body = service.detect(crowd, "?score_threshold=0.1&nms_threshold=1")  # no max_faces: the cap
    assert status == 200 and len(json.loads(body)["faces"]) == MAX_FACES


def test_a_client_that_goes_away_is_counted_not_an_error(service: Service) -> None:
    before = service.log_lines()
    sock = socket.create_connection(("127.0.0.1", service.port), timeout=5)
    sock.sendall(STALLED_UPLOAD)
    time.sleep(0.2)
    sock.close()
    wait_until(lambda: service.metric("edge_sdk_http_client_disconnects_total") == 1, 5, "the disconnect counted")
    new_lines = service.log_lines()[len(before) :]
    assert [line for line in new_lines if "disconnected" in line and line.startswith("INFO ")], new_lines
    assert not [line for line in new_lines if "Traceback" in line or line.startswith("ERROR")], new_lines
    assert service.metric('edge_sdk_http_requests_total{method="POST",route="/detect",status="500"}') == 0


# configuration: bad settings are typed errors, the command line's detector settings widen the bounds --------------


@pytest.mark.parametrize(
    "topic, problem",
    [
        ("", "empty"),
        ("replies/#", "wildcard"),
        ("a/+/b", "wildcard"),
        ("$SYS/x", "reserved"),
        ("a\x00b", "control"),
        ("a\x1bb", "control"),
        ("a\x85b", "control"),
        ("a\ud800", "UTF-8"),
        ("é" * 513, "1026 bytes"),
    ],
)
def test_topics_that_cannot_be_published_to(topic: str, problem: str) -> None:
    from edge_sdk.integrations.mqtt_topics import topic_problem

    assert problem in topic_problem(topic, max_bytes=1024)
    assert topic_problem("replies/é/" + "x" * 1000, max_bytes=1024) is None


def test_service_settings_are_checked_and_follow_the_command_line() -> None:
    require("fastapi", "edge-face-sdk[serve]: the HTTP service")
    from edge_sdk.cli import build_parser
    from edge_sdk.errors import InvalidArgumentError
    from edge_sdk.integrations.http_service import ServiceConfig, config_from_args
    from edge_sdk.integrations.mqtt_bridge import BridgeConfig
    from edge_sdk.integrations.payload import Limits

    for bad in (
        {"header_timeout_s": 0},
        {"body_timeout_s": float("inf")},
        {"max_connections": 0},
        {"max_faces": 0},
        {"min_score_threshold": 1.5},
        {"limits": Limits(max_bytes=2**30)},
    ):
        with pytest.raises(InvalidArgumentError):
            ServiceConfig(**bad)
    for bad in ({"error_topic": "errors/#"}, {"result_prefix": "faces/+"}, {"max_topic_bytes": 70_000}):
        with pytest.raises(InvalidArgumentError):
            BridgeConfig(**bad)
    config = config_from_args(
        build_parser().parse_args(
            ["serve", "--score-threshold", "0.05", "--max-faces", "900", "--max-bytes", str(300 * 2**20)]
        )
    )
    assert (config.min_score_threshold, config.max_faces, config.max_body_memory) == (0.05, 900, 300 * 2**20)
    assert config_from_args(build_parser().parse_args(["serve"])) == ServiceConfig()
