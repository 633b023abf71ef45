"""Pieces shared by the generators: normalisation by name, the size-contract check, the output head."""

from __future__ import annotations

import torch
from torch import nn

from jrgr_deploy.errors import JRGRError
from jrgr_deploy.frames import check_size_contract


def norm_layer(kind: str, channels: int) -> nn.Module:
    """``batch`` (BatchNorm2d), ``instance`` (InstanceNorm2d without affine, as pix2pix) or ``none``."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if kind == "none":
        return nn.Identity()
    raise JRGRError(f"norm '{kind}' is not one of batch, instance, none")


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
