"""Model configuration: everything that shapes the network, in one small object."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from edge_sdk.priors import AnchorConfig


@dataclass(frozen=True)
class ModelConfig:
    """RetinaFace with a MobileNetV1 backbone.

    ``width_mult`` scales the MobileNetV1 channel widths (0.25 → 8..256 channels); ``activation`` is used in the
    backbone, FPN and inside the SSH modules (the SSH output is always a ReLU, as in the original).
    """

    width_mult: float = 0.25
    activation: str = "leaky_relu"  # or "relu"
    leaky_slope: float = 0.1
    fpn_channels: int = 64
    num_classes: int = 2
    anchors: AnchorConfig = field(default_factory=AnchorConfig)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["anchors"] = self.anchors.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        data = dict(data)
        data["anchors"] = AnchorConfig.from_dict(data["anchors"])
        return cls(**data)
