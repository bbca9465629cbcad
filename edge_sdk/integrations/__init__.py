"""Integrations: an HTTP service, an MQTT bridge and Ray Data batch inference.

Each lives in its own module and imports its framework (FastAPI/uvicorn, paho-mqtt, Ray) only there, so
``import edge_sdk`` and ``import edge_sdk.integrations`` never pull them in:

- :mod:`edge_sdk.integrations.http_service` — ``edge-sdk serve`` (extra ``[serve]``)
- :mod:`edge_sdk.integrations.mqtt_bridge` — ``edge-sdk mqtt`` (extra ``[mqtt]``)
- :mod:`edge_sdk.integrations.ray_data` — ``FaceDetectionBatch`` and ``detect_dataset`` (extra ``[ray]``)

Shared, framework-free pieces: :mod:`.payload` (encoded-image limits and decoding) and :mod:`.records`
(one detection → the CLI's JSON record).
"""

from __future__ import annotations

import importlib.util

#: import names each pip extra brings (what :func:`require_extra` checks)
EXTRAS: dict[str, tuple[str, ...]] = {
    "serve": ("fastapi", "uvicorn", "prometheus_client", "python_multipart"),
    "mqtt": ("paho.mqtt",),
    "ray": ("ray", "pyarrow"),
}


def require_extra(extra: str, what: str) -> None:
    """Raise :class:`edge_sdk.BackendUnavailableError` naming the pip extra when one of its packages is missing."""
    from .._version import install_hint
    from ..errors import BackendUnavailableError

    missing = [m for m in EXTRAS[extra] if not _findable(m)]
    if missing:
        raise BackendUnavailableError(f"{what} needs {', '.join(missing)}: {install_hint(extra)}")


def _findable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:  # parent package missing
        return False
