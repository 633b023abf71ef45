"""The JRGR objective, paper Eq. 3-8, one named term each (the logs show every term).

Notation (DESIGN.md §1): O rainy image, B background, R = O - B rain layer; s synthetic, r real.
`JointOutputs` (see `system.py`) holds the S2R/R2S intermediates the terms use.

Generator side (all four generators are updated by their sum, Eq. 8):
- Eq. 3, background adversarial, D_B on all four background estimates:
  ``adv_b_fs_os``  F_s(O_s),  ``adv_b_fr_otr`` F_r(Õ_r),  ``adv_b_fr_or`` F_r(O_r),  ``adv_b_fs_ots`` F_s(Õ_s).
- Eq. 4, rainy-image adversarial: ``adv_or`` D_Or(Õ_r), ``adv_os`` D_Os(Õ_s).
- Eq. 5, image cycle L1: ``cyc_os`` ||O_s - Ô_s||_1, ``cyc_or`` ||O_r - Ô_r||_1.
- Eq. 6, background cycle L1: ``cyc_b_s`` ||F_s(O_s) - F_r(Õ_r)||_1, ``cyc_b_r`` ||F_r(O_r) - F_s(Õ_s)||_1.
- Eq. 7, supervised MSE: ``mse_s`` ||F_s(O_s) - B_s||², ``mse_r`` ||F_r(Õ_r) - B_s||².
- Eq. 8: ``g_total`` = lambda_adv * sum(adv) + lambda_cyc * sum(cyc) + lambda_mse * sum(mse).

Discriminator side (Eq. 3 and 4 maximised by D):
- ``d_b`` = 0.5 * (alpha * GAN(D_B(B), real) + sum_k GAN(D_B(fake_k), fake)) / 4: the four background
  estimates are fakes, alpha weighs the one real term (Eq. 3); the 0.5 and /4 keep the authors'
  0.5 * (real + fake) scale, so with alpha = 4 it is 0.5 * (real + mean of the fakes).
- ``d_or`` = 0.5 * (GAN(D_Or(O_r), real) + GAN(D_Or(Õ_r), fake)), ``d_os`` likewise with O_s, Õ_s.

All L1/MSE terms are means over pixels and batch; GAN terms are means over the patch map and batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from jrgr_deploy.config import LossConfig
from jrgr_deploy.errors import JRGRError

if TYPE_CHECKING:
    from jrgr_deploy.training.system import JointOutputs

ADV_TERMS = ("adv_b_fs_os", "adv_b_fr_otr", "adv_b_fr_or", "adv_b_fs_ots", "adv_or", "adv_os")
CYC_TERMS = ("cyc_os", "cyc_or", "cyc_b_s", "cyc_b_r")
MSE_TERMS = ("mse_s", "mse_r")
GENERATOR_TERMS = ADV_TERMS + CYC_TERMS + MSE_TERMS
D_TERMS = ("d_b", "d_b_real", "d_b_fake", "d_or", "d_os")

Discriminator = Callable[[torch.Tensor], torch.Tensor]


def gan_loss(logits: torch.Tensor, target_is_real: bool, mode: str) -> torch.Tensor:
    """GAN objective on a patch map of raw logits.

    ``lsgan`` (authors' code): mean((D - t)^2) with t = 1 for real, 0 for fake.
    ``vanilla`` (the paper's log-loss form of Eq. 3-4): binary cross-entropy with logits.
    """
    target = torch.ones_like(logits) if target_is_real else torch.zeros_like(logits)
    if mode == "lsgan":
        return F.mse_loss(logits, target)
    if mode == "vanilla":
        return F.binary_cross_entropy_with_logits(logits, target)
    raise JRGRError(f"gan_mode '{mode}' is not one of lsgan, vanilla")


def generator_terms(
    out: JointOutputs,
    b_s: torch.Tensor,
    d_b: Discriminator,
    d_or: Discriminator,
    d_os: Discriminator,
    loss: LossConfig,
) -> dict[str, torch.Tensor]:
    """Every generator-side term of Eq. 3-7 plus ``g_total`` (Eq. 8); see the module docstring."""
    mode = loss.gan_mode
    terms = {
        # Eq. 3: the four background estimates should look clean to D_B.
        "adv_b_fs_os": gan_loss(d_b(out.b_hat_s), True, mode),
        "adv_b_fr_otr": gan_loss(d_b(out.b_hat_otr), True, mode),
        "adv_b_fr_or": gan_loss(d_b(out.b_hat_r), True, mode),
        "adv_b_fs_ots": gan_loss(d_b(out.b_hat_ots), True, mode),
        # Eq. 4: translated images should look like the other domain's rainy images.
        "adv_or": gan_loss(d_or(out.o_tilde_r), True, mode),
        "adv_os": gan_loss(d_os(out.o_tilde_s), True, mode),
        # Eq. 5: external image cycles.
        "cyc_os": F.l1_loss(out.o_hat_s, out.o_s),
        "cyc_or": F.l1_loss(out.o_hat_r, out.o_r),
        # Eq. 6: a background must survive the change of rain domain.
        "cyc_b_s": F.l1_loss(out.b_hat_otr, out.b_hat_s),
        "cyc_b_r": F.l1_loss(out.b_hat_ots, out.b_hat_r),
        # Eq. 7: supervision on the synthetic pair; the second term teaches F_r real-style rain.
        "mse_s": F.mse_loss(out.b_hat_s, b_s),
        "mse_r": F.mse_loss(out.b_hat_otr, b_s),
    }
    terms["g_total"] = total_loss(terms, loss)
    return terms


def total_loss(terms: dict[str, torch.Tensor], loss: LossConfig) -> torch.Tensor:
    """Eq. 8: lambda_adv * adversarial + lambda_cyc * cycle + lambda_mse * MSE terms."""
    return (
        loss.lambda_adv * sum(terms[name] for name in ADV_TERMS)
        + loss.lambda_cyc * sum(terms[name] for name in CYC_TERMS)
        + loss.lambda_mse * sum(terms[name] for name in MSE_TERMS)
    )


def d_b_loss(
    d_b: Discriminator, real_b: torch.Tensor, fake_bs: Sequence[torch.Tensor], loss: LossConfig
) -> dict[str, torch.Tensor]:
    """Eq. 3, discriminator side: alpha-weighted real backgrounds vs the four (pooled) estimates."""
    real = gan_loss(d_b(real_b), True, loss.gan_mode)
    fakes = [gan_loss(d_b(fake.detach()), False, loss.gan_mode) for fake in fake_bs]
    fake_sum = sum(fakes)
    return {
        "d_b": 0.5 * (loss.alpha * real + fake_sum) / len(fakes),
        "d_b_real": real,
        "d_b_fake": fake_sum / len(fakes),
    }


def d_image_loss(d: Discriminator, real: torch.Tensor, fake: torch.Tensor, mode: str) -> torch.Tensor:
    """Eq. 4, discriminator side: 0.5 * (real + fake) as the authors' CycleGAN-style code."""
    return 0.5 * (gan_loss(d(real), True, mode) + gan_loss(d(fake.detach()), False, mode))
