"""Each loss term of Eq. 3-8 against a hand-built case with known values."""

from __future__ import annotations

import math

import pytest
import torch

from jrgr_deploy.config import LossConfig
from jrgr_deploy.errors import JRGRError
from jrgr_deploy.training.losses import (
    ADV_TERMS,
    CYC_TERMS,
    GENERATOR_TERMS,
    MSE_TERMS,
    d_b_loss,
    d_image_loss,
    gan_loss,
    generator_terms,
    total_loss,
)
from jrgr_deploy.training.system import JointOutputs


def full(value: float) -> torch.Tensor:
    return torch.full((2, 3, 4, 4), float(value))


def test_gan_loss_lsgan_and_vanilla() -> None:
    logits = torch.tensor([[[[0.5, -1.0]]]])
    assert gan_loss(logits, True, "lsgan").item() == pytest.approx(((0.5 - 1) ** 2 + (-1 - 1) ** 2) / 2)
    assert gan_loss(logits, False, "lsgan").item() == pytest.approx((0.25 + 1.0) / 2)
    zero = torch.zeros(1, 1, 2, 2)
    assert gan_loss(zero, True, "vanilla").item() == pytest.approx(math.log(2))
    big = torch.full((1, 1, 2, 2), 20.0)
    assert gan_loss(big, True, "vanilla").item() == pytest.approx(0.0, abs=1e-6)
    assert gan_loss(big, False, "vanilla").item() == pytest.approx(20.0, rel=1e-6)
    with pytest.raises(JRGRError, match="wgan"):
        gan_loss(zero, True, "wgan")


def _outputs() -> JointOutputs:
    """Every field a different constant, so each term's value identifies the fields it reads."""
    return JointOutputs(
        o_s=full(0.0), o_r=full(0.1),
        b_hat_s=full(0.2), r_hat_s=full(-0.2), o_tilde_r=full(0.3), b_hat_otr=full(0.5), o_hat_s=full(0.6),
        b_hat_r=full(0.7), r_hat_r=full(-0.6), o_tilde_s=full(0.8), b_hat_ots=full(1.0), o_hat_r=full(-0.3),
    )


def test_generator_terms_hand_built() -> None:
    out = _outputs()
    b_s = full(-0.2)

    # Discriminators that return their input's mean as a 1x1 "patch map": the adversarial term then reads
    # which image each D saw.
    def mean_d(x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(1, 2, 3), keepdim=True)

    loss = LossConfig(gan_mode="lsgan", alpha=4.0, lambda_adv=2.0, lambda_cyc=3.0, lambda_mse=5.0)
    terms = generator_terms(out, b_s, mean_d, mean_d, mean_d, loss)
    assert set(terms) == set(GENERATOR_TERMS) | {"g_total"}
    expect = {
        # Eq. 3: (D - 1)^2 on F_s(O_s)=0.2, F_r(Õ_r)=0.5, F_r(O_r)=0.7, F_s(Õ_s)=1.0
        "adv_b_fs_os": 0.8**2, "adv_b_fr_otr": 0.5**2, "adv_b_fr_or": 0.3**2, "adv_b_fs_ots": 0.0,
        # Eq. 4: Õ_r = 0.3, Õ_s = 0.8
        "adv_or": 0.7**2, "adv_os": 0.2**2,
        # Eq. 5: |O_s - Ô_s| = 0.6, |O_r - Ô_r| = 0.4
        "cyc_os": 0.6, "cyc_or": 0.4,
        # Eq. 6: |F_s(O_s) - F_r(Õ_r)| = 0.3, |F_r(O_r) - F_s(Õ_s)| = 0.3
        "cyc_b_s": 0.3, "cyc_b_r": 0.3,
        # Eq. 7: (F_s(O_s) - B)^2 = 0.4^2, (F_r(Õ_r) - B)^2 = 0.7^2
        "mse_s": 0.4**2, "mse_r": 0.7**2,
    }
    for name, value in expect.items():
        assert terms[name].item() == pytest.approx(value, abs=1e-6), name
    total = (2.0 * sum(expect[n] for n in ADV_TERMS) + 3.0 * sum(expect[n] for n in CYC_TERMS)
             + 5.0 * sum(expect[n] for n in MSE_TERMS))
    assert terms["g_total"].item() == pytest.approx(total, rel=1e-6)  # Eq. 8
    assert total_loss(terms, loss).item() == pytest.approx(total, rel=1e-6)


def test_generator_terms_vanilla_mode_differs() -> None:
    def zero_d(x: torch.Tensor) -> torch.Tensor:
        return torch.zeros(x.shape[0], 1, 2, 2)

    terms = generator_terms(_outputs(), full(0.0), zero_d, zero_d, zero_d, LossConfig(gan_mode="vanilla"))
    for name in ADV_TERMS:
        assert terms[name].item() == pytest.approx(math.log(2))


def test_d_b_loss_alpha_weighs_real_term() -> None:
    def identity_d(x: torch.Tensor) -> torch.Tensor:
        return x[:, :1]

    real_b = full(1.0)  # a perfect D on real: (1 - 1)^2 = 0
    fakes = (full(0.5), full(0.5), full(0.0), full(0.0))  # fake terms (D - 0)^2: 0.25, 0.25, 0, 0
    terms = d_b_loss(identity_d, real_b, fakes, LossConfig(alpha=4.0))
    assert terms["d_b_real"].item() == pytest.approx(0.0)
    assert terms["d_b_fake"].item() == pytest.approx(0.125)
    assert terms["d_b"].item() == pytest.approx(0.5 * (4 * 0.0 + 0.5) / 4)
    # D says "fake" to the real backgrounds: the real term (1) is weighted by alpha
    terms = d_b_loss(identity_d, full(0.0), (full(0.0),) * 4, LossConfig(alpha=4.0))
    assert terms["d_b"].item() == pytest.approx(0.5 * 4 * 1.0 / 4)
    terms = d_b_loss(identity_d, full(0.0), (full(0.0),) * 4, LossConfig(alpha=1.0))
    assert terms["d_b"].item() == pytest.approx(0.5 * 1.0 / 4)


def test_d_image_loss_and_fakes_detached() -> None:
    def identity_d(x: torch.Tensor) -> torch.Tensor:
        return x[:, :1]

    fake = full(0.5).requires_grad_(True)
    loss = d_image_loss(identity_d, full(1.0), fake, "lsgan")
    assert loss.item() == pytest.approx(0.5 * (0.0 + 0.25))
    assert not loss.requires_grad  # the fake is detached: a D step cannot move the generators
