"""Which strings may be published to as MQTT topic names, checked before paho or the broker sees them.

A topic name that breaks the MQTT rules makes ``paho`` raise in ``publish`` (wildcards, over 65,535 bytes) or the
broker drop the whole connection (U+0000 and, on mosquitto, other control characters: "Malformed UTF-8"). Reply
topics come from clients (MQTT v5 ``ResponseTopic``, or a frame topic under the result prefix), so they are checked
here first and a bad one is reported instead of used.
"""

from __future__ import annotations

import re

MQTT_MAX_TOPIC_BYTES = 65_535  # the protocol's limit: a UTF-8 string with a 16-bit length
_CONTROL = re.compile("[\u0000-\u001f\u007f-\u009f]")


def topic_problem(topic: object, max_bytes: int = MQTT_MAX_TOPIC_BYTES) -> str | None:
    """Why ``topic`` cannot be published to (a phrase to follow the topic in a message), or None if it can."""
    if not isinstance(topic, str) or not topic:
        return "is empty" if topic == "" else f"is not a string ({type(topic).__name__})"
    if "#" in topic or "+" in topic:
        return "contains a wildcard ('#' or '+'), which only subscriptions may use"
    if topic.startswith("$"):
        return "starts with '$' (reserved for the broker)"
    if _CONTROL.search(topic):
        return "contains a control character (U+0000-U+001F or U+007F-U+009F)"
    try:
        size = len(topic.encode("utf-8"))
    except UnicodeEncodeError:
        return "is not valid UTF-8 (lone surrogate)"
    if size > min(max_bytes, MQTT_MAX_TOPIC_BYTES):
        return f"is {size} bytes long in UTF-8, over the limit of {min(max_bytes, MQTT_MAX_TOPIC_BYTES)}"
    return None


def shorten(topic: str, keep: int = 80) -> str:
    """The topic for a log line or an error message: at most ``keep`` characters, control characters escaped."""
    text = topic if len(topic) <= keep else f"{topic[:keep]}...({len(topic)} chars)"
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
