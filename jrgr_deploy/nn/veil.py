"""The physics form of G_r (``model.rain_form: physics``): streaks plus a veil, beyond the paper.

The paper's S2R adds a translated rain layer to the background, Õ_r = B̂_s + G_r(R̂_s). Heavy real rain also
veils the scene: drops too small or too far to resolve scatter light towards the camera and attenuate what is
behind them, which an additive layer made from the synthetic rain cannot express (its size depends on the
background). The heavy-rain model of Li et al. (CVPR 2019) writes it as

    Õ_r = T ⊙ (B̂_s + S) + (1 − T) ⊙ A

with streaks S, a smooth transmission map T and an airlight A. Here the blend is done in linear light (gamma-2
approximation of sRGB, the same one the project's rain model B uses), since scattered light adds in radiance.

`PhysicsRainGenerator` keeps the generator contract of the additive G nets where it can: it returns a RAIN
LAYER Õ_r − B̂_s, so the composition stays Õ_r = B̂_s + G_r(...). It needs the background as a second input.

Tensors: (N, 3, H, W) float32; images in [-1, 1], rain layers in [-2, 2].
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from jrgr_deploy.config import NetConfig, VeilConfig
from jrgr_deploy.nn.layers import init_weights

_LINEAR_EPS = 1e-5  # keeps d sqrt / dx finite at black (bias <= 2 sqrt(eps) = 0.006); 0 where T = 1


def to_linear(image: torch.Tensor) -> torch.Tensor:
    """[-1, 1] sRGB-ish image -> linear light in [0, 1] (gamma 2), clamped."""
    return ((image + 1.0) * 0.5).clamp(0.0, 1.0).square()


def veil_layer(image: torch.Tensor, transmission: torch.Tensor, airlight: torch.Tensor) -> torch.Tensor:
    """The change the veil makes to `image`, in [-1, 1] units:

        V = 2 (sqrt(T L + (1 − T) A + ε) − sqrt(L + ε)),  L = linear(image),

    so `image + V` is the veiled image, and V = 0 exactly where T = 1.
    image (N, 3, H, W) in [-1, 1]; transmission (N, 1, H, W) in (0, 1]; airlight (N, 3, 1, 1) linear in [0, 1].
    """
    linear = to_linear(image)
    veiled = transmission * linear + (1.0 - transmission) * airlight
    return 2.0 * (torch.sqrt(veiled + _LINEAR_EPS) - torch.sqrt(linear + _LINEAR_EPS))


def highpass_radius(sigma_px: float) -> int:
    """The Gaussian kernel's half-width (3 σ) in `gaussian_highpass`; its reflect padding needs images larger than
    this on each side."""
    return max(1, int(math.ceil(3 * sigma_px)))


def gaussian_highpass(layer: torch.Tensor, sigma_px: float) -> torch.Tensor:
    """`layer` minus its Gaussian blur of `sigma_px` (separable, reflect-padded): keeps streak-scale detail."""
    radius = highpass_radius(sigma_px)
    taps = torch.arange(-radius, radius + 1, dtype=layer.dtype, device=layer.device)
    kernel = torch.exp(-0.5 * (taps / sigma_px) ** 2)
    kernel = kernel / kernel.sum()
    channels = layer.shape[1]
    padded = F.pad(layer, (radius, radius, radius, radius), mode="reflect")
    blurred = F.conv2d(padded, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    blurred = F.conv2d(blurred, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)
    return layer - blurred


class VeilNet(nn.Module):
    """B̂ (N, 3, H, W) in [-1, 1] (+ noise) -> transmission T (N, 1, H, W) in [t_min, 1], airlight A (N, 3, 1, 1).

    Sees the background at ``input_px``² (a veil depends on the scene's layout and brightness, not on its
    detail); T is predicted on a ``grid``² map and upsampled bicubically; A is one linear-light colour per
    image. Initialised to no veil: T ≈ 0.98, so the physics G_r starts next to the additive one.
    """

    def __init__(self, config: VeilConfig) -> None:
        super().__init__()
        self.config = config
        c = config.channels
        self.body = nn.Sequential(
            nn.Conv2d(3 + config.noise_dim, c, 3, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(c, 2 * c, 3, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * c, 4 * c, 3, 2, 1), nn.LeakyReLU(0.2),
        )
        self.t_head = nn.Conv2d(4 * c, 1, 1)
        self.a_head = nn.Linear(4 * c, 3)
        init_weights(self)
        nn.init.constant_(self.t_head.bias, 4.0)  # sigmoid(4) = 0.982: almost no veil at the start
        nn.init.constant_(self.a_head.bias, 1.0)  # sigmoid(1) = 0.73: a bright airlight

    def forward(self, b_hat: torch.Tensor, noise: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.config
        n, _, height, width = b_hat.shape
        small = F.interpolate(b_hat, size=(cfg.input_px, cfg.input_px), mode="area")
        if cfg.noise_dim:
            if noise is None:
                noise = torch.randn(n, cfg.noise_dim, device=b_hat.device, dtype=b_hat.dtype)
            small = torch.cat([small, noise[:, :, None, None].expand(-1, -1, cfg.input_px, cfg.input_px)], dim=1)
        features = self.body(small)
        t_grid = self.t_head(F.adaptive_avg_pool2d(features, cfg.grid))
        t_map = F.interpolate(t_grid, size=(height, width), mode="bicubic", align_corners=False)
        transmission = cfg.t_min + (1.0 - cfg.t_min) * torch.sigmoid(t_map)
        airlight = torch.sigmoid(self.a_head(features.mean(dim=(2, 3))))[:, :, None, None]
        return transmission, airlight


class PhysicsRainGenerator(nn.Module):
    """G_r in the physics form: (R̂_s, B̂_s) -> rain layer Õ_r − B̂_s with Õ_r = T ⊙ (B̂_s + S) + (1 − T) ⊙ A.

    `streak` is the usual rain-layer generator (its output is S, optionally high-passed); `veil` the `VeilNet`.
    """

    def __init__(self, streak: nn.Module, veil: VeilConfig, net: NetConfig) -> None:
        super().__init__()
        self.streak = streak
        self.veil = VeilNet(veil)
        self.highpass_px = veil.streak_highpass_px
        self.multiple = getattr(streak, "multiple", 1)
        self.net_config = net

    def forward(self, r_hat: torch.Tensor, b_hat: torch.Tensor, veil_grad: bool = True) -> torch.Tensor:
        """veil_grad=False: T and A are used but carry no gradient (into the veil net or into B̂)."""
        streaks = self.streak(r_hat)
        if self.highpass_px > 0:
            streaks = gaussian_highpass(streaks, self.highpass_px)
        transmission, airlight = self.veil(b_hat)
        if not veil_grad:
            transmission, airlight = transmission.detach(), airlight.detach()
        streaked = b_hat + streaks
        return streaks + veil_layer(streaked, transmission, airlight)

    def veiled_background(self, b_hat: torch.Tensor) -> torch.Tensor:
        """T ⊙ B̂ + (1 − T) ⊙ A (in linear light) without streaks: what the veil alone does to the scene."""
        transmission, airlight = self.veil(b_hat)
        return b_hat + veil_layer(b_hat, transmission, airlight)
