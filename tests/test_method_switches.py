"""The config switches beyond the paper, each against a closed form or a gradient check.

Term weights, F_r's anchor on the synthetic pair, the stop-gradient into G_r, clamping, the plain-CycleGAN
wiring, the physics form of G_r (veil in linear light), multi-scale and spectrally normalised discriminators,
the R1 penalty, per-net learning rates and the EMA of F_r.
"""

from __future__ import annotations

import pytest
import torch

from jrgr_deploy.config import DiscriminatorConfig, JRGRConfig, LossConfig, TermWeights, TrainConfig, VeilConfig
from jrgr_deploy.errors import JRGRError
from jrgr_deploy.nn.build import build_net
from jrgr_deploy.nn.patchgan import MultiScaleDiscriminator, PatchDiscriminator
from jrgr_deploy.nn.veil import PhysicsRainGenerator, VeilNet, gaussian_highpass, to_linear, veil_layer
from jrgr_deploy.training.losses import gan_loss, generator_terms, r1_penalty, total_loss
from jrgr_deploy.training.schedule import stage2_lrs
from jrgr_deploy.training.system import Composition, GeneratorObjective, JointOutputs, JRGRNets, joint_forward


def full(value: float, shape=(2, 3, 4, 4)) -> torch.Tensor:
    return torch.full(shape, float(value))


def _outputs() -> JointOutputs:
    return JointOutputs(
        o_s=full(0.0), o_r=full(0.1),
        b_hat_s=full(0.2), r_hat_s=full(-0.2), o_tilde_r=full(0.3), b_hat_otr=full(0.5), o_hat_s=full(0.6),
        b_hat_r=full(0.7), r_hat_r=full(-0.6), o_tilde_s=full(0.8), b_hat_ots=full(1.0), o_hat_r=full(-0.3),
    )


def _mean_d(x: torch.Tensor) -> torch.Tensor:
    return x.mean(dim=(1, 2, 3), keepdim=True)


def _small(*extra: str) -> JRGRConfig:
    return JRGRConfig.from_preset("tiny").with_overrides(
        ["model.removal.base_channels=4", "model.removal.depth=2", "model.removal.convs_per_level=0",
         "model.generation.base_channels=4", "model.generation.depth=2", "model.generation.convs_per_level=0",
         "model.discriminator.base_channels=4", "model.discriminator.n_layers=2", *extra]
    )


# ---- loss weights and the anchor term ----------------------------------------------------------------------


def test_term_weights_scale_each_term_and_zero_switches_it_off() -> None:
    out, b_s = _outputs(), full(-0.2)
    base = LossConfig(lambda_adv=2.0, lambda_cyc=3.0, lambda_mse=5.0)
    terms = generator_terms(out, b_s, _mean_d, _mean_d, _mean_d, base)
    weighted = LossConfig(lambda_adv=2.0, lambda_cyc=3.0, lambda_mse=5.0,
                          weights=TermWeights(adv_b_fr_or=0.0, cyc_os=0.5, mse_r=3.0))
    got = total_loss(terms, weighted).item()
    # Eq. 8 with the three weights applied: adv_b_fr_or = 0.3^2 dropped, cyc_os = 0.6 halved, mse_r = 0.7^2 x3
    want = terms["g_total"].item() - 2.0 * 0.3**2 - 3.0 * 0.5 * 0.6 + 5.0 * 2.0 * 0.7**2
    assert got == pytest.approx(want, rel=1e-6)
    with pytest.raises(JRGRError, match="weights.mse_r"):
        TermWeights(mse_r=-1.0)


def test_mse_fr_os_anchor_term_closed_form() -> None:
    out, b_s = _outputs(), full(-0.2)
    loss = LossConfig(lambda_adv=0.0, lambda_cyc=0.0, lambda_mse=5.0, weights=TermWeights(mse_fr_os=2.0))
    terms = generator_terms(out, b_s, _mean_d, _mean_d, _mean_d, loss, b_hat_fr_os=full(0.4))
    assert terms["mse_fr_os"].item() == pytest.approx(0.6**2)
    # MSE group: mse_s 0.4^2 + mse_r 0.7^2 + 2 x mse_fr_os 0.6^2, times lambda_mse
    assert terms["g_total"].item() == pytest.approx(5.0 * (0.4**2 + 0.7**2 + 2 * 0.6**2), rel=1e-6)
    assert "mse_fr_os" not in generator_terms(out, b_s, _mean_d, _mean_d, _mean_d, loss)


def test_mse_fr_os_reaches_f_r_through_the_objective() -> None:
    config = _small("loss.lambda_adv=0", "loss.lambda_cyc=0", "loss.weights.mse_s=0", "loss.weights.mse_r=0",
                    "loss.weights.mse_fr_os=1")
    torch.manual_seed(0)
    nets = JRGRNets(config)
    with torch.no_grad():  # move F_r off the identity so the anchor has something to say
        for p in nets.f_r.parameters():
            p.add_(0.05 * torch.randn_like(p))
    objective = GeneratorObjective(nets, config.loss, Composition.from_config(config))
    o_s, b_s, o_r = (torch.rand(2, 3, 16, 16) * 2 - 1 for _ in range(3))
    terms, _ = objective(o_s, b_s, o_r)
    want = config.loss.lambda_mse * torch.mean((nets.f_r(o_s) - b_s) ** 2)
    torch.testing.assert_close(terms["g_total"], want)
    terms["g_total"].backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in nets.f_r.parameters())
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in nets.f_s.parameters())


# ---- composition switches ------------------------------------------------------------------------------------


def test_stop_grad_o_tilde_r_keeps_pseudo_pair_terms_off_g_r() -> None:
    """mse_r = ||F_r(Õ_r) − B_s||² reaches G_r through Õ_r in the paper; with the switch it reaches F_r only."""
    scale = torch.tensor(1.5, requires_grad=True)  # G_r's one parameter
    shift = torch.tensor(0.1, requires_grad=True)  # F_r's one parameter
    o_s, o_r, b_s = full(0.4), full(0.2), full(0.0)

    def mse_r_grads(stop: bool) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        scale.grad = shift.grad = None
        out = joint_forward(o_s, o_r, f_s=lambda x: x - 0.1, f_r=lambda x: x - shift, g_s=lambda r: r,
                            g_r=lambda r: scale * r, composition=Composition(stop_grad_o_tilde_r=stop))
        torch.mean((out.b_hat_otr - b_s) ** 2).backward()
        return scale.grad, shift.grad

    g_scale, g_shift = mse_r_grads(False)
    # F_r(Õ_r) = 0.3 + 1.5 * 0.1 - shift = 0.35: d/dscale = 2 * 0.35 * 0.1, d/dshift = -2 * 0.35
    assert g_scale.item() == pytest.approx(2 * 0.35 * 0.1) and g_shift.item() == pytest.approx(-0.7)
    g_scale, g_shift = mse_r_grads(True)
    assert g_scale is None and g_shift.item() == pytest.approx(-0.7)


def test_clamp_and_plain_cyclegan_wiring() -> None:
    o_s, o_r = torch.rand(2, 3, 8, 8) * 2 - 1, torch.rand(2, 3, 8, 8) * 2 - 1
    out = joint_forward(o_s, o_r, f_s=lambda x: x - 0.1, f_r=lambda x: x - 0.3, g_s=lambda x: x / 2,
                        g_r=lambda x: 2 * x, composition=Composition(disentangle=False))
    close = torch.testing.assert_close
    close(out.o_tilde_r, 2 * o_s)  # G_r on the whole image, no rain layer
    close(out.b_hat_otr, 2 * o_s - 0.3)  # F_r still learns from (Õ_r, B_s)
    close(out.o_hat_s, o_s)  # G_s(Õ_r)
    close(out.o_tilde_s, o_r / 2)
    close(out.o_hat_r, o_r)
    clamped = joint_forward(o_s, o_r, f_s=lambda x: x, f_r=lambda x: x, g_s=lambda x: 3 * x, g_r=lambda x: 3 * x,
                            composition=Composition(clamp=True))
    for image in (clamped.o_tilde_r, clamped.o_tilde_s, clamped.o_hat_s, clamped.o_hat_r):
        assert image.abs().max() <= 1.0
    with pytest.raises(JRGRError, match="disentangle"):
        _small("model.rain_form=physics", "model.disentangle=false")


# ---- physics form of G_r ----------------------------------------------------------------------------------


def test_veil_layer_closed_form() -> None:
    image = torch.rand(2, 3, 5, 5) * 2 - 1
    airlight = torch.tensor([0.2, 0.5, 0.8]).view(1, 3, 1, 1).expand(2, -1, -1, -1)
    assert torch.equal(veil_layer(image, torch.ones(2, 1, 5, 5), airlight), torch.zeros_like(image))
    bias = 2 * 1e-5**0.5  # the epsilon that keeps the square root's slope finite at black
    # T = 0: the veiled image is the airlight itself (back in [-1, 1] through the gamma-2 curve)
    veiled = image + veil_layer(image, torch.zeros(2, 1, 5, 5), airlight)
    torch.testing.assert_close(veiled, (2 * torch.sqrt(airlight) - 1).expand_as(image), atol=bias, rtol=0)
    # T = 0.5 on a black image: linear 0.5 A
    black = -torch.ones(1, 3, 2, 2)
    half = black + veil_layer(black, torch.full((1, 1, 2, 2), 0.5), airlight[:1])
    torch.testing.assert_close(half, (2 * torch.sqrt(0.5 * airlight[:1]) - 1).expand_as(half), atol=bias, rtol=0)
    torch.testing.assert_close(to_linear(torch.tensor([-1.0, 0.0, 1.0])), torch.tensor([0.0, 0.25, 1.0]))


def test_veil_layer_gradients() -> None:
    image = (torch.rand(1, 3, 3, 3, dtype=torch.float64) * 1.6 - 0.8).requires_grad_(True)
    trans = (torch.rand(1, 1, 3, 3, dtype=torch.float64) * 0.8 + 0.1).requires_grad_(True)
    air = (torch.rand(1, 3, 1, 1, dtype=torch.float64) * 0.8 + 0.1).requires_grad_(True)
    assert torch.autograd.gradcheck(veil_layer, (image, trans, air))


def test_gaussian_highpass_removes_constants_keeps_streaks() -> None:
    flat = torch.full((1, 3, 32, 32), 0.7)
    assert gaussian_highpass(flat, 4.0).abs().max() < 1e-5
    streak = torch.zeros(1, 3, 32, 32)
    streak[..., 10] = 1.0  # a one-pixel vertical line keeps most of its height
    assert gaussian_highpass(streak, 4.0)[..., 10].mean() > 0.85


def test_veil_net_starts_without_veil_and_samples_with_noise() -> None:
    torch.manual_seed(0)
    net = VeilNet(VeilConfig(input_px=32, channels=4, grid=3, noise_dim=4, t_min=0.2))
    b_hat = torch.rand(2, 3, 48, 40) * 2 - 1
    trans, air = net(b_hat)
    assert trans.shape == (2, 1, 48, 40) and air.shape == (2, 3, 1, 1)
    assert trans.min() > 0.95 and trans.max() <= 1.0  # initialised to (almost) no veil
    assert 0.0 < air.min() and air.max() < 1.0
    trans_again, _ = net(b_hat)
    assert not torch.equal(trans, trans_again)  # fresh noise: a distribution of veils, not one
    fixed = torch.zeros(2, 4)
    assert torch.equal(net(b_hat, fixed)[0], net(b_hat, fixed)[0])


def test_physics_g_r_is_built_by_config_and_composes_through_translate() -> None:
    config = _small("model.rain_form=physics", "model.veil.input_px=16", "model.veil.channels=4")
    torch.manual_seed(0)
    g_r = build_net(config, "g_r")
    assert isinstance(g_r, PhysicsRainGenerator)
    assert not isinstance(build_net(config, "g_s"), PhysicsRainGenerator)
    nets = JRGRNets(config)
    objective = GeneratorObjective(nets, config.loss, Composition.from_config(config))
    o_s, b_s, o_r = (torch.rand(2, 3, 16, 16) * 2 - 1 for _ in range(3))
    terms, images = objective(o_s, b_s, o_r)
    terms["g_total"].backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in nets.g_r.veil.parameters())
    # the untrained physics G_r: streak net is the identity, T ≈ 0.98 -> Õ_r close to O_s, but not equal
    o_tilde_r = images["o_tilde_r"]
    assert 0 < (o_tilde_r - o_s).abs().mean() < 0.1


# ---- discriminators ---------------------------------------------------------------------------------------


def test_multiscale_discriminator_maps_and_averaged_loss() -> None:
    config = DiscriminatorConfig(base_channels=4, n_layers=2, norm="none", scales=3)
    d = MultiScaleDiscriminator(config)
    maps = d(torch.rand(2, 3, 64, 64))
    assert [m.shape[-1] for m in maps] == [14, 6, 2]  # 64 -> 32 -> 16 pixels, each PatchGAN: H/4 - 2
    logits = [torch.full((1, 1, 2, 2), 0.5), torch.full((1, 1, 3, 3), -1.0)]
    assert gan_loss(logits, True, "lsgan").item() == pytest.approx((0.25 + 4.0) / 2)
    assert isinstance(build_net(_small("model.discriminator.scales=2"), "d_or"), MultiScaleDiscriminator)
    with pytest.raises(JRGRError, match="scales"):
        DiscriminatorConfig(scales=0)


def test_spectral_norm_bounds_each_convolution() -> None:
    torch.manual_seed(0)
    d = PatchDiscriminator(DiscriminatorConfig(base_channels=4, n_layers=2, norm="none", spectral_norm=True))
    for _ in range(30):  # power iteration runs once per training-mode forward
        d(torch.rand(1, 3, 32, 32))
    convs = [m for m in d.model if isinstance(m, torch.nn.Conv2d)]
    assert convs
    for conv in convs:
        sigma = torch.linalg.matrix_norm(conv.weight.detach().flatten(1), ord=2)
        assert sigma.item() == pytest.approx(1.0, abs=0.05)


def test_r1_penalty_closed_form() -> None:
    weight = torch.tensor([0.5, -2.0, 1.0]).view(1, 3, 1, 1)

    def linear_d(x: torch.Tensor) -> torch.Tensor:
        return (weight * x).sum(dim=1, keepdim=True)  # d D / dx = weight at every pixel

    real = torch.rand(2, 3, 4, 4).requires_grad_(True)
    penalty = r1_penalty(linear_d(real), real, gamma=10.0)
    assert penalty.item() == pytest.approx(0.5 * 10.0 * 16 * (0.25 + 4.0 + 1.0))
    real = torch.rand(2, 3, 4, 4).requires_grad_(True)
    assert r1_penalty([linear_d(real), linear_d(real)], real, gamma=1.0).item() == pytest.approx(
        0.5 * 4 * 16 * 5.25)


def test_r1_switch_adds_the_penalty_to_discriminator_losses() -> None:
    from jrgr_deploy.training.losses import d_image_loss

    def affine_d(x: torch.Tensor) -> torch.Tensor:
        return 2.0 * x[:, :1]

    real, fake = full(0.5), full(0.0)
    plain = d_image_loss(affine_d, real, fake, "lsgan").item()
    with_r1 = d_image_loss(affine_d, real, fake, "lsgan", r1_gamma=3.0).item()
    assert with_r1 - plain == pytest.approx(0.5 * 3.0 * 16 * 4.0)  # ||grad||² = 4 per pixel of channel 0


# ---- learning rates and EMA -------------------------------------------------------------------------------


def test_generation_lr_ratio() -> None:
    lrs = stage2_lrs(TrainConfig(lr=1e-4, g_lr_ratio=0.5, f_r_lr_ratio=1.0, d_lr_ratio=2.0), pretrained=True)
    assert lrs["g_r"] == lrs["g_s"] == pytest.approx(5e-5)
    assert lrs["f_r"] == pytest.approx(1e-4) and lrs["d_or"] == pytest.approx(2e-4)


def test_parameter_ema_closed_form() -> None:
    from jrgr_deploy.training.trainer import _ParameterEMA

    net = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        net.weight.fill_(0.0)
    ema = _ParameterEMA(net, decay=0.9)
    with torch.no_grad():
        net.weight.fill_(1.0)
    for _ in range(3):
        ema.update(net)
    assert ema.module.weight.item() == pytest.approx(1 - 0.9**3)
    assert not ema.module.weight.requires_grad
    with pytest.raises(JRGRError, match="ema_decay"):
        TrainConfig(ema_decay=1.0)


def test_weight_anchor_pull_closed_form() -> None:
    """train.f_r_anchor: θ ← θ − lr · rate · (θ − θ_start) after each step, whatever Adam did."""
    from jrgr_deploy.training.trainer import _WeightAnchor

    net = torch.nn.Linear(1, 1, bias=True)
    with torch.no_grad():
        net.weight.fill_(2.0)
        net.bias.fill_(-1.0)
    anchor = _WeightAnchor(rate=500.0)
    anchor.pull(net, lr=1.0)  # nothing taken yet: no pull
    assert net.weight.item() == 2.0
    anchor.take(net)
    with torch.no_grad():
        net.weight.fill_(4.0)
        net.bias.fill_(1.0)
    for _ in range(3):
        anchor.pull(net, lr=1e-3)  # weight 0.5 a step: the distance halves
    assert net.weight.item() == pytest.approx(2.0 + 2.0 * 0.5**3)
    assert net.bias.item() == pytest.approx(-1.0 + 2.0 * 0.5**3)
    anchor.pull(net, lr=1.0)  # lr * rate beyond 1 lands on the start, never past it
    assert net.weight.item() == pytest.approx(2.0) and net.bias.item() == pytest.approx(-1.0)
    assert not anchor.start["weight"].requires_grad
    with pytest.raises(JRGRError, match="f_r_anchor"):
        TrainConfig(f_r_anchor=-1.0)
    with pytest.raises(JRGRError, match="f_r_anchor_step"):
        TrainConfig(f_r_anchor_step=-1)


def _veil_and_streak_grads(config: JRGRConfig, source: str, term: str) -> tuple[float, float]:
    torch.manual_seed(0)
    cfg = config.with_overrides([f"loss.veil_learns_from={source}"])
    nets = JRGRNets(cfg)
    with torch.no_grad():  # off the identity, so every term has an error to send back
        for p in [*nets.g_s.parameters(), *nets.f_r.parameters(), *nets.d_or.parameters()]:
            p.add_(0.05 * torch.randn_like(p))
    objective = GeneratorObjective(nets, cfg.loss, Composition.from_config(cfg))
    o_s, b_s, o_r = (torch.rand(2, 3, 32, 32) * 2 - 1 for _ in range(3))
    terms, _ = objective(o_s, b_s, o_r)
    terms[term].backward()
    veil = sum(float(p.grad.abs().sum()) for p in nets.g_r.veil.parameters() if p.grad is not None)
    streak = sum(float(p.grad.abs().sum()) for p in nets.g_r.streak.parameters() if p.grad is not None)
    return veil, streak


@pytest.mark.parametrize(("source", "cycle", "adversarial", "moments"), [
    ("all", True, True, True), ("adversarial", False, True, True), ("moments", False, False, True)])
def test_veil_learns_from_routes_the_gradients(source: str, cycle: bool, adversarial: bool, moments: bool) -> None:
    """Which terms reach the physics G_r's veil net: the real cycle (Eq. 5), D_Or (Eq. 4), moment matching."""
    config = _small("model.rain_form=physics", "model.veil.input_px=16", "model.veil.channels=4",
                    "loss.weights.mom_or=1")
    for term, expected in (("cyc_or", cycle), ("adv_or", adversarial), ("mom_or", moments)):
        veil, streak = _veil_and_streak_grads(config, source, term)
        assert (veil > 0) == expected, (source, term)
        # the streak net learns from every term but the moments (those see the streak-free veiled background)
        assert (streak > 0) == (term != "mom_or"), (source, term)
    with pytest.raises(JRGRError, match="veil_learns_from"):
        LossConfig(veil_learns_from="cycle")


# ---- moment matching ---------------------------------------------------------------------------------------


def test_low_frequency_features_closed_form() -> None:
    from jrgr_deploy.training.losses import low_frequency_features

    flat = torch.zeros(1, 3, 32, 32)  # grey 0.5 -> linear 0.25 in every channel, no contrast
    features = low_frequency_features(flat, grid=2)
    assert features.shape == (1, 16)
    torch.testing.assert_close(features[0, :12], torch.full((12,), 0.25))
    assert features[0, 12:].max() < 1e-4
    red = -torch.ones(1, 3, 32, 32)
    red[:, 0] = 1.0  # pure red: linear (1, 0, 0)
    torch.testing.assert_close(low_frequency_features(red, grid=1)[0, :3], torch.tensor([1.0, 0.0, 0.0]))
    halves = -torch.ones(1, 3, 32, 32)
    halves[..., :, 16:] = 1.0  # left black, right white: each cell of the 2x2 grid is uniform
    cells = low_frequency_features(halves, grid=2)[0]
    torch.testing.assert_close(cells[:4], torch.tensor([0.0, 1.0, 0.0, 1.0]))  # red channel per cell
    assert cells[12:].max() < 1e-4
    whole = low_frequency_features(halves, grid=1)[0]
    torch.testing.assert_close(whole, torch.tensor([0.5, 0.5, 0.5, 0.5]), atol=1e-4, rtol=0)


def test_moment_matcher_matches_pools_of_veiled_backgrounds_to_real_images() -> None:
    from jrgr_deploy.training.losses import MomentMatcher, low_frequency_features

    matcher = MomentMatcher(grid=1, pool_size=3, sample=3, thumb_px=16)
    real = torch.zeros(2, 3, 32, 32)  # linear 0.25 per channel
    clean = torch.full((2, 3, 32, 32), -0.5)  # linear 0.0625: darker than the real set
    gain = torch.tensor(1.0, requires_grad=True)

    def veil_image(x: torch.Tensor) -> torch.Tensor:
        return x * gain

    value = matcher(veil_image, clean, real)
    # moments φ and φ²: three channel means off by 0.25 - 0.0625, their squares by 0.0625 - 0.0039, the contrast
    # feature equal (0 = 0) in both: the mean of 8 squared errors
    want = (3 * (0.25 - 0.0625) ** 2 + 3 * (0.25**2 - 0.0625**2) ** 2) / 8
    assert value.item() == pytest.approx(want, rel=1e-4)
    value.backward()
    assert gain.grad > 0  # a smaller gain moves the -0.5 backgrounds towards 0, i.e. towards the real mean
    # the real target is the cumulative mean of every real image seen; the clean ring keeps the last 3
    matcher(veil_image, torch.zeros(1, 3, 32, 32), torch.ones(1, 3, 32, 32))
    matcher(veil_image, torch.zeros(1, 3, 32, 32), torch.ones(1, 3, 32, 32))
    assert int(matcher.clean_count) == 4 and int(matcher.real_count) == 4
    assert matcher.real_mean[0].item() == pytest.approx((2 * 0.25 + 2 * 1.0) / 4)
    torch.testing.assert_close(low_frequency_features(matcher.clean, 1)[:, 0], torch.tensor([0.25, 0.0625, 0.25]))


def test_mom_or_term_enters_g_total_and_needs_the_physics_form() -> None:
    config = _small("model.rain_form=physics", "model.veil.input_px=16", "model.veil.channels=4",
                    "loss.weights.mom_or=5")
    torch.manual_seed(0)
    nets = JRGRNets(config)
    objective = GeneratorObjective(nets, config.loss, Composition.from_config(config))
    o_s, b_s, o_r = (torch.rand(2, 3, 32, 32) * 2 - 1 for _ in range(3))
    terms, _ = objective(o_s, b_s, o_r)
    without = {k: v for k, v in terms.items() if k not in ("mom_or", "g_total")}
    want = total_loss(without, config.loss) + config.loss.lambda_adv * 5 * terms["mom_or"]
    torch.testing.assert_close(terms["g_total"], want)
    additive = _small("loss.weights.mom_or=5")
    with pytest.raises(JRGRError, match="rain_form=physics"):
        GeneratorObjective(JRGRNets(additive), additive.loss, Composition.from_config(additive))


def test_crop_too_small_for_the_discriminators_is_a_clear_error(tmp_path) -> None:
    from jrgr_deploy.training.trainer import train

    config = _small("model.discriminator.n_layers=3", "model.discriminator.scales=3", "train.crop_size=64")
    with pytest.raises(JRGRError, match="crop_size=64 gives crops of 64x64 .*too small .* at least 96"):
        train(config, tmp_path, stages=("stage2",), progress=False)


@pytest.mark.parametrize("norm", ["none", "instance", "batch"])
def test_logits_of_each_equal_separate_calls(norm: str) -> None:
    """Batching D_B's four inputs into one call changes no logit (BatchNorm discriminators are called apart)."""
    from jrgr_deploy.training.losses import logits_of_each

    torch.manual_seed(0)
    for scales in (1, 3):
        config = DiscriminatorConfig(base_channels=4, n_layers=2, norm=norm, scales=scales, spectral_norm=True)
        d = (MultiScaleDiscriminator if scales > 1 else PatchDiscriminator)(config).eval()
        images = [torch.rand(2, 3, 64, 64) for _ in range(4)]
        joint = logits_of_each(d, images)
        for image, got in zip(images, joint, strict=True):
            want = d(image)
            for a, b in zip(want if scales > 1 else [want], got if scales > 1 else [got], strict=True):
                torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
