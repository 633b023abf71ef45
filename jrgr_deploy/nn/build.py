"""Building the seven JRGR networks from a config, by their names in the paper.

- ``f_s``, ``f_r``: rain removal (rainy image O -> background B), ``config.model.removal``.
- ``g_s``, ``g_r``: rain generation; they take and return a RAIN LAYER R = O - B (values in [-2, 2]),
  translating it into the synthetic (``g_s``) or real (``g_r``) domain's rain; ``config.model.generation``.
- ``d_b``, ``d_or``, ``d_os``: 70x70 PatchGAN discriminators of clean backgrounds, real rainy images and
  synthetic rainy images; ``config.model.discriminator`` (several scales: a list of patch maps).

With ``config.model.rain_form == "physics"``, ``g_r`` is a `PhysicsRainGenerator`: its rain-layer net plus a
veil net, called as ``g_r(r_hat, b_hat)``.

All generators map (N, 3, H, W) float32 -> same shape, H and W multiples of `size_multiple`.
"""

from __future__ import annotations

from torch import nn

from jrgr_deploy.config import JRGRConfig, NetConfig
from jrgr_deploy.errors import JRGRError
from jrgr_deploy.names import DISCRIMINATORS, GENERATORS, NETS, RAIN_LAYER_NETS, REMOVAL_NETS
from jrgr_deploy.nn.patchgan import MultiScaleDiscriminator, PatchDiscriminator
from jrgr_deploy.nn.resnet import RESNET_SIZE_MULTIPLE, ResnetGenerator
from jrgr_deploy.nn.unet import UNet


def _check_name(name: str) -> None:
    if name not in NETS:
        raise JRGRError(f"unknown network '{name}': expected one of {', '.join(NETS)}")


def net_config(config: JRGRConfig, name: str) -> NetConfig:
    """The NetConfig of generator `name` (f_s, f_r, g_s, g_r)."""
    _check_name(name)
    if name in REMOVAL_NETS:
        return config.model.removal
    if name in RAIN_LAYER_NETS:
        return config.model.generation
    raise JRGRError(f"'{name}' is a discriminator; expected one of {', '.join(GENERATORS)}")


def build_generator(net: NetConfig, name: str = "net") -> nn.Module:
    if net.arch == "unet":
        return UNet(net, name=name)
    return ResnetGenerator(net, name=name)


def build_net(config: JRGRConfig, name: str) -> nn.Module:
    """A freshly initialised network `name` (one of `jrgr_deploy.names.NETS`) for `config`."""
    _check_name(name)
    if name in DISCRIMINATORS:
        if config.model.discriminator.scales > 1:
            return MultiScaleDiscriminator(config.model.discriminator)
        return PatchDiscriminator(config.model.discriminator)
    generator = build_generator(net_config(config, name), name=name)
    if name == "g_r" and config.model.rain_form == "physics":
        from jrgr_deploy.nn.veil import PhysicsRainGenerator

        return PhysicsRainGenerator(generator, config.model.veil, net_config(config, name))
    return generator


def size_multiple(config: JRGRConfig, name: str) -> int:
    """H and W of generator `name`'s input must be multiples of this: 2**depth (U-Net) or 4 (ResNet)."""
    net = net_config(config, name)
    return 2**net.depth if net.arch == "unet" else RESNET_SIZE_MULTIPLE
