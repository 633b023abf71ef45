"""70x70 PatchGAN discriminator (pix2pix/CycleGAN `basic` D with n_layers=3) for D_B, D_Or and D_Os.

Input (N, 3, H, W) images in [-1, 1]; output (N, 1, H', W') raw logits, one per overlapping patch
(H' = H/8 - 2 for n_layers 3; H and W must be at least ~32 so the map is not empty).
`MultiScaleDiscriminator` (``scales`` > 1) returns a list of such maps, one per 2x average-pooled copy of
the input. The GAN objective (LSGAN or log-loss) is applied by `jrgr_deploy.training.losses`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from jrgr_deploy.config import DiscriminatorConfig
from jrgr_deploy.nn.layers import init_weights, norm_layer, uses_bias


class PatchDiscriminator(nn.Module):
    def __init__(self, config: DiscriminatorConfig, in_channels: int = 3) -> None:
        super().__init__()
        self.config = config
        c, norm = config.base_channels, config.norm
        bias = uses_bias(norm)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, c, 4, 2, 1), nn.LeakyReLU(0.2)]
        mult = 1
        for n in range(1, config.n_layers):
            prev, mult = mult, min(2**n, 8)
            layers += [nn.Conv2d(c * prev, c * mult, 4, 2, 1, bias=bias), norm_layer(norm, c * mult),
                       nn.LeakyReLU(0.2)]
        prev, mult = mult, min(2**config.n_layers, 8)
        layers += [nn.Conv2d(c * prev, c * mult, 4, 1, 1, bias=bias), norm_layer(norm, c * mult),
                   nn.LeakyReLU(0.2), nn.Conv2d(c * mult, 1, 4, 1, 1)]
        self.model = nn.Sequential(*layers)
        init_weights(self)
        if config.spectral_norm:
            for module in self.model:
                if isinstance(module, nn.Conv2d):
                    nn.utils.parametrizations.spectral_norm(module)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, 1, H', W') patch logits."""
        return self.model(x)


class MultiScaleDiscriminator(nn.Module):
    """``config.scales`` PatchGANs; scale k judges the input average-pooled k times by 2 (3x3, stride 2)."""

    def __init__(self, config: DiscriminatorConfig, in_channels: int = 3) -> None:
        super().__init__()
        self.config = config
        self.scales = nn.ModuleList(PatchDiscriminator(config, in_channels) for _ in range(config.scales))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(N, 3, H, W) -> [(N, 1, H'_k, W'_k)] patch logits, finest scale first."""
        outputs = []
        for k, disc in enumerate(self.scales):
            if k:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            outputs.append(disc(x))
        return outputs
