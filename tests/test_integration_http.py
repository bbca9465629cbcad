"""`edge-sdk serve`: uvicorn as a subprocess on 127.0.0.1, real images, error paths, metrics, concurrency."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest

from .conftest import REPO_ROOT, require
from .integration_support import RECORD_KEYS, assert_same_faces, free_port, real_images, wait_until
from .record_schema import assert_valid_record

MAX_BYTES = 2_000_000
MAX_PIXELS = 4_000_000


class Server:
    def __init__(self, port: int) -> None:
        self.port = port

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            conn.close()

    def post_image(self, data: bytes, query: str = "", content_type: str = "image/jpeg") -> tuple[int, dict, bytes]:
        return self.request("POST", f"/detect{query}", data, {"Content-Type": content_type})

    def json(self, *args, **kwargs) -> tuple[int, dict]:
        status, _, body = self.post_image(*args, **kwargs)
        return status, json.loads(body)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Server:
    for module in ("fastapi", "uvicorn", "prometheus_client", "python_multipart"):
        require(module, "edge-face-sdk[serve]: the HTTP service")
    port = free_port()
    log_path = tmp_path_factory.mktemp("serve") / "serve.log"
    command = [
        sys.executable,
        "-m",
        "edge_sdk",
        "-v",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend",
        "onnxruntime",
        "--max-bytes",
        str(MAX_BYTES),
        "--max-pixels",
        str(MAX_PIXELS),
        "--concurrency",
        "2",
    ]
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
    server = Server(port)

    def healthy() -> bool:
        assert process.poll() is None, f"server exited early:\n{log_path.read_text()}"
        try:
            return server.request("GET", "/health")[0] == 200
        except OSError:
            return False

    try:
        wait_until(healthy, 60, "GET /health")
        yield server
    finally:
        os.kill(process.pid, signal.SIGTERM)
        try:
            # uvicorn shuts down gracefully, then re-raises the signal (exit status -SIGTERM)
            assert process.wait(timeout=15) in (0, -signal.SIGTERM), log_path.read_text()
            assert "Finished server process" in log_path.read_text()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.fixture(scope="module")
def images() -> list[Path]:
    return real_images()


def test_health_reports_model_and_backend(server: Server) -> None:
    status, _, body = server.request("GET", "/health")
    health = json.loads(body)
    assert status == 200 and health["status"] == "ok"
    assert health["backend"] == "onnxruntime" and health["model"] == "retinaface_mnet025"


def test_detect_matches_python_api(server: Server, detector, images: list[Path]) -> None:
    for path in images:
        status, record = server.json(path.read_bytes())
        assert status == 200, record
        assert set(record) == RECORD_KEYS
        assert_valid_record(record)
        image = cv2.imread(str(path))
        assert (record["width"], record["height"]) == (image.shape[1], image.shape[0])
        assert_same_faces(detector.detect(image), record["faces"])


def test_png_multipart_and_query_thresholds(server: Server, detector, images: list[Path]) -> None:
    image = cv2.imread(str(images[0]))
    png = cv2.imencode(".png", image)[1].tobytes()
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="crowd.png"\r\n'
            f"Content-Type: image/png\r\n\r\n"
        ).encode()
        + png
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    status, _, raw = server.request("POST", "/detect", body, headers)
    record = json.loads(raw)
    assert status == 200, record
    assert record["image"] == "crowd.png"
    assert_same_faces(detector.detect(image), record["faces"])

    status, strict = server.json(png, "?score_threshold=0.95&max_faces=2", "image/png")
    assert status == 200
    expected = [s for s in detector.detect(image).scores if s >= 0.95][:2]
    assert len(strict["faces"]) == len(expected) and all(f["score"] >= 0.95 for f in strict["faces"])


def test_blur_returns_the_anonymized_image(server: Server, detector, images: list[Path]) -> None:
    data = images[0].read_bytes()
    status, headers, body = server.post_image(data, "?blur=true")
    assert status == 200 and headers["content-type"] == "image/jpeg"
    blurred = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
    original = cv2.imread(str(images[0]))
    assert blurred.shape == original.shape
    assert int(headers["x-faces"]) == len(detector.detect(original)) > 0
    assert len(detector.detect(blurred)) < len(detector.detect(original))


def test_bad_inputs_get_json_4xx_and_the_server_keeps_serving(server: Server, detector, images: list[Path]) -> None:
    jpeg = images[2].read_bytes()
    huge = cv2.imencode(".png", np.zeros((2000, 2500, 3), np.uint8))[1].tobytes()  # 5 MP in a few KB
    cases = [
        (server.post_image(b"hello", content_type="text/plain"), 415, "unsupported_media_type"),
        (server.post_image(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(2000)), 400, "invalid_image"),
        (server.post_image(jpeg[: len(jpeg) // 50]), 400, "invalid_image"),  # truncated: header only
        (server.post_image(b""), 400, "invalid_image"),
        (server.post_image(os.urandom(MAX_BYTES + 1)), 413, "payload_too_large"),
        (server.post_image(huge, content_type="image/png"), 413, "payload_too_large"),
        (server.post_image(jpeg, "?score_threshold=7"), 422, "invalid_parameter"),
        (server.post_image(jpeg, "?blur=maybe"), 422, "invalid_parameter"),
        (server.request("GET", "/detect"), 405, "method_not_allowed"),
    ]
    for (status, headers, body), want_status, want_error in cases:
        assert status == want_status, body
        assert headers["content-type"] == "application/json"
        assert json.loads(body)["error"] == want_error
    status, record = server.json(jpeg)
    assert status == 200
    assert_same_faces(detector.detect(images[2]), record["faces"])

    _, _, metrics = server.request("GET", "/metrics")
    text = metrics.decode()
    assert 'edge_sdk_http_requests_total{method="POST",route="/detect",status="413"}' in text
    assert 'edge_sdk_http_errors_total{reason="payload_too_large"}' in text
    assert 'edge_sdk_http_request_duration_seconds_bucket{le="0.05",route="/detect"}' in text


def test_concurrent_clients_get_consistent_answers(server: Server, images: list[Path]) -> None:
    payloads = [p.read_bytes() for p in images] * 4
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda data: server.json(data), payloads))
    assert all(status == 200 for status, _ in results)
    for i, (_, record) in enumerate(results):
        assert record["faces"] == results[i % len(images)][1]["faces"]
