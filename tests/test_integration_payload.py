"""The framework-free parts of the integrations: payload limits, header parsing, threshold overrides, lazy imports,
CLI wiring. Needs none of the optional packages."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_sdk.cli import build_parser
from edge_sdk.errors import BackendUnavailableError, InvalidArgumentError
from edge_sdk.integrations import EXTRAS, require_extra
from edge_sdk.integrations.payload import (
    Limits,
    PayloadError,
    PayloadTooLargeError,
    UnsupportedMediaError,
    check_payload,
    decode_payload,
    header_size,
    sniff_format,
)
from edge_sdk.integrations.records import detect_record, example_record, with_overrides

from .conftest import REPO_ROOT
from .integration_support import RECORD_KEYS

HEAVY = ("fastapi", "uvicorn", "starlette", "prometheus_client", "paho", "ray", "pyarrow", "pandas", "python_multipart")


@pytest.mark.parametrize("ext, params", [(".jpg", []), (".jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]), (".png", [])])
def test_header_size_without_decoding(ext: str, params: list[int]) -> None:
    data = cv2.imencode(ext, np.zeros((37, 53, 3), np.uint8), params)[1].tobytes()
    fmt = sniff_format(data)
    assert fmt == ("png" if ext == ".png" else "jpeg")
    assert header_size(data, fmt) == (53, 37)
    image, _ = decode_payload(data, Limits())
    assert image.shape == (37, 53, 3)


def test_decompression_bomb_refused_from_the_header() -> None:
    png = bytearray(cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))[1].tobytes())
    png[16:24] = (60000).to_bytes(4, "big") + (60000).to_bytes(4, "big")  # 3.6 gigapixels declared
    with pytest.raises(PayloadTooLargeError, match="60000x60000"):
        check_payload(bytes(png), Limits())


def test_limits_and_content_types() -> None:
    jpeg = cv2.imencode(".jpg", np.zeros((20, 30, 3), np.uint8))[1].tobytes()
    with pytest.raises(PayloadTooLargeError):
        check_payload(jpeg, Limits(max_bytes=len(jpeg) - 1))
    with pytest.raises(PayloadTooLargeError):
        check_payload(jpeg, Limits(max_pixels=599))
    assert check_payload(jpeg, Limits(max_pixels=600)) == "jpeg"
    with pytest.raises(UnsupportedMediaError):
        check_payload(b"{}", Limits(), declared_type="application/json")
    for bad in (b"", b"GIF89a....", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(100), jpeg[:200]):
        with pytest.raises(PayloadError):
            decode_payload(bad, Limits())


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_header_parser_never_crashes(tail: bytes) -> None:
    for data in (b"\xff\xd8" + tail, b"\x89PNG\r\n\x1a\n" + tail):
        size = header_size(data, sniff_format(data) or "jpeg")
        assert size is None or (len(size) == 2 and all(v >= 0 for v in size))


def test_record_is_the_cli_schema_and_overrides_do_not_touch_the_original(detector, astronaut) -> None:
    faces, record = detect_record(detector, astronaut, "astronaut.png")
    assert set(record) == RECORD_KEYS == set(example_record(detector))
    assert record["image"] == "astronaut.png" and record["faces"] == faces.to_dicts()
    strict = with_overrides(detector, score_threshold=0.99999, max_faces=1)
    assert strict.backend is detector.backend and detector.score_threshold == 0.5 and detector.max_faces is None
    assert len(strict.detect(astronaut)) == 0 and len(detector.detect(astronaut)) == 1
    assert with_overrides(detector) is detector
    with pytest.raises(InvalidArgumentError):
        with_overrides(detector, nms_threshold=1.5)


def test_importing_the_sdk_pulls_in_no_integration_framework() -> None:
    script = (
        "import sys, edge_sdk, edge_sdk.cli, edge_sdk.integrations, edge_sdk.integrations.payload, "
        "edge_sdk.integrations.records\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_cli_has_serve_and_mqtt_with_loopback_defaults() -> None:
    serve = build_parser().parse_args(["serve", "--port", "9000"])
    assert (serve.host, serve.port, serve.input_size, serve.max_bytes) == ("127.0.0.1", 9000, 640, 10 * 1024 * 1024)
    mqtt = build_parser().parse_args(["mqtt", "--subscribe", "cams/+/jpeg", "--input-size", "320"])
    assert (mqtt.broker, mqtt.subscribe, mqtt.input_size, mqtt.qos) == ("127.0.0.1:1883", ["cams/+/jpeg"], 320, 1)


def test_missing_extra_names_the_pip_extra(monkeypatch) -> None:
    monkeypatch.setitem(EXTRAS, "serve", ("no_such_module_for_edge_sdk",))
    with pytest.raises(BackendUnavailableError, match=r"edge-face-sdk\[serve\]"):
        require_extra("serve", "edge-sdk serve")
    from edge_sdk.cli import main

    assert main(["serve", "--port", "1"]) == 2
