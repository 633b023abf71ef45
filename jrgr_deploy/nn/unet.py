"""pix2pix-style U-Net (removal nets F_s/F_r; generation nets G_s/G_r in the `paper` and `tiny` presets).

Level i (0..depth-1) halves H and W with a 4x4 stride-2 convolution and has
min(base_channels * 2**i, max_channels) channels; the decoder mirrors it with 4x4 stride-2 transposed
convolutions and concatenates the encoder features of the same level (skip connections). The innermost
level has no normalisation and the outermost encoder conv none either (as pix2pix). With
``convs_per_level`` > 0 every level also gets that many 3x3 conv-norm-activation blocks (more capacity at
a fixed depth, used by `tiny`).

Input contract: (N, 3, H, W) float32 in [-1, 1] (a rain layer in [-2, 2] for G nets); H and W multiples
of 2**depth, checked in `forward` with a clear error. Output: same shape.
"""

from __future__ import annotations

import torch
from torch import nn

from jrgr_deploy.config import NetConfig
from jrgr_deploy.errors import JRGRError
from jrgr_deploy.nn.layers import OutputHead, check_input, init_weights, norm_layer, uses_bias, zero_init


def _extra_convs(channels: int, count: int, norm: str, act: nn.Module) -> list[nn.Module]:
    """`count` x (activation, 3x3 conv, norm): ends pre-activation like every pix2pix level."""
    layers: list[nn.Module] = []
    for _ in range(count):
        layers += [act, nn.Conv2d(channels, channels, 3, 1, 1, bias=uses_bias(norm)), norm_layer(norm, channels)]
    return layers


def row_coordinate(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, 1, H, W): each pixel's row centre mapped to [-1, 1] top to bottom, (2 i + 1) / H - 1.

    Built from tensor ops alone (a cumulative sum of ones), so a traced ONNX graph keeps H dynamic.
    """
    ones = torch.ones_like(x[:, :1])
    height = ones.sum(dim=2, keepdim=True)
    return (2.0 * ones.cumsum(dim=2) - 1.0) / height - 1.0


def frame_rows(height: int, top: int = 0, rows: int | None = None) -> torch.Tensor:
    """(1, rows, 1) float32: the row centres ``top .. top + rows - 1`` of a frame `height` rows high mapped to
    [-1, 1] top to bottom, (2 i + 1) / height - 1 (`row_coordinate`'s convention, made for training crops:
    `jrgr_deploy.datasets`; rows outside the frame, from reflect padding, continue the line). `rows` defaults to
    the whole frame."""
    index = torch.arange(top, top + (height if rows is None else rows), dtype=torch.float32)
    return ((2.0 * index + 1.0) / height - 1.0).view(1, -1, 1)


class RowContext(nn.Module):
    """(N, C, H, W) -> (N, C, H, W): h plus a 1x1 convolution of each row's mean and max across the whole width
    (``row_context``; zero-initialised, so the block starts as the identity)."""

    def __init__(self, channels: int):
        super().__init__()
        self.mix = nn.Conv2d(2 * channels, channels, 1)
        zero_init(self.mix)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([h.mean(dim=3, keepdim=True), h.amax(dim=3, keepdim=True)], dim=1)  # (N, 2C, H, 1)
        return h + self.mix(pooled)


FIRST_CONV = "enc.0.0.weight"  # the state-dict key of the encoder's first conv, which reads the row channel


def with_row_inputs(state: dict[str, torch.Tensor], net: UNet) -> dict[str, torch.Tensor]:
    """A U-Net's state dict saved without the row channel or the row context, for `net`, the same U-Net built with
    ``row_coord`` and/or ``row_context``: the weights they add are zero, so the net starts as the one saved
    (``train.init_from`` a checkpoint that had neither)."""
    state = dict(state)
    if net.row_coord and state[FIRST_CONV].shape[1] == net.enc[0][0].in_channels - 1:
        first = state[FIRST_CONV]
        state[FIRST_CONV] = torch.cat([first, torch.zeros_like(first[:, :1])], dim=1)
    if net.row_context:
        for key, value in net.context.state_dict().items():
            state.setdefault(f"context.{key}", torch.zeros_like(value))
    return state


class UNet(nn.Module):
    """U-Net generator; see the module docstring for the size contract."""

    def __init__(self, config: NetConfig, in_channels: int = 3, out_channels: int = 3, name: str = "U-Net"):
        super().__init__()
        self.config = config
        self.name = name
        self.multiple = 2**config.depth
        self.row_coord = config.row_coord
        in_channels += int(config.row_coord)
        depth, norm = config.depth, config.norm
        widths = [min(config.base_channels * 2**i, config.max_channels) for i in range(depth)]
        bias = uses_bias(norm)

        enc: list[nn.Module] = []
        for i in range(depth):
            layers: list[nn.Module] = []
            if i > 0:
                layers.append(nn.LeakyReLU(0.2))
            c_in = in_channels if i == 0 else widths[i - 1]
            innermost = i == depth - 1
            layers.append(nn.Conv2d(c_in, widths[i], 4, 2, 1, bias=bias or i == 0 or innermost))
            if 0 < i < depth - 1:
                layers.append(norm_layer(norm, widths[i]))
            if config.convs_per_level and not innermost:
                layers += _extra_convs(widths[i], config.convs_per_level, norm, nn.LeakyReLU(0.2))
            enc.append(nn.Sequential(*layers))
        self.enc = nn.ModuleList(enc)

        dec: list[nn.Module] = []
        for i in range(depth):
            innermost, outermost = i == depth - 1, i == 0
            c_in = widths[i] if innermost else 2 * widths[i]
            c_out = out_channels if outermost else widths[i - 1]
            layers = [nn.ReLU(), nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=bias or outermost)]
            if not outermost:
                layers.append(norm_layer(norm, c_out))
                if config.convs_per_level:
                    layers += _extra_convs(c_out, config.convs_per_level, norm, nn.ReLU())
            dec.append(nn.Sequential(*layers))
        self.dec = nn.ModuleList(dec)
        self.head = OutputHead(config.residual, config.out_activation)
        self.row_context = config.row_context
        if config.row_context:
            self.context = nn.ModuleList(RowContext(widths[i]) for i in range(1, depth))

        init_weights(self)
        if config.residual:
            zero_init(self.dec[0][-1])
        if config.row_coord:
            with torch.no_grad():
                self.enc[0][0].weight[:, -1].zero_()
        if config.row_context:  # init_weights drew them: start as the identity again
            for block in self.context:
                zero_init(block.mix)

    def forward(self, x: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        """(N, 3, H, W) -> (N, 3, H, W); H, W multiples of 2**depth.

        rows: (N, 1, H, 1), where x's rows lie in their frames (`frame_rows`: a training
        crop keeps its place); read only by a net built with ``row_coord``, which otherwise takes x as the
        whole frame (`row_coordinate`, the deployed case)."""
        check_input(x, self.multiple, self.name)
        skips = []
        h = torch.cat([x, self._rows(x, rows)], dim=1) if self.row_coord else x
        for i, block in enumerate(self.enc):
            h = block(h)
            if self.row_context and i > 0:
                h = self.context[i - 1](h)
            skips.append(h)
        h = self.dec[-1](skips[-1])
        for i in range(len(self.dec) - 2, -1, -1):
            h = self.dec[i](torch.cat([skips[i], h], dim=1))
        return self.head(x, h)

    def _rows(self, x: torch.Tensor, rows: torch.Tensor | None) -> torch.Tensor:
        if rows is None:
            return row_coordinate(x)
        n, _, height, width = x.shape
        if tuple(rows.shape) != (n, 1, height, 1):
            raise JRGRError(f"{self.name}: rows must be (N, 1, H, 1) = ({n}, 1, {height}, 1) for input "
                            f"{tuple(x.shape)}, got {tuple(rows.shape)}")
        return rows.to(x.dtype).expand(n, 1, height, width)
