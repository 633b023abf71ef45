"""Small `tiny`-preset checkpoints with perturbed weights, for tests that need a real checkpoint file.

The tiny nets are residual with zero-initialised heads, i.e. the identity when untrained: every weight gets
N(0, scale²) noise so each net does something. Torch is imported inside, so importing this module stays cheap.
"""

from __future__ import annotations

from pathlib import Path

from jrgr_deploy.names import GENERATORS


def perturbed_tiny_nets(names: tuple[str, ...] = GENERATORS, seed: int = 0, scale: float = 0.05):
    """-> (JRGRConfig of the tiny preset, {name: nn.Module}) with deterministic perturbed weights."""
    import torch

    from jrgr_deploy.config import JRGRConfig
    from jrgr_deploy.nn.build import build_net

    config = JRGRConfig.from_preset("tiny")
    torch.manual_seed(seed)
    nets = {name: build_net(config, name) for name in names}
    with torch.no_grad():
        for net in nets.values():
            for parameter in net.parameters():
                parameter.add_(torch.randn_like(parameter) * scale)
    return config, nets


def save_tiny_checkpoint(path: Path, names: tuple[str, ...] = GENERATORS, seed: int = 0, step: int = 0) -> Path:
    """Write a stage-2 checkpoint of `perturbed_tiny_nets(names, seed)` to `path` and return the path."""
    from jrgr_deploy.checkpoint import save_checkpoint

    config, nets = perturbed_tiny_nets(names, seed)
    return save_checkpoint(path, config=config, nets=nets, stage="stage2", step=step)
