"""`edge-sdk mqtt`: a real mosquitto on 127.0.0.1 (own config, free port), the bridge as a subprocess, real images,
MQTT v5 request/response, bad payloads on the error topic, reconnect after a broker restart."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import cv2
import numpy as np
import pytest

from .conftest import REPO_ROOT, require
from .integration_support import (
    RECORD_KEYS, assert_same_faces, free_port, port_open, real_images, require_binary, wait_until,
)

MAX_BYTES = 1_000_000
MAX_PIXELS = 4_000_000
ERROR_TOPIC = "edge-sdk/errors"


class Broker:
    """mosquitto with its own config: loopback listener, no persistence, TCP_NODELAY."""

    def __init__(self, binary: str, port: int, workdir: Path) -> None:
        self.binary, self.port, self.workdir = binary, port, workdir
        self.config = workdir / "mosquitto.conf"
        self.config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                               "set_tcp_nodelay true\nlog_dest stdout\n")
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.workdir / "mosquitto.log", "a") as log:
            self.process = subprocess.Popen([self.binary, "-c", str(self.config)], stdout=log, stderr=subprocess.STDOUT)
        wait_until(lambda: port_open(self.port), 10, f"mosquitto on port {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Client:
    """A paho v5 client collecting everything it receives on its subscriptions."""

    def __init__(self, port: int, topics: list[str]) -> None:
        import paho.mqtt.client as mqtt

        self.messages: queue.Queue = queue.Queue()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        subscribed = queue.Queue()
        self.client.on_connect = lambda c, *_: c.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.client.on_subscribe = lambda *_: subscribed.put(True)
        self.client.on_message = lambda _c, _u, message: self.messages.put(message)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.client.subscribe([(topic, 1) for topic in topics])
        subscribed.get(timeout=10)

    def publish(self, topic: str, payload: bytes, response_topic: str | None = None,
                correlation: bytes | None = None) -> None:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        props = None
        if response_topic is not None:
            props = Properties(PacketTypes.PUBLISH)
            props.ResponseTopic = response_topic
            props.CorrelationData = correlation
        self.client.publish(topic, payload, qos=1, properties=props).wait_for_publish(10)

    def receive(self, topic: str, timeout: float = 30.0):
        """The next message on ``topic`` (others received meanwhile are kept for later calls)."""
        kept, found = [], None
        try:
            while found is None:
                message = self.messages.get(timeout=timeout)
                if message.topic == topic:
                    found = message
                else:
                    kept.append(message)
        finally:
            for message in kept:
                self.messages.put(message)
        return found

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture(scope="module")
def broker(tmp_path_factory) -> Broker:
    require("paho.mqtt", "edge-sdk[mqtt]: the MQTT bridge")
    binary = require_binary("mosquitto", "MQTT broker for the bridge tests (.ci/run installs it with apt-get)")
    broker = Broker(binary, free_port(), tmp_path_factory.mktemp("mosquitto"))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="module")
def bridge(broker: Broker, tmp_path_factory):
    log_path = tmp_path_factory.mktemp("bridge") / "bridge.log"
    command = [sys.executable, "-m", "edge_sdk", "-v", "mqtt", "--broker", f"127.0.0.1:{broker.port}",
               "--subscribe", "frames/#", "--backend", "onnxruntime", "--max-bytes", str(MAX_BYTES),
               "--max-pixels", str(MAX_PIXELS)]
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
    client = Client(broker.port, ["faces/#", ERROR_TOPIC, "replies/#"])
    try:
        # ready when it answers: requests until one comes back (bounded)
        probe = cv2.imencode(".jpg", np.zeros((64, 64, 3), np.uint8))[1].tobytes()

        def answered() -> bool:
            assert process.poll() is None, f"bridge exited early:\n{log_path.read_text()}"
            client.publish("frames/probe", probe)
            try:
                return client.receive("faces/frames/probe", timeout=1.0) is not None
            except queue.Empty:
                return False

        wait_until(answered, 60, "the bridge to answer", interval=0)
        while not client.messages.empty():
            client.messages.get()
        yield client
    finally:
        client.close()
        os.kill(process.pid, signal.SIGTERM)
        try:
            assert process.wait(timeout=15) == 0, log_path.read_text()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def test_frames_in_detections_out_match_python_api(bridge: Client, detector) -> None:
    for i, path in enumerate(real_images()):
        bridge.publish(f"frames/cam{i}", path.read_bytes())
        record = json.loads(bridge.receive(f"faces/frames/cam{i}").payload)
        assert set(record) == RECORD_KEYS and record["image"] == f"frames/cam{i}"
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
