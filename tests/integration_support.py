"""Helpers shared by the integration tests (HTTP, MQTT, Ray, C++): binaries, ports, real images, face matching, a
mosquitto broker and an MQTT v5 client."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_sdk.detections import Detections
from edge_sdk.nms import pairwise_iou

from .conftest import IN_CI, REPO_ROOT, data_root, require

#: real WIDER FACE val images with 7, 5 and 1 faces (at the default 640 input)
WIDER_IMAGES = (
    "0--Parade/0_Parade_Parade_0_443.jpg",
    "30--Surgeons/30_Surgeons_Surgeons_30_343.jpg",
    "13--Interview/13_Interview_Interview_On_Location_13_190.jpg",
)
RECORD_KEYS = {
    "schema_version",
    "image",
    "frame",
    "timestamp",
    "media_time_ms",
    "width",
    "height",
    "model",
    "model_file",
    "model_sha256",
    "precision",
    "input_size",
    "backend",
    "latency_ms",
    "faces",
}
ERROR_TOPIC = "edge-sdk/errors"  # the bridge's default error topic


def require_binary(name: str, why: str) -> str:
    """Path of an executable, or skip (outside CI) / fail (in CI, where .ci/run installs it)."""
    path = shutil.which(name) or shutil.which(name, path="/usr/local/sbin:/usr/sbin:/sbin")  # mosquitto is in sbin
    if path is None:
        if IN_CI:
            raise RuntimeError(f"{name} is required in CI ({why}) but is not on PATH")
        pytest.skip(f"{name} not found on PATH ({why})")
    return path


def real_images() -> list[Path]:
    root = data_root() / "widerface" / "WIDER_val" / "images"
    paths = [root / name for name in WIDER_IMAGES]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        if IN_CI:
            raise RuntimeError(f"missing WIDER val images: {missing}")
        pytest.skip(f"missing WIDER val images: {missing}")
    return paths


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def assert_same_faces(expected: Detections, faces: list[dict], min_iou: float = 0.99, score_tol: float = 1e-3) -> None:
    """``faces`` (JSON records' faces) are ``expected``'s faces: same count, each box matched with IoU >= min_iou."""
    assert len(faces) == len(expected), (len(faces), len(expected))
    if not faces:
        return
    boxes = np.array([f["box"] for f in faces], np.float32)
    scores = np.array([f["score"] for f in faces], np.float32)
    iou = pairwise_iou(expected.boxes, boxes)
    best = iou.argmax(axis=1)
    assert iou.max(axis=1).min() >= min_iou, iou.max(axis=1)
    assert len(set(best.tolist())) == len(faces), "two expected faces matched the same returned face"
    np.testing.assert_allclose(scores[best], expected.scores, atol=score_tol)


class Broker:
    """mosquitto with its own config: loopback listener, no persistence, TCP_NODELAY."""

    def __init__(self, binary: str, port: int, workdir: Path) -> None:
        self.binary, self.port, self.workdir = binary, port, workdir
        self.config = workdir / "mosquitto.conf"
        self.config.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "set_tcp_nodelay true\nlog_dest stdout\n"
        )
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


class MqttClient:
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

    def publish(
        self, topic: str, payload: bytes, response_topic: str | None = None, correlation: bytes | None = None
    ) -> None:
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


@contextmanager
def running_broker(workdir: Path) -> Iterator[Broker]:
    """mosquitto on a free loopback port for the duration (skips outside CI when paho or mosquitto is missing)."""
    require("paho.mqtt", "edge-face-sdk[mqtt]: the MQTT bridge")
    binary = require_binary("mosquitto", "MQTT broker for the bridge tests (.ci/run installs it with apt-get)")
    broker = Broker(binary, free_port(), workdir)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@contextmanager
def running_bridge(broker: Broker, log_path: Path, options: list[str], topics: list[str]) -> Iterator[MqttClient]:
    """``edge-sdk mqtt`` (subscribed to ``frames/#``, plus ``options``) as a subprocess, ready (it answered a probe
    frame), and a client subscribed to ``topics``; both stopped afterwards (the bridge must exit 0 on SIGTERM)."""
    command = [
        sys.executable,
        "-m",
        "edge_sdk",
        "-v",
        "mqtt",
        "--broker",
        f"127.0.0.1:{broker.port}",
        "--subscribe",
        "frames/#",
        *options,
    ]
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
    client = MqttClient(broker.port, topics)
    try:
        wait_until_answering(client, lambda: process.poll() is None or f"bridge exited early:\n{log_path.read_text()}")
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


def wait_until_answering(client: MqttClient, alive: Callable[[], object] = lambda: True, timeout: float = 60) -> None:
    """Publish probe frames until the bridge answers one (it is connected and subscribed), then forget the probes'
    messages. ``alive`` returns True, or a message to fail with (the bridge died)."""
    probe = cv2.imencode(".jpg", np.zeros((64, 64, 3), np.uint8))[1].tobytes()

    def answered() -> bool:
        state = alive()
        assert state is True, state
        client.publish("frames/probe", probe)
        try:
            return client.receive("faces/frames/probe", timeout=1.0) is not None
        except queue.Empty:
            return False

    wait_until(answered, timeout, "the bridge to answer", interval=0)
    while not client.messages.empty():
        client.messages.get()
