"""Learning-rate schedule and optimisers (docs/ARCHITECTURE.md, "The method").

Each stage keeps its base lr for the first ``1 - decay_fraction`` of its iterations, then decays
linearly to 0 at the last iteration (the authors' 100 constant + 100 decaying epochs is
``decay_fraction`` 0.5). The factor is a pure function of the step, so resuming needs no scheduler
object: the step is the scheduler's whole state.
"""

from __future__ import annotations

import torch
from torch import nn

from jrgr_deploy.config import TrainConfig


def lr_factor(step: int, total_steps: int, decay_fraction: float) -> float:
    """Multiplier of the base lr at `step` (0-based) of `total_steps`: 1, then linear to 0."""
    decay_steps = int(round(total_steps * decay_fraction))
    decay_start = total_steps - decay_steps
    if decay_steps <= 0 or step < decay_start:
        return 1.0
    return max(0.0, 1.0 - (step - decay_start + 1) / (decay_steps + 1))


def stage2_lrs(train: TrainConfig, pretrained: bool) -> dict[str, float]:
    """Base lr per net in joint training: G nets lr * g_lr_ratio; F_r lr/10 and F_s lr/100 only when stage 1
    pre-trained them (the authors' code); discriminators lr * d_lr_ratio."""
    lr = train.lr
    d_lr = lr * train.d_lr_ratio
    g_lr = lr * train.g_lr_ratio
    return {
        "f_s": lr * train.f_s_lr_ratio if pretrained else lr,
        "f_r": lr * train.f_r_lr_ratio if pretrained else lr,
        "g_s": g_lr,
        "g_r": g_lr,
        "d_b": d_lr,
        "d_or": d_lr,
        "d_os": d_lr,
    }


def make_adam(nets: dict[str, nn.Module], lrs: dict[str, float], train: TrainConfig) -> torch.optim.Adam:
    """One Adam with a parameter group per net (group ``name`` = the net's name, ``base_lr`` its lr)."""
    groups = [
        {"params": list(net.parameters()), "lr": lrs[name], "base_lr": lrs[name], "name": name}
        for name, net in nets.items()
    ]
    return torch.optim.Adam(groups, lr=train.lr, betas=tuple(train.betas))


def apply_lr(optimizer: torch.optim.Optimizer, factor: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = group["base_lr"] * factor


def group_lr(optimizer: torch.optim.Optimizer, name: str) -> float:
    """The current lr of the parameter group of net `name`."""
    return next(float(group["lr"]) for group in optimizer.param_groups if group["name"] == name)


def current_lrs(optimizer: torch.optim.Optimizer) -> dict[str, float]:
    return {f"lr_{group['name']}": float(group["lr"]) for group in optimizer.param_groups}
