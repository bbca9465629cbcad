"""`edge-sdk mqtt`: a real mosquitto on 127.0.0.1 (own config, free port), the bridge as a subprocess, real images,
MQTT v5 request/response, bad payloads on the error topic, reconnect after a broker restart."""

from __future__ import annotations

import json
import os
import queue
import uuid

import cv2
import numpy as np
import pytest

from .integration_support import (
    ERROR_TOPIC,
    RECORD_KEYS,
    Broker,
    assert_same_faces,
    real_images,
    running_bridge,
    running_broker,
    wait_until,
)
from .integration_support import (
    MqttClient as Client,
)
from .record_schema import assert_valid_record

MAX_BYTES = 1_000_000
MAX_PIXELS = 4_000_000


@pytest.fixture(scope="module")
def broker(tmp_path_factory) -> Broker:
    with running_broker(tmp_path_factory.mktemp("mosquitto")) as broker:
        yield broker


@pytest.fixture(scope="module")
def bridge(broker: Broker, tmp_path_factory):
    log_path = tmp_path_factory.mktemp("bridge") / "bridge.log"
    options = ["--backend", "onnxruntime", "--max-bytes", str(MAX_BYTES), "--max-pixels", str(MAX_PIXELS)]
    with running_bridge(broker, log_path, options, ["faces/#", ERROR_TOPIC, "replies/#"]) as client:
        yield client


def test_frames_in_detections_out_match_python_api(bridge: Client, detector) -> None:
    for i, path in enumerate(real_images()):
        bridge.publish(f"frames/cam{i}", path.read_bytes())
        record = json.loads(bridge.receive(f"faces/frames/cam{i}").payload)
        assert set(record) == RECORD_KEYS and record["image"] == f"frames/cam{i}"
        assert_valid_record(record)
        assert_same_faces(detector.detect(cv2.imread(str(path))), record["faces"])


def test_v5_request_response_with_correlation_data(bridge: Client, detector) -> None:
    path = real_images()[1]
    correlation = uuid.uuid4().bytes
    bridge.publish("frames/door", path.read_bytes(), response_topic="replies/me", correlation=correlation)
    reply = bridge.receive("replies/me")
    assert reply.properties.CorrelationData == correlation
    assert reply.properties.ContentType == "application/json"
    assert ("status", "ok") in reply.properties.UserProperty
    assert_same_faces(detector.detect(cv2.imread(str(path))), json.loads(reply.payload)["faces"])


def test_bad_payloads_answered_on_the_error_topic_and_bridge_keeps_running(bridge: Client, detector) -> None:
    huge = cv2.imencode(".png", np.zeros((2000, 2500, 3), np.uint8))[1].tobytes()
    cases = [
        (b"not an image", "invalid_image"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(500), "invalid_image"),
        (os.urandom(MAX_BYTES + 1), "payload_too_large"),
        (huge, "payload_too_large"),
    ]
    for i, (payload, reason) in enumerate(cases):
        correlation = f"bad-{i}".encode()
        bridge.publish(f"frames/bad{i}", payload, response_topic="replies/bad", correlation=correlation)
        error = json.loads(bridge.receive(ERROR_TOPIC).payload)
        assert error["error"] == reason and error["topic"] == f"frames/bad{i}"
        reply = bridge.receive("replies/bad")
        assert reply.properties.CorrelationData == correlation and json.loads(reply.payload)["error"] == reason
        assert ("status", "error") in reply.properties.UserProperty
    path = real_images()[2]
    bridge.publish("frames/after", path.read_bytes())
    record = json.loads(bridge.receive("faces/frames/after").payload)
    assert_same_faces(detector.detect(cv2.imread(str(path))), record["faces"])


def test_bridge_reconnects_after_a_broker_restart(broker: Broker, bridge: Client, detector) -> None:
    bridge.close()
    broker.stop()
    broker.start()  # same port, fresh broker: no sessions, no subscriptions
    client = Client(broker.port, ["faces/#"])
    try:
        path = real_images()[2]
        payload = path.read_bytes()

        def answered() -> bool:
            client.publish("frames/again", payload)
            try:
                return client.receive("faces/frames/again", timeout=1.0) is not None
            except queue.Empty:
                return False

        wait_until(answered, 40, "the bridge to reconnect and resubscribe", interval=0)
    finally:
        client.close()
