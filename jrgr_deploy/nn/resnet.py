"""CycleGAN ResNet generator (G_s/G_r in the `official` preset: 9 blocks, BatchNorm, Tanh).

7x7 reflect-padded stem, two 3x3 stride-2 convolutions (channels x2, x4), ``n_blocks`` residual blocks,
two 3x3 stride-2 transposed convolutions, 7x7 reflect-padded output conv.

Input contract: (N, 3, H, W) float32; as a G net the input is a rain layer R = O - B with values in
[-2, 2]. H and W must be multiples of 4 (the two stride-2 convolutions), checked in `forward`.
"""

from __future__ import annotations

import torch
from torch import nn

from jrgr_deploy.config import NetConfig
from jrgr_deploy.nn.layers import OutputHead, check_input, init_weights, norm_layer, uses_bias, zero_init

RESNET_SIZE_MULTIPLE = 4


class ResnetBlock(nn.Module):
    def __init__(self, channels: int, norm: str) -> None:
        super().__init__()
        bias = uses_bias(norm)
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=bias), norm_layer(norm, channels),
            nn.ReLU(),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=bias), norm_layer(norm, channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """ResNet generator; see the module docstring for the size contract."""

    def __init__(self, config: NetConfig, in_channels: int = 3, out_channels: int = 3, name: str = "ResNet"):
        super().__init__()
        self.config = config
        self.name = name
        self.multiple = RESNET_SIZE_MULTIPLE
        c, norm = config.base_channels, config.norm
        bias = uses_bias(norm)
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3), nn.Conv2d(in_channels, c, 7, bias=bias), norm_layer(norm, c), nn.ReLU(),
        ]
        for mult in (1, 2):
            layers += [nn.Conv2d(c * mult, c * mult * 2, 3, 2, 1, bias=bias), norm_layer(norm, c * mult * 2),
                       nn.ReLU()]
        layers += [ResnetBlock(c * 4, norm) for _ in range(config.n_blocks)]
        for mult in (4, 2):
            layers += [nn.ConvTranspose2d(c * mult, c * mult // 2, 3, 2, 1, output_padding=1, bias=bias),
                       norm_layer(norm, c * mult // 2), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.out = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(c, out_channels, 7))
        self.head = OutputHead(config.residual, config.out_activation)
        init_weights(self)
        if config.residual:
            zero_init(self.out[-1])

    def forward(self, x: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        """(N, 3, H, W) -> (N, 3, H, W); H, W multiples of 4. `rows` (where x's rows lie in their frames) is
        accepted like the U-Net's and not read: a ResNet has no row input (``row_coord`` is a U-Net option)."""
        check_input(x, self.multiple, self.name)
        return self.head(x, self.out(self.body(x)))
