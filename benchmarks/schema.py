"""JSON schema (draft 2020-12) of ``benchmark.json``. Bump :data:`SCHEMA_VERSION` on incompatible changes."""

from __future__ import annotations

from typing import Any

SCHEMA_VERSION = 1

_NUM = {"type": "number"}
_NUM_OR_NULL = {"type": ["number", "null"]}
_STR_OR_NULL = {"type": ["string", "null"]}
_INT_OR_NULL = {"type": ["integer", "null"]}

_STATS = {
    "type": "object",
    "required": ["n", "median", "p90", "mean", "min", "max", "iqr"],
    "properties": {
        "n": {"type": "integer", "minimum": 1},
        **{k: _NUM for k in ("median", "p90", "mean", "min", "max", "iqr")},
    },
}
_STATS_OR_NULL = {"anyOf": [_STATS, {"type": "null"}]}

_SKIPPED = {
    "type": "array",
    "items": {"type": "object", "required": ["reason"], "properties": {"reason": {"type": "string", "minLength": 1}}},
}

_LATENCY_ROW = {
    "type": "object",
    "required": [
        "key",
        "detector",
        "label",
        "backend",
        "precision",
        "device",
        "input_size",
        "threads",
        "detect_ms",
        "fps",
        "stages_ms",
        "bare_backend_ms",
        "overhead_ratio",
        "memory",
        "info",
        "spec",
    ],
    "properties": {
        "key": {"type": "string"},
        "detector": {"type": "string"},
        "label": {"type": "string"},
        "backend": _STR_OR_NULL,
        "precision": _STR_OR_NULL,
        "device": {"type": "string"},
        "input_size": {"type": "string"},
        "threads": _INT_OR_NULL,
        "detect_ms": _STATS,
        "fps": _NUM_OR_NULL,
        "stages_ms": {
            "anyOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "required": ["preprocess", "inference", "postprocess"],
                    "properties": {k: _STATS for k in ("preprocess", "inference", "postprocess")},
                },
            ]
        },
        "bare_backend_ms": _STATS_OR_NULL,
        "overhead_ratio": _NUM_OR_NULL,
        "faces_per_image": _NUM_OR_NULL,
        "memory": {
            "type": "object",
            "required": ["load_mb", "working_peak_mb", "process_peak_mb"],
            "properties": {k: _NUM_OR_NULL for k in ("load_mb", "working_peak_mb", "process_peak_mb")},
        },
        "info": {"type": "object"},
        "spec": {"type": "object", "required": ["detector", "size", "threads", "device", "purpose"]},
    },
}

_AP = {
    "type": "object",
    "required": ["easy", "medium", "hard"],
    "properties": {k: _NUM_OR_NULL for k in ("easy", "medium", "hard")},
}

_ACCURACY_ROW = {
    "type": "object",
    "required": ["key", "detector", "label", "input_size", "widerface", "fddb"],
    "properties": {
        "key": {"type": "string"},
        "detector": {"type": "string"},
        "label": {"type": "string"},
        "input_size": {"type": "string"},
        "widerface": {
            "anyOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "required": ["ap", "images"],
                    "properties": {"ap": _AP, "images": {"type": "integer"}},
                },
            ]
        },
        "fddb": {
            "anyOf": [
                {"type": "null"},
                {"type": "object", "required": ["tpr_at_fp_discrete", "tpr_at_fp_continuous", "images"]},
            ]
        },
    },
}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "edge-sdk benchmark report",
    "type": "object",
    "required": [
        "schema_version",
        "created",
        "command",
        "machine",
        "versions",
        "devices",
        "settings",
        "model",
        "peers",
        "latency",
        "accuracy",
        "ratios",
        "notes",
    ],
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "created": {"type": "string"},
        "command": {"type": "string"},
        "machine": {
            "type": "object",
            "required": ["cpu", "logical_cores", "usable_cores", "os", "python"],
            "properties": {
                "cpu": {"type": "string"},
                "logical_cores": {"type": "integer", "minimum": 1},
                "usable_cores": {"type": "integer", "minimum": 1},
            },
        },
        "versions": {"type": "object", "additionalProperties": _STR_OR_NULL},
        "devices": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["runtime", "device", "present", "detail"],
                "properties": {"present": {"type": "boolean"}},
            },
        },
        "settings": {"type": "object", "required": ["sizes", "threads", "devices", "backends", "peers"]},
        "model": {
            "type": "object",
            "required": ["name", "files"],
            "properties": {
                "files": {
                    "type": "array",
                    "items": {"type": "object", "required": ["path", "format", "precision", "input_size", "bytes"]},
                }
            },
        },
        "peers": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "label", "status"],
                "properties": {"status": {"enum": ["ok", "skipped", "not requested"]}},
            },
        },
        "latency": {
            "anyOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "required": ["images", "runs", "warmup", "results", "skipped", "process_peak_mb"],
                    "properties": {
                        "runs": {"type": "integer", "minimum": 1},
                        "warmup": {"type": "integer", "minimum": 0},
                        "images": {"type": "array", "minItems": 1},
                        "results": {"type": "array", "items": _LATENCY_ROW},
                        "skipped": _SKIPPED,
                        "process_peak_mb": _NUM_OR_NULL,
                    },
                },
            ]
        },
        "accuracy": {
            "anyOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "required": ["data", "results", "skipped"],
                    "properties": {"results": {"type": "array", "items": _ACCURACY_ROW}, "skipped": _SKIPPED},
                },
            ]
        },
        "ratios": {
            "type": "object",
            "required": ["sdk_overhead", "precision_vs_fp32", "ours_vs_yunet", "ours_vs_reference"],
        },
        "notes": {"type": "array", "items": {"type": "string"}},
    },
}
