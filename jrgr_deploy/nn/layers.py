"""Pieces shared by the generators: normalisation by name, the size-contract check, the output head."""

from __future__ import annotations

import torch
from torch import nn

from jrgr_deploy.errors import JRGRError
from jrgr_deploy.frames import check_size_contract


class ContextInstanceNorm(nn.Module):
    """Instance norm that hands the statistics it removes back through a learned map (beyond the paper).

    Instance norm takes each feature map's per-image mean and spread away, so a net built of it cannot tell
    how strong an image's veil or how bright its airlight is from the normalised features. Here the per-channel
    statistics s = (mean, std) of the input, shape (N, 2C), modulate the normalised features:

        y = IN(x) * (1 + s W_g^T + b_g) + (s W_b^T + b_b),   W_g, W_b: (C, 2C), zero-initialised,

    so the untrained layer is exactly ``InstanceNorm2d`` (a net built with it starts as the plain one does), and
    every channel's scale and shift can depend on the whole image's statistics at that level.
    x (N, C, H, W) float32 -> same shape.
    """

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.to_scale = nn.Linear(2 * channels, channels)
        self.to_shift = nn.Linear(2 * channels, channels)
        for linear in (self.to_scale, self.to_shift):
            zero_init(linear)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(2, 3), keepdim=True)
        var = (x - mean).square().mean(dim=(2, 3), keepdim=True)
        std = torch.sqrt(var + self.eps)
        stats = torch.cat([mean, std], dim=1).flatten(1)
        scale = 1.0 + self.to_scale(stats)[:, :, None, None]
        shift = self.to_shift(stats)[:, :, None, None]
        return (x - mean) / std * scale + shift


def norm_layer(kind: str, channels: int) -> nn.Module:
    """``batch`` (BatchNorm2d), ``instance`` (InstanceNorm2d without affine, as pix2pix), ``instance_context``
    (`ContextInstanceNorm`: instance norm whose removed statistics modulate its output) or ``none``."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if kind == "instance_context":
        return ContextInstanceNorm(channels)
    if kind == "none":
        return nn.Identity()
    raise JRGRError(f"norm '{kind}' is not one of batch, instance, instance_context, none")


def uses_bias(kind: str) -> bool:
    """A conv followed by a normalisation needs no bias: the norm subtracts the per-channel mean, which
    cancels it (pix2pix keeps it for instance norm, where it is dead weight that Adam moves on numerical
    noise alone; dropping it changes no output)."""
    return kind == "none"


def exporting() -> bool:
    """True while torch.onnx / torch.jit trace the module: shape checks must not enter the graph."""
    return bool(
        torch.onnx.is_in_onnx_export()
        or torch.jit.is_tracing()
        or torch.compiler.is_compiling()
        or torch.compiler.is_exporting()
    )


def check_input(x: torch.Tensor, multiple: int, what: str) -> None:
    """Raise JRGRError unless x is (N, 3, H, W) with H, W multiples of `multiple`; no-op while exporting."""
    if exporting():
        return
    if x.dim() != 4 or x.shape[1] != 3:
        raise JRGRError(f"{what} expects an (N, 3, H, W) tensor, got shape {tuple(x.shape)}")
    check_size_contract(int(x.shape[2]), int(x.shape[3]), multiple, what)


class OutputHead(nn.Module):
    """Turns the body's last features into the net's output.

    residual=True: y = x - act(layer), where the last conv is zero-initialised so the untrained net is the
    identity (docs/ARCHITECTURE.md, "The method"). residual=False: y = act(layer).
    """

    def __init__(self, residual: bool, activation: str) -> None:
        super().__init__()
        self.residual = residual
        self.act: nn.Module = nn.Tanh() if activation == "tanh" else nn.Identity()

    def forward(self, x: torch.Tensor, layer: torch.Tensor) -> torch.Tensor:
        if self.residual:
            return x - self.act(layer)
        return self.act(layer)


def zero_init(module: nn.Module) -> None:
    nn.init.zeros_(module.weight)
    if module.bias is not None:
        nn.init.zeros_(module.bias)


def init_weights(net: nn.Module, gain: float = 0.02) -> None:
    """pix2pix/CycleGAN 'normal' init: conv weights N(0, 0.02), BatchNorm weights N(1, 0.02), biases 0."""
    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(module.weight, 0.0, gain)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.normal_(module.weight, 1.0, gain)
            nn.init.zeros_(module.bias)
