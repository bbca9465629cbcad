"""What a backend's ``run`` takes: :class:`InputSpec` (its own module so that the writers of that input and the
backends that declare it can both import it without importing each other)."""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("float", "quantized", "pixels")
LAYOUTS = ("NCHW", "NHWC")


@dataclass(frozen=True)
class InputSpec:
    """What a backend's ``run`` takes for one batch.

    ``kind``: "float" (normalized float32), "quantized" (normalized, then ``real = scale * (q - zero_point)`` in
    ``dtype``), "pixels" (the uint8 BGR canvas; the model normalizes). ``layout``: "NCHW" or "NHWC".
    """

    kind: str = "float"
    layout: str = "NCHW"
    scale: float = 1.0
    zero_point: int = 0
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.kind not in KINDS or self.layout not in LAYOUTS:
            raise ValueError(f"unknown input spec {self.kind!r}/{self.layout!r}")
        if self.kind == "pixels" and (self.layout != "NHWC" or self.dtype != "uint8"):
            raise ValueError("a pixels input is the uint8 NHWC canvas")

    def shape(self, batch: int, height: int, width: int) -> tuple[int, int, int, int]:
        return (batch, 3, height, width) if self.layout == "NCHW" else (batch, height, width, 3)


FLOAT_NCHW = InputSpec()
PIXELS_NHWC = InputSpec("pixels", "NHWC", dtype="uint8")
