"""JRGR wiring: S2R/R2S by subtraction/addition, both external cycles, the objectives and their gradients."""

from __future__ import annotations

import torch

from jrgr_deploy.config import JRGRConfig
from jrgr_deploy.training.losses import CYC_TERMS
from jrgr_deploy.training.system import (
    DiscriminatorObjective,
    GeneratorObjective,
    JointOutputs,
    JRGRNets,
    joint_forward,
    translate,
)


def _small_config() -> JRGRConfig:
    return JRGRConfig.from_preset("tiny").with_overrides(
        ["model.removal.base_channels=4", "model.removal.depth=2", "model.removal.convs_per_level=0",
         "model.generation.base_channels=4", "model.generation.depth=2", "model.generation.convs_per_level=0",
         "model.discriminator.base_channels=4", "model.discriminator.n_layers=2"]
    )


def test_translate_subtracts_and_adds() -> None:
    o = torch.rand(1, 3, 4, 4)
    out = translate(o, lambda x: 0.5 * x, lambda r: 3.0 * r)
    assert torch.allclose(out.b_hat, 0.5 * o)
    assert torch.allclose(out.r_hat, 0.5 * o)  # R̂ = O - B̂
    assert torch.allclose(out.o_tilde, 0.5 * o + 1.5 * o)  # Õ = B̂ + G(R̂)


def test_cycle_wiring_with_distinct_affine_nets() -> None:
    """f_s(x) = x - a, f_r(x) = x - b, g_r(r) = 2r, g_s(r) = r/2: every output has a closed form that tells
    which net was used where."""
    a, b = 0.1, 0.3
    o_s, o_r = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    out = joint_forward(o_s, o_r, f_s=lambda x: x - a, f_r=lambda x: x - b, g_s=lambda r: r / 2,
                        g_r=lambda r: 2 * r)
    close = torch.testing.assert_close
    close(out.b_hat_s, o_s - a)
    close(out.r_hat_s, torch.full_like(o_s, a))
    close(out.o_tilde_r, o_s + a)  # B̂_s + G_r(R̂_s)
    close(out.b_hat_otr, o_s + a - b)  # F_r(Õ_r)
    close(out.o_hat_s, o_s + a - b / 2)  # R2S(Õ_r)
    close(out.b_hat_r, o_r - b)
    close(out.r_hat_r, torch.full_like(o_r, b))
    close(out.o_tilde_s, o_r - b / 2)  # B̂_r + G_s(R̂_r)
    close(out.b_hat_ots, o_r - b / 2 - a)  # F_s(Õ_s)
    close(out.o_hat_r, o_r - b / 2 + a)  # S2R(Õ_s)


def test_identity_generation_closes_the_cycles() -> None:
    """With G_s = G_r = identity, any removal nets give Õ = O and Ô = O (the rain layer is put back)."""
    o_s, o_r = torch.rand(2, 3, 8, 8) * 2 - 1, torch.rand(2, 3, 8, 8) * 2 - 1
    out = joint_forward(o_s, o_r, f_s=lambda x: 0.7 * x, f_r=torch.tanh, g_s=lambda r: r, g_r=lambda r: r)
    for got, want in ((out.o_tilde_r, o_s), (out.o_hat_s, o_s), (out.o_tilde_s, o_r), (out.o_hat_r, o_r)):
        torch.testing.assert_close(got, want)


def test_untrained_residual_system_reconstructs_inputs() -> None:
    """Tiny nets are residual with zero-initialised heads: all four generators start as the identity, so
    the cycle terms are exactly zero and the reconstructions equal the inputs."""
    config = _small_config()
    torch.manual_seed(0)
    nets = JRGRNets(config)
    objective = GeneratorObjective(nets, config.loss)
    o_s, b_s, o_r = (torch.rand(2, 3, 32, 32) * 2 - 1 for _ in range(3))
    terms, images = objective(o_s, b_s, o_r)
    out = JointOutputs(**images)
    assert torch.equal(out.o_hat_s, o_s) and torch.equal(out.o_hat_r, o_r)
    for name in CYC_TERMS:
        assert terms[name].item() == 0.0


def test_generator_step_moves_generators_not_discriminators() -> None:
    config = _small_config()
    torch.manual_seed(0)
    nets = JRGRNets(config)
    objective = GeneratorObjective(nets, config.loss)
    assert {name for name, _ in objective.named_children()} == {"f_s", "f_r", "g_s", "g_r"}
    for d in (nets.d_b, nets.d_or, nets.d_os):
        d.requires_grad_(False)
    o_s, o_r = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    b_s = (o_s - 0.3).clamp(-1, 1)
    terms, _ = objective(o_s, b_s, o_r)
    terms["g_total"].backward()
    for name in ("f_s", "f_r", "g_s", "g_r"):
        grads = [p.grad for p in getattr(nets, name).parameters()]
        assert any(g is not None and g.abs().sum() > 0 for g in grads), name
    for d in (nets.d_b, nets.d_or, nets.d_os):
        assert all(p.grad is None for p in d.parameters())


def test_discriminator_objective_terms_and_gradients() -> None:
    config = _small_config()
    torch.manual_seed(0)
    nets = JRGRNets(config)
    objective = DiscriminatorObjective(nets, config.loss)
    x = [torch.rand(2, 3, 32, 32) * 2 - 1 for _ in range(9)]
    terms = objective(x[0], tuple(x[1:5]), x[5], x[6], x[7], x[8])
    assert set(terms) == {"d_b", "d_b_real", "d_b_fake", "d_or", "d_os", "d_total"}
    torch.testing.assert_close(terms["d_total"], terms["d_b"] + terms["d_or"] + terms["d_os"])
    terms["d_total"].backward()
    for d in (nets.d_b, nets.d_or, nets.d_os):
        assert all(p.grad is not None for p in d.parameters())
    assert all(p.grad is None for p in nets.g_r.parameters())


def test_joint_forward_gives_each_removal_pass_the_rows_of_the_crop_it_came_from() -> None:
    """An image made from O_s (Õ_r) keeps O_s's rows, one made from O_r (Õ_s) keeps O_r's: F_s and F_r are
    recorded (plain functions in the nets' place; G passes its rain layer through)."""
    o_s, o_r = torch.full((1, 3, 4, 4), 0.5), torch.full((1, 3, 4, 4), -0.5)
    rows_s, rows_r = torch.zeros(1, 1, 4, 1), torch.ones(1, 1, 4, 1)
    calls: list[tuple[str, torch.Tensor]] = []

    def removal(name: str):
        def remove(o: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
            calls.append((name, rows))
            return 0.5 * o
        return remove

    joint_forward(o_s, o_r, removal("f_s"), removal("f_r"), lambda r: r, lambda r: r, rows_s=rows_s, rows_r=rows_r)
    # S2R reads O_s, R2S of its Õ_r (the synthetic cycle), R2S reads O_r, S2R of its Õ_s (the real cycle)
    assert [(name, rows is rows_s) for name, rows in calls] == [("f_s", True), ("f_r", True), ("f_r", False),
                                                                ("f_s", False)]
    assert all(rows is rows_r for name, rows in calls[2:])
