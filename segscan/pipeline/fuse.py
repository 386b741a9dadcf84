"""Inference-time folding of batch normalisation (and of separate zero padding) into the
convolution before it, and activations made in place.

A frozen BatchNorm is an affine map per channel, so it can be merged into the preceding
convolution's weights and bias: the features are the same up to float rounding and the
backbone skips one full pass over every feature map (about a fifth of EfficientNet-Lite0's
CPU time). Only for inference; training keeps the separate layers.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

# (convolution, batch norm) attribute pairs inside one block, for blocks whose forward calls
# them in this order: EfficientNet-Lite's MBConv and torchvision's ResNet bottleneck
NAMED_PAIRS = (("_expand_conv", "_bn0"), ("_depthwise_conv", "_bn1"), ("_project_conv", "_bn2"),
               ("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3"))


def _foldable(conv, bn) -> bool:
    return (isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and bn.track_running_stats
            and conv.out_channels == bn.num_features)


@torch.no_grad()
def fuse_batchnorm(model: nn.Module) -> int:
    """Fold, in place, each BatchNorm2d that directly follows a Conv2d (in an ``nn.Sequential``
    or as a named pair of one block); returns how many were folded. ``model`` must be in eval mode."""
    if model.training:
        raise ValueError("fuse_batchnorm needs a model in eval mode")
    folded = 0
    for module in list(model.modules()):
        if isinstance(module, nn.Sequential):
            names = list(module._modules)
            for a, b in zip(names, names[1:]):
                conv, bn = module._modules[a], module._modules[b]
                if _foldable(conv, bn):
                    module._modules[a], module._modules[b] = fuse_conv_bn_eval(conv, bn), nn.Identity()
                    folded += 1
        for conv_name, bn_name in NAMED_PAIRS:
            conv, bn = getattr(module, conv_name, None), getattr(module, bn_name, None)
            if _foldable(conv, bn):
                setattr(module, conv_name, fuse_conv_bn_eval(conv, bn))
                setattr(module, bn_name, nn.Identity())
                folded += 1
    return folded


@torch.no_grad()
def fold_same_padding(model: nn.Module) -> int:
    """Give each convolution its separate "same" zero padding (``static_padding``, as the
    EfficientNet-Lite package builds them) as its own padding: the output is identical and the
    backbone skips a copy of every padded feature map. Symmetric padding folds as it is; the
    asymmetric padding of stride 2 on even sizes (one more at the bottom and right) folds by
    growing the kernel by a zero first row and column and padding both sides by the larger
    amount, which reads exactly the same pixels. Returns how many were folded."""
    folded = 0
    for module in model.modules():
        pad = getattr(module, "static_padding", None)
        if not (isinstance(module, nn.Conv2d) and isinstance(pad, nn.ZeroPad2d)) or module.padding not in ((0, 0), 0):
            continue
        left, right, top, bottom = pad.padding
        if left == right and top == bottom:
            module.padding = (top, left)
        elif right == left + 1 and bottom == top + 1 and module.dilation == (1, 1):
            w = module.weight
            grown = w.new_zeros(*w.shape[:2], w.shape[2] + 1, w.shape[3] + 1)
            grown[..., 1:, 1:] = w
            module.weight = nn.Parameter(grown, requires_grad=w.requires_grad)
            module.kernel_size, module.padding = tuple(grown.shape[-2:]), (bottom, right)
        else:
            continue
        module.static_padding = nn.Identity()
        folded += 1
    return folded


def inplace_activations(model: nn.Module) -> int:
    """Make ReLU6 / ReLU layers work in place: each is applied to a fresh convolution output
    that nothing else reads, so the features are identical and no new tensor is allocated and
    written for every activated map. Returns how many changed."""
    n = 0
    for module in model.modules():
        if isinstance(module, (nn.ReLU6, nn.Hardtanh, nn.ReLU)) and not module.inplace:
            module.inplace = True
            n += 1
    return n
