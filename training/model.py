"""RetinaFace (MobileNetV1 backbone, FPN, SSH context modules, class/box/landmark heads) in PyTorch.

Two deliberate, mathematically identical changes from the original layout (see STACK notes):
- each SSH branch applies its ReLU before the concat (ReLU commutes with concat), which avoids an OpenVINO
  int8 compile crash on Concat → Q → DQ → ReLU;
- heads flatten as reshape [N, C, H*W] → transpose → reshape instead of permute(0,2,3,1) → reshape, which
  keeps converters (FX export, onnx2tf) from scrambling the landmark head.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig

# MobileNetV1 channel plan at width 1.0: (out_channels, stride) per depthwise-separable block, grouped by the
# three stages whose outputs feed the FPN (strides 8, 16, 32).
_STEM_CHANNELS = 32
_STAGES = (
    ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1)),
    ((512, 2), (512, 1), (512, 1), (512, 1), (512, 1), (512, 1)),
    ((1024, 2), (1024, 1)),
)


def _activation(config: ModelConfig) -> nn.Module:
    if config.activation == "leaky_relu":
        return nn.LeakyReLU(config.leaky_slope, inplace=True)
    if config.activation == "relu":
        return nn.ReLU(inplace=True)
    raise ValueError(f"unknown activation {config.activation!r}")


class ConvBNAct(nn.Sequential):
    """conv (no bias) → BatchNorm → optional activation."""

    def __init__(
        self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, act: nn.Module | None = None
    ):
        layers: OrderedDict[str, nn.Module] = OrderedDict(
            conv=nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2, groups=groups, bias=False),
            bn=nn.BatchNorm2d(cout),
        )
        if act is not None:
            layers["act"] = act
        super().__init__(layers)


class DepthwiseSeparable(nn.Sequential):
    def __init__(self, cin: int, cout: int, stride: int, config: ModelConfig):
        super().__init__(
            OrderedDict(
                dw=ConvBNAct(cin, cin, 3, stride, groups=cin, act=_activation(config)),
                pw=ConvBNAct(cin, cout, 1, act=_activation(config)),
            )
        )


class MobileNetV1(nn.Module):
    """Returns the stride-8, 16 and 32 feature maps."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        width = lambda c: max(1, int(c * config.width_mult))  # noqa: E731
        cin = width(_STEM_CHANNELS)
        stages: list[nn.Sequential] = []
        for index, plan in enumerate(_STAGES):
            blocks: list[nn.Module] = []
            if index == 0:
                blocks.append(ConvBNAct(3, cin, 3, 2, act=_activation(config)))
            for channels, stride in plan:
                blocks.append(DepthwiseSeparable(cin, width(channels), stride, config))
                cin = width(channels)
            stages.append(nn.Sequential(*blocks))
        self.stage1, self.stage2, self.stage3 = stages
        self.out_channels = [width(plan[-1][0]) for plan in _STAGES]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        c3 = self.stage1(x)
        c4 = self.stage2(c3)
        c5 = self.stage3(c4)
        return [c3, c4, c5]


class FPN(nn.Module):
    """1x1 laterals, top-down nearest upsample + add, 3x3 merge on the two finer levels."""

    def __init__(self, in_channels: list[int], channels: int, config: ModelConfig):
        super().__init__()
        self.lateral = nn.ModuleList(ConvBNAct(c, channels, 1, act=_activation(config)) for c in in_channels)
        self.merge = nn.ModuleList(ConvBNAct(channels, channels, 3, act=_activation(config)) for _ in in_channels[:-1])

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        laterals = [conv(f) for conv, f in zip(self.lateral, features)]
        outputs = [laterals[-1]]
        for level in range(len(laterals) - 2, -1, -1):
            upsampled = F.interpolate(outputs[0], size=laterals[level].shape[-2:], mode="nearest")
            outputs.insert(0, self.merge[level](laterals[level] + upsampled))
        return outputs


class SSH(nn.Module):
    """Single Stage Headless context module: 3x3, 5x5 (two 3x3) and 7x7 (three 3x3) branches, concatenated."""

    def __init__(self, cin: int, cout: int, config: ModelConfig):
        super().__init__()
        if cout % 4:
            raise ValueError("SSH output channels must be divisible by 4")
        self.branch3 = ConvBNAct(cin, cout // 2, 3)
        self.branch5_reduce = ConvBNAct(cin, cout // 4, 3, act=_activation(config))
        self.branch5 = ConvBNAct(cout // 4, cout // 4, 3)
        self.branch7_reduce = ConvBNAct(cout // 4, cout // 4, 3, act=_activation(config))
        self.branch7 = ConvBNAct(cout // 4, cout // 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        reduced = self.branch5_reduce(x)
        return torch.cat(
            [
                F.relu(self.branch3(x)),
                F.relu(self.branch5(reduced)),
                F.relu(self.branch7(self.branch7_reduce(reduced))),
            ],
            dim=1,
        )


def _flatten_head(x: torch.Tensor, values_per_anchor: int) -> torch.Tensor:
    """[N, A*k, H, W] → [N, H*W*A, k] (anchor order: row, column, anchor), converter-friendly."""
    n, c = x.shape[0], x.shape[1]
    return x.reshape(n, c, -1).transpose(1, 2).reshape(n, -1, values_per_anchor)


class RetinaFace(nn.Module):
    """Outputs raw head tensors: box deltas (N,P,4), class logits (N,P,2), landmark deltas (N,P,2K)."""

    def __init__(self, config: ModelConfig = ModelConfig()):
        super().__init__()
        self.config = config
        self.body = MobileNetV1(config)
        channels = config.fpn_channels
        self.fpn = FPN(self.body.out_channels, channels, config)
        self.ssh = nn.ModuleList(SSH(channels, channels, config) for _ in config.anchors.strides)
        anchors = config.anchors.anchors_per_cell
        landmark_values = 2 * config.anchors.num_landmarks
        self.class_head = nn.ModuleList(nn.Conv2d(channels, a * config.num_classes, 1) for a in anchors)
        self.bbox_head = nn.ModuleList(nn.Conv2d(channels, a * 4, 1) for a in anchors)
        self.landmark_head = nn.ModuleList(nn.Conv2d(channels, a * landmark_values, 1) for a in anchors)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        features = [ssh(f) for ssh, f in zip(self.ssh, self.fpn(self.body(x)))]
        landmark_values = 2 * self.config.anchors.num_landmarks
        boxes = torch.cat([_flatten_head(h(f), 4) for h, f in zip(self.bbox_head, features)], dim=1)
        logits = torch.cat(
            [_flatten_head(h(f), self.config.num_classes) for h, f in zip(self.class_head, features)], dim=1
        )
        landmarks = torch.cat(
            [_flatten_head(h(f), landmark_values) for h, f in zip(self.landmark_head, features)], dim=1
        )
        return boxes, logits, landmarks


class InferenceModel(nn.Module):
    """What gets exported: the raw heads with class logits turned into probabilities (softmax).

    Anchor decoding stays out of the graph (it lives in the runtime), so quantization never touches it.
    """

    def __init__(self, model: RetinaFace):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        boxes, logits, landmarks = self.model(x)
        return boxes, torch.softmax(logits, dim=-1), landmarks
