"""MQTT bridge (paho-mqtt 2.x, extra ``[mqtt]``): ``edge-sdk mqtt``.

JPEG/PNG frames published on the subscribed topics (default ``frames/#``) are answered with the CLI's detection JSON:

- plain publish on ``T`` → result on ``<result_prefix>/T`` (default ``faces/T``);
- MQTT v5 request (``ResponseTopic`` set) → result on that topic, ``CorrelationData`` copied back;
- a bad frame (not an image, corrupt, too large, bridge overloaded) → ``{"error", "detail", "topic"}`` on the error
  topic (and on the ``ResponseTopic`` of a request); the bridge keeps running.

Replies carry the v5 ``ContentType`` ``application/json`` and a user property ``status`` = ``ok`` | ``error``.
TCP_NODELAY is set on the client socket (with it, a round trip through broker and detector is a few ms; without it
Nagle adds ~40-90 ms). Lost connections are retried by paho with exponential backoff (``reconnect_min_s`` to
``reconnect_max_s``); subscriptions are renewed on every connect. Frames are handed from paho's network thread to
``workers`` detector threads through a bounded queue; when it is full new frames are refused ("busy") rather than
letting latency grow without bound.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from ..detector import FaceDetector
from ..errors import InvalidArgumentError
from .payload import Limits, PayloadError, decode_payload
from .records import detect_record

log = logging.getLogger(__name__)

_STOP = object()


@dataclass(frozen=True)
class BridgeConfig:
    """Where to connect, what to listen to, where to answer, and how much to take on."""

    host: str = "127.0.0.1"
    port: int = 1883
    subscribe: tuple[str, ...] = ("frames/#",)
    result_prefix: str = "faces"
    error_topic: str = "edge-sdk/errors"
    qos: int = 1
    client_id: str = ""
    username: str | None = None
    password: str | None = None
    tls_ca: str | None = None
    keepalive: int = 30
    limits: Limits = field(default_factory=Limits)
    workers: int = 1
    queue_size: int = 8
    reconnect_min_s: int = 1
    reconnect_max_s: int = 30

    def __post_init__(self) -> None:
        if self.workers < 1 or self.queue_size < 1:
            raise InvalidArgumentError(f"workers and queue_size must be >= 1, got {self.workers}, {self.queue_size}")


@dataclass
class BridgeStats:
    received: int = 0
    answered: int = 0
    errors: int = 0
    dropped: int = 0


def parse_broker(text: str) -> tuple[str, int]:
    """``host:port`` (port defaults to 1883; ``[::1]:1883`` for IPv6)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        return text.strip("[]"), 1883
    return host.strip("[]"), int(port)


class MqttBridge:
    """Subscribes to frames, runs the detector, publishes results. ``start()`` / ``stop()``, or ``with``."""

    def __init__(self, detector: FaceDetector, config: BridgeConfig | None = None) -> None:
        self.detector = detector
        self.config = config or BridgeConfig()
        self.stats = BridgeStats()
        self.connected = threading.Event()
        self._queue: queue.Queue = queue.Queue(maxsize=self.config.queue_size)
        self._workers: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._stopping = False
        self.client = self._make_client()

    def _make_client(self) -> mqtt.Client:
        cfg = self.config
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cfg.client_id, protocol=mqtt.MQTTv5)
        if cfg.username is not None:
            client.username_pw_set(cfg.username, cfg.password)
        if cfg.tls_ca is not None:
            client.tls_set(ca_certs=cfg.tls_ca)
        client.reconnect_delay_set(min_delay=cfg.reconnect_min_s, max_delay=cfg.reconnect_max_s)
        client.max_queued_messages_set(1000)  # bound paho's outgoing queue while disconnected
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    # lifecycle ---------------------------------------------------------------------------------------------------
    def start(self) -> "MqttBridge":
        """Start the worker threads and paho's network thread; connects (and reconnects) in the background."""
        for i in range(self.config.workers):
            worker = threading.Thread(target=self._work, name=f"edge-sdk-mqtt-worker-{i}", daemon=True)
            worker.start()
            self._workers.append(worker)
        self.client.connect_async(self.config.host, self.config.port, keepalive=self.config.keepalive,
                                  clean_start=True)
        self.client.loop_start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Disconnect, stop the network thread, finish the frame in progress and stop the workers."""
        self._stopping = True
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()
        while True:  # frames not started yet are dropped
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        for _ in self._workers:
            self._queue.put(_STOP)
        for worker in self._workers:
            worker.join(timeout)
        self._workers.clear()
        log.info("mqtt bridge stopped: %s", self.stats)

    def __enter__(self) -> "MqttBridge":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # paho callbacks (network thread) -------------------------------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason_code: Any, _props: Any) -> None:
        if reason_code.is_failure:
            log.warning("broker %s:%d refused the connection: %s", self.config.host, self.config.port, reason_code)
            return
        sock = client.socket()
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        options = SubscribeOptions(qos=self.config.qos, noLocal=True)  # never receive our own results
        client.subscribe([(topic, options) for topic in self.config.subscribe])
        self.connected.set()
        log.info("connected to %s:%d, subscribed to %s", self.config.host, self.config.port, self.config.subscribe)

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason_code: Any, _props: Any) -> None:
        self.connected.clear()
        if self._stopping:
            return
        log.warning("disconnected from %s:%d (%s); paho reconnects with backoff up to %d s",
                    self.config.host, self.config.port, reason_code, self.config.reconnect_max_s)

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        if message.topic.startswith(self.config.result_prefix + "/") or message.topic == self.config.error_topic:
            return  # a filter that also matches our outputs (e.g. '#'): never answer ourselves
        self._count("received")
        try:
            self._queue.put_nowait((message.topic, message.payload, message.properties))
        except queue.Full:
            self._count("dropped")
            self._reply_error(message.topic, message.properties, "busy",
                              f"{self.config.queue_size} frames already waiting; frame dropped")

    # workers -----------------------------------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            topic, payload, properties = item
            try:
                self._handle(topic, payload, properties)
            except PayloadError as exc:
                self._reply_error(topic, properties, exc.reason, str(exc))
            except Exception as exc:  # a worker must survive anything one frame does
                log.exception("frame on %s failed", topic)
                self._reply_error(topic, properties, "internal_error", f"{type(exc).__name__}: {exc}")

    def _handle(self, topic: str, payload: bytes, properties: Properties | None) -> None:
        declared = getattr(properties, "ContentType", None) if properties is not None else None
        image, _ = decode_payload(payload, self.config.limits, declared)
        _, record = detect_record(self.detector, image, topic)
        response_topic = getattr(properties, "ResponseTopic", None) if properties is not None else None
        target = response_topic or f"{self.config.result_prefix}/{topic}"
        self._publish(target, record, properties, status="ok")
        self._count("answered")

    def _reply_error(self, topic: str, properties: Properties | None, reason: str, detail: str) -> None:
        self._count("errors")
        log.info("frame on %s rejected (%s): %s", topic, reason, detail)
        body = {"error": reason, "detail": detail, "topic": topic}
        self._publish(self.config.error_topic, body, None, status="error")
        response_topic = getattr(properties, "ResponseTopic", None) if properties is not None else None
        if response_topic:
            self._publish(response_topic, body, properties, status="error")

    def _publish(self, topic: str, body: dict, request: Properties | None, status: str) -> None:
        props = Properties(PacketTypes.PUBLISH)
        props.ContentType = "application/json"
        props.UserProperty = [("status", status)]
        correlation = getattr(request, "CorrelationData", None) if request is not None else None
        if correlation is not None:
            props.CorrelationData = correlation
        self.client.publish(topic, json.dumps(body, separators=(",", ":")), qos=self.config.qos, properties=props)

    def _count(self, name: str) -> None:
        with self._lock:
            setattr(self.stats, name, getattr(self.stats, name) + 1)


def run_from_args(args: Any) -> int:
    """``edge-sdk mqtt``: run the bridge until SIGINT/SIGTERM."""
    from .records import detector_from_args

    host, port = parse_broker(args.broker)
    config = BridgeConfig(
        host=host, port=port, subscribe=tuple(args.subscribe or ("frames/#",)), result_prefix=args.result_prefix,
        error_topic=args.error_topic, qos=args.qos, client_id=args.client_id, username=args.username,
        password=os.environ.get("MQTT_PASSWORD"), tls_ca=args.tls_ca, limits=Limits(args.max_bytes, args.max_pixels),
        workers=args.workers, queue_size=args.queue_size,
    )
    detector = detector_from_args(args, max_pixels=args.max_pixels)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    bridge = MqttBridge(detector, config).start()
    log.info("bridge %s:%d %s → %s/<topic>", host, port, config.subscribe, config.result_prefix)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        bridge.stop()
    return 0
