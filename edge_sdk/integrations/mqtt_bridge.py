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

Nothing one message carries can stop the bridge (the "Threat model" section of ``docs/INTEGRATIONS.md``): reply
topics (a v5 ``ResponseTopic``, or ``<result_prefix>/<frame topic>``) are checked before use (no wildcards, no
control characters, at most ``max_topic_bytes`` of UTF-8) and a bad one is reported on the error topic instead;
every publish is guarded; a worker thread that dies anyway is replaced (counted in :class:`BridgeStats`). The
bridge asks the broker (v5 Maximum Packet Size) not to send it packets larger than the frame limit plus
``PACKET_HEADROOM``, so an oversized frame is dropped by the broker before it costs the bridge any memory.
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
from .mqtt_topics import MQTT_MAX_TOPIC_BYTES, shorten, topic_problem
from .payload import Limits, PayloadError, decode_payload
from .records import detect_record
from .throttled_log import ThrottledLog

log = logging.getLogger(__name__)

_STOP = object()
#: bytes a frame's packet may carry beyond the payload limit (topic, properties) before the broker drops it for us
PACKET_HEADROOM = 64 * 1024
_MQTT_MAX_PACKET = 268_435_455  # the largest packet MQTT can frame (256 MiB)


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
    max_topic_bytes: int = 1024  # longest reply topic (UTF-8 bytes) the bridge publishes to
    warning_interval_s: float = 10.0  # at most one "busy" / bad-topic / failed-publish warning per interval

    def __post_init__(self) -> None:
        if self.workers < 1 or self.queue_size < 1:
            raise InvalidArgumentError(f"workers and queue_size must be >= 1, got {self.workers}, {self.queue_size}")
        if not 1 <= self.max_topic_bytes <= MQTT_MAX_TOPIC_BYTES:
            raise InvalidArgumentError(
                f"max_topic_bytes must be in [1, {MQTT_MAX_TOPIC_BYTES}], got {self.max_topic_bytes!r}"
            )
        for name, topic in (("error_topic", self.error_topic), ("result_prefix", f"{self.result_prefix}/x")):
            problem = topic_problem(topic, self.max_topic_bytes)
            if problem:
                raise InvalidArgumentError(f"{name} {shorten(topic)!r} {problem}")


@dataclass
class BridgeStats:
    """What the bridge has done since it started (logged when it stops)."""

    received: int = 0
    answered: int = 0
    errors: int = 0
    dropped: int = 0  # refused as "busy" (queue full)
    invalid_topics: int = 0  # frames whose reply topic could not be published to (reported on the error topic)
    publish_failures: int = 0  # publishes paho refused (the frame's answer is lost, the bridge goes on)
    worker_restarts: int = 0  # worker threads that died and were replaced


class _TopicError(Exception):
    """A frame's reply topic cannot be published to; ``reason`` is the error code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


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
        self._warn = ThrottledLog(log, logging.WARNING, self.config.warning_interval_s)
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
    def start(self) -> MqttBridge:
        """Start the worker threads and paho's network thread; connects (and reconnects) in the background."""
        for index in range(self.config.workers):
            self._start_worker(index)
        connect = Properties(PacketTypes.CONNECT)
        connect.MaximumPacketSize = min(self.config.limits.max_bytes + PACKET_HEADROOM, _MQTT_MAX_PACKET)
        self.client.connect_async(
            self.config.host, self.config.port, keepalive=self.config.keepalive, clean_start=True, properties=connect
        )
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
        with self._lock:
            workers = list(self._workers)
        for _ in workers:
            self._queue.put(_STOP)
        for worker in workers:
            worker.join(timeout)
        self._workers.clear()
        log.info("mqtt bridge stopped: %s", self.stats)

    def __enter__(self) -> MqttBridge:
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
        log.warning(
            "disconnected from %s:%d (%s); paho reconnects with backoff up to %d s",
            self.config.host,
            self.config.port,
            reason_code,
            self.config.reconnect_max_s,
        )

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:  # an exception here would end paho's network thread, and with it the bridge
            self._accept(message.topic, message.payload, message.properties)
        except Exception:
            log.exception("a frame could not be queued")

    def _accept(self, topic: str, payload: bytes, properties: Properties | None) -> None:
        if topic.startswith(self.config.result_prefix + "/") or topic == self.config.error_topic:
            return  # a filter that also matches our outputs (e.g. '#'): never answer ourselves
        self._count("received")
        try:
            target = self._reply_topic(topic, properties)
        except _TopicError as exc:
            self._count("invalid_topics")
            self._warn("frame on %s not processed: %s", shorten(topic), exc)
            self._reply_error(topic, properties, exc.reason, str(exc))
            return
        try:
            self._queue.put_nowait((topic, payload, properties, target))
        except queue.Full:
            self._count("dropped")
            self._warn(
                "bridge busy: frame on %s dropped (%d frames already waiting)", shorten(topic), self.config.queue_size
            )
            self._reply_error(
                topic, properties, "busy", f"{self.config.queue_size} frames already waiting; frame dropped"
            )

    # workers -----------------------------------------------------------------------------------------------------
    def _start_worker(self, index: int) -> None:
        worker = threading.Thread(target=self._work, args=(index,), name=f"edge-sdk-mqtt-worker-{index}", daemon=True)
        with self._lock:
            if index < len(self._workers):
                self._workers[index] = worker
            else:
                self._workers.append(worker)
        worker.start()

    def _work(self, index: int) -> None:
        """A worker's thread: frames until told to stop; replaced by a new one if anything gets past the
        per-frame guard (a bug), so the bridge never silently runs out of workers."""
        try:
            self._process_frames()
        except BaseException:
            log.exception("mqtt worker %d died", index)
            if not self._stopping:
                self._count("worker_restarts")
                self._start_worker(index)

    def _process_frames(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            topic, payload, properties, target = item
            try:
                self._handle(topic, payload, properties, target)
            except PayloadError as exc:
                self._reply_error(topic, properties, exc.reason, str(exc))
            except Exception as exc:  # a worker must survive anything one frame does
                log.exception("frame on %s failed", shorten(topic))
                self._reply_error(topic, properties, "internal_error", f"{type(exc).__name__}: {exc}")

    def _handle(self, topic: str, payload: bytes, properties: Properties | None, target: str) -> None:
        declared = getattr(properties, "ContentType", None) if properties is not None else None
        image, _ = decode_payload(payload, self.config.limits, declared)
        _, record = detect_record(self.detector, image, topic)
        if self._publish(target, record, properties, status="ok"):
            self._count("answered")

    def _reply_topic(self, topic: str, properties: Properties | None) -> str:
        """Where a frame's answer goes: its v5 ResponseTopic, else ``<result_prefix>/<topic>``; checked."""
        response_topic = _response_topic(properties)
        target = response_topic if response_topic is not None else f"{self.config.result_prefix}/{topic}"
        problem = topic_problem(target, self.config.max_topic_bytes)
        if problem:
            if response_topic is not None:
                raise _TopicError("invalid_response_topic", f"ResponseTopic {shorten(target)!r} {problem}")
            raise _TopicError("invalid_topic", f"result topic {shorten(target)!r} {problem}")
        return target

    def _reply_error(self, topic: str, properties: Properties | None, reason: str, detail: str) -> None:
        """Report on the error topic, and on the request's ResponseTopic when that is one we may publish to."""
        self._count("errors")
        log.info("frame on %s rejected (%s): %s", shorten(topic), reason, detail)
        body = {"error": reason, "detail": detail, "topic": topic}
        self._publish(self.config.error_topic, body, None, status="error")
        response_topic = _response_topic(properties)
        if response_topic is not None and topic_problem(response_topic, self.config.max_topic_bytes) is None:
            self._publish(response_topic, body, properties, status="error")

    def _publish(self, topic: str, body: dict, request: Properties | None, status: str) -> bool:
        """Publish ``body`` as JSON; False (counted, logged) if paho refuses it: a failed answer is never an
        exception in a worker or in paho's thread."""
        props = Properties(PacketTypes.PUBLISH)
        props.ContentType = "application/json"
        props.UserProperty = [("status", status)]
        correlation = getattr(request, "CorrelationData", None) if request is not None else None
        if correlation is not None:
            props.CorrelationData = correlation
        try:
            info = self.client.publish(
                topic, json.dumps(body, separators=(",", ":")), qos=self.config.qos, properties=props
            )
        except Exception as exc:  # paho's ValueError for a bad topic, struct.error for an oversized property, ...
            failure = f"{type(exc).__name__}: {exc}"
        else:
            if info.rc in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):  # NO_CONN: queued until reconnected
                return True
            failure = mqtt.error_string(info.rc)
        self._count("publish_failures")
        self._warn("publish to %s failed: %s", shorten(topic), failure)
        return False

    def _count(self, name: str) -> None:
        with self._lock:
            setattr(self.stats, name, getattr(self.stats, name) + 1)


def _response_topic(properties: Properties | None) -> str | None:
    """The v5 ResponseTopic of a message, or None (absent; paho leaves an empty one out)."""
    topic = getattr(properties, "ResponseTopic", None) if properties is not None else None
    return topic if topic else None


def run_from_args(args: Any) -> int:
    """``edge-sdk mqtt``: run the bridge until SIGINT/SIGTERM."""
    from .records import detector_from_args

    host, port = parse_broker(args.broker)
    optional = {name: getattr(args, name) for name in ("max_topic_bytes",) if getattr(args, name, None) is not None}
    config = BridgeConfig(
        host=host,
        port=port,
        subscribe=tuple(args.subscribe or ("frames/#",)),
        result_prefix=args.result_prefix,
        error_topic=args.error_topic,
        qos=args.qos,
        client_id=args.client_id,
        username=args.username,
        password=os.environ.get("MQTT_PASSWORD"),
        tls_ca=args.tls_ca,
        limits=Limits(args.max_bytes, args.max_pixels),
        workers=args.workers,
        queue_size=args.queue_size,
        **optional,
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
