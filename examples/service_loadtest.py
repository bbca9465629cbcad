"""Bounded loopback load on a running `edge-sdk serve` and/or `edge-sdk mqtt` (nothing is started here).

    edge-sdk serve --port 8080 &                      # HTTP service
    mosquitto -c mosquitto.conf &                     # broker: listener 1883 127.0.0.1, set_tcp_nodelay true
    edge-sdk mqtt --broker 127.0.0.1:1883 &           # bridge
    python examples/service_loadtest.py --http http://127.0.0.1:8080 --clients 4 --seconds 20 IMAGE.jpg ...
    python examples/service_loadtest.py --mqtt 127.0.0.1:1883 --requests 200 IMAGE.jpg ...

HTTP: CLIENTS threads, each with one keep-alive connection, POST /detect in a loop for SECONDS; prints requests/s
and latency p50/p99. MQTT: REQUESTS sequential MQTT v5 requests (ResponseTopic + CorrelationData) to frames/load;
prints the round-trip p50/p99. Every image is sent in turn; the client runs on the same machine as the server, so on a
small box it takes some of the CPU it measures.
"""

from __future__ import annotations

import argparse
import http.client
import json
import queue
import socket
import statistics
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def http_load(url: str, payloads: list[bytes], clients: int, seconds: float) -> dict:
    target = urlparse(url)
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client(offset: int) -> None:
        conn = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=30)
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        i = offset
        while time.perf_counter() < deadline:
            body = payloads[i % len(payloads)]
            i += 1
            start = time.perf_counter()
            conn.request("POST", "/detect", body=body, headers={"Content-Type": "image/jpeg"})
            response = conn.getresponse()
            response.read()
            elapsed = time.perf_counter() - start
            with lock:
                if response.status == 200:
                    latencies.append(elapsed)
                else:
                    errors[0] += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    return {
        "clients": clients,
        "seconds": round(wall, 1),
        "requests": len(latencies),
        "errors": errors[0],
        "requests_per_s": round(len(latencies) / wall, 1),
        "p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "p99_ms": round(percentile(latencies, 99) * 1000, 1),
    }


def mqtt_round_trips(broker: str, payloads: list[bytes], requests: int) -> dict:
    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    host, _, port = broker.rpartition(":")
    replies: queue.Queue = queue.Queue()
    reply_topic = f"loadtest/{uuid.uuid4().hex}"
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.on_connect = lambda c, *_: c.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client.on_message = lambda _c, _u, m: replies.put((time.perf_counter(), m))
    client.connect(host, int(port))
    client.loop_start()
    client.subscribe(reply_topic, qos=1)
    time.sleep(0.5)
    latencies, errors = [], 0
    for i in range(requests):
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = reply_topic
        props.CorrelationData = str(i).encode()
        start = time.perf_counter()
        client.publish("frames/load", payloads[i % len(payloads)], qos=1, properties=props)
        received, message = replies.get(timeout=30)
        assert message.properties.CorrelationData == str(i).encode()
        if "error" in json.loads(message.payload):
            errors += 1
        latencies.append(received - start)
    client.disconnect()
    client.loop_stop()
    return {
        "requests": requests,
        "errors": errors,
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p99_ms": round(percentile(latencies, 99) * 1000, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", nargs="+", type=Path, help="JPEG/PNG files sent in turn")
    parser.add_argument("--http", default=None, help="service URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--mqtt", default=None, help="broker host:port with `edge-sdk mqtt` attached")
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    payloads = [p.read_bytes() for p in args.images]
    if args.http:
        print(json.dumps({"http": http_load(args.http, payloads, args.clients, args.seconds)}))
    if args.mqtt:
        print(json.dumps({"mqtt": mqtt_round_trips(args.mqtt, payloads, args.requests)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
