"""The JRGR objective, paper Eq. 3-8, one named term each (the logs show every term).

Notation (docs/ARCHITECTURE.md, "The method"): O rainy image, B background, R = O - B rain layer; s synthetic, r real.
`JointOutputs` (see `system.py`) holds the S2R/R2S intermediates the terms use.

Generator side (all four generators are updated by their sum, Eq. 8):
- Eq. 3, background adversarial, D_B on all four background estimates:
  ``adv_b_fs_os``  F_s(O_s),  ``adv_b_fr_otr`` F_r(Õ_r),  ``adv_b_fr_or`` F_r(O_r),  ``adv_b_fs_ots`` F_s(Õ_s).
- Eq. 4, rainy-image adversarial: ``adv_or`` D_Or(Õ_r), ``adv_os`` D_Os(Õ_s).
- Eq. 5, image cycle L1: ``cyc_os`` ||O_s - Ô_s||_1, ``cyc_or`` ||O_r - Ô_r||_1.
- Eq. 6, background cycle L1: ``cyc_b_s`` ||F_s(O_s) - F_r(Õ_r)||_1, ``cyc_b_r`` ||F_r(O_r) - F_s(Õ_s)||_1.
- Eq. 7, supervised MSE: ``mse_s`` ||F_s(O_s) - B_s||², ``mse_r`` ||F_r(Õ_r) - B_s||².
- Eq. 8: ``g_total`` = lambda_adv * sum(adv) + lambda_cyc * sum(cyc) + lambda_mse * sum(mse), each term
  also multiplied by its own weight (``loss.weights``, 1 by default; 0 switches a term off).
- Beyond the paper: ``mse_fr_os`` ||F_r(O_s) - B_s||² (MSE group, weight 0 by default); ``mom_or`` (adversarial
  group, weight 0 by default), moment matching of the physics G_r's veil to the real images' low-frequency
  statistics (`MomentMatcher`); ``mse_fr_mt`` ||F_r(Õ_mt) - B_s||² (MSE group, weight 0 by default), F_r on the
  moment-transfer pseudo-pair (`jrgr_deploy.moment_transfer`; computed in `GeneratorObjective`); ``mse_fr_pl``
  ||F_r(O_r) - P_r||², F_r on the real images' pseudo-labels (MSE group, weight 0 by default; with
  ``loss.pl_highpass_px`` = σ > 0 only the difference's detail above a σ-pixel Gaussian blur, `pseudo_label_mse`);
  ``mse_fr_keep`` ||F_r(O_s) - F_r⁰(O_s)||², F_r held to its frozen starting net F_r⁰ on the synthetic rainy images
  (MSE group, weight 0 by default; computed in `GeneratorObjective`); ``streak_fr_or``, the thin lines along the
  rain direction that F_r(O_r) keeps where O_r shows them (MSE group, weight 0 by default; `rain_line_penalty`);
  ``mse_fr_pl_detail`` ||hp(F_r(O_r) - P_r)||², the pseudo-labels' detail finer than a 3 px blur (MSE group, weight
  0 by default; `pseudo_label_detail_mse`).

Discriminator side (Eq. 3 and 4 maximised by D):
- ``d_b`` = 0.5 * (alpha * GAN(D_B(B), real) + sum_k GAN(D_B(fake_k), fake)) / 4: the four background
  estimates are fakes, alpha weighs the one real term (Eq. 3); the 0.5 and /4 keep the authors'
  0.5 * (real + fake) scale, so with alpha = 4 it is 0.5 * (real + mean of the fakes).
- ``d_or`` = 0.5 * (GAN(D_Or(O_r), real) + GAN(D_Or(Õ_r), fake)), ``d_os`` likewise with O_s, Õ_s.
- ``loss.r1_gamma`` > 0 adds the R1 penalty gamma/2 * E||grad_x D(x)||² on each discriminator's real samples.

All L1/MSE terms are means over pixels and batch; GAN terms are means over the patch map and batch (and over
the scales of a multi-scale discriminator, which returns a list of patch maps).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from jrgr_deploy.config import STREAK_LINES, LossConfig
from jrgr_deploy.errors import JRGRError
from jrgr_deploy.nn.veil import gaussian_highpass, highpass_radius
from jrgr_deploy.training.streak_carving import TONE_BLUR_PX, rain_line_mask

if TYPE_CHECKING:
    from jrgr_deploy.training.system import JointOutputs

ADV_TERMS = ("adv_b_fs_os", "adv_b_fr_otr", "adv_b_fr_or", "adv_b_fs_ots", "adv_or", "adv_os")
CYC_TERMS = ("cyc_os", "cyc_or", "cyc_b_s", "cyc_b_r")
MSE_TERMS = ("mse_s", "mse_r")
GENERATOR_TERMS = ADV_TERMS + CYC_TERMS + MSE_TERMS  # the paper's twelve
# beyond the paper, in the MSE group, present only when weighted
EXTRA_MSE_TERMS = ("mse_fr_os", "mse_fr_mt", "mse_fr_pl", "mse_fr_keep", "streak_fr_or", "mse_fr_pl_detail")
EXTRA_ADV_TERMS = ("mom_or",)  # beyond the paper, in the adversarial group, present only when weighted
_LUMA = (0.299, 0.587, 0.114)

Logits = torch.Tensor | list[torch.Tensor]
Discriminator = Callable[[torch.Tensor], Logits]


def gan_loss(logits: Logits, target_is_real: bool, mode: str) -> torch.Tensor:
    """GAN objective on a patch map of raw logits (or the mean over a multi-scale D's list of maps).

    ``lsgan`` (authors' code): mean((D - t)^2) with t = 1 for real, 0 for fake.
    ``vanilla`` (the paper's log-loss form of Eq. 3-4): binary cross-entropy with logits.
    """
    if isinstance(logits, (list, tuple)):
        return sum(gan_loss(scale, target_is_real, mode) for scale in logits) / len(logits)
    target = torch.ones_like(logits) if target_is_real else torch.zeros_like(logits)
    if mode == "lsgan":
        return F.mse_loss(logits, target)
    if mode == "vanilla":
        return F.binary_cross_entropy_with_logits(logits, target)
    raise JRGRError(f"gan_mode '{mode}' is not one of lsgan, vanilla")


def logits_of_each(d: Discriminator, images: Sequence[torch.Tensor]) -> list[Logits]:
    """D's logits on each tensor of `images`, in one call when that cannot change them (same shapes and no
    BatchNorm in D, whose statistics would mix the images): a batch of four is much cheaper than four calls."""
    norm = getattr(getattr(d, "config", None), "norm", "batch")
    if norm == "batch" or len({tuple(x.shape[1:]) for x in images}) != 1:
        return [d(x) for x in images]
    sizes = [x.shape[0] for x in images]
    joint = d(torch.cat(list(images)))
    if isinstance(joint, (list, tuple)):
        per_scale = [scale.split(sizes) for scale in joint]
        return [[scale[k] for scale in per_scale] for k in range(len(images))]
    return list(joint.split(sizes))


def generator_terms(
    out: JointOutputs,
    b_s: torch.Tensor,
    d_b: Discriminator,
    d_or: Discriminator,
    d_os: Discriminator,
    loss: LossConfig,
    b_hat_fr_os: torch.Tensor | None = None,
    extra: dict[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """Every generator-side term of Eq. 3-7 plus ``g_total`` (Eq. 8); see the module docstring.

    b_hat_fr_os: F_r(O_s), given when ``loss.weights.mse_fr_os`` > 0 (otherwise that term is absent).
    extra: terms computed elsewhere (``mom_or`` from a `MomentMatcher`), added before the total."""
    mode = loss.gan_mode
    d_b_logits = logits_of_each(d_b, (out.b_hat_s, out.b_hat_otr, out.b_hat_r, out.b_hat_ots))
    terms = {
        # Eq. 3: the four background estimates should look clean to D_B.
        "adv_b_fs_os": gan_loss(d_b_logits[0], True, mode),
        "adv_b_fr_otr": gan_loss(d_b_logits[1], True, mode),
        "adv_b_fr_or": gan_loss(d_b_logits[2], True, mode),
        "adv_b_fs_ots": gan_loss(d_b_logits[3], True, mode),
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
    if b_hat_fr_os is not None:
        terms["mse_fr_os"] = F.mse_loss(b_hat_fr_os, b_s)
    terms.update(extra or {})
    terms["g_total"] = total_loss(terms, loss)
    return terms


# the removal nets' supervised terms: without any other weighted term a step needs no G or D (`removal_only`)
REMOVAL_TERMS = ("mse_s", *EXTRA_MSE_TERMS)


def pseudo_label_mse(b_hat_r: torch.Tensor, p_r: torch.Tensor, highpass_px: float) -> torch.Tensor:
    """``mse_fr_pl``: mean ||F_r(O_r) − P_r||² over pixels and batch; with `highpass_px` σ > 0, of the difference
    minus its Gaussian blur of σ pixels (`jrgr_deploy.nn.veil.gaussian_highpass`), so that a difference in tone
    smoother than σ costs nothing. b_hat_r, p_r (N, 3, H, W); with σ > 0 both sides must exceed 3σ pixels."""
    if highpass_px <= 0:  # F.mse_loss itself: its sums round differently from square().mean(), and the published
        return F.mse_loss(b_hat_r, p_r)  # rows were trained with it (a last-bit change moves a seed by ~0.2 dB)
    return _highpass_mse(b_hat_r, p_r, highpass_px, f"loss.pl_highpass_px={highpass_px}")


def _highpass_mse(b_hat_r: torch.Tensor, p_r: torch.Tensor, sigma_px: float, switch: str) -> torch.Tensor:
    """Mean square of (b_hat_r − p_r) minus its Gaussian blur of `sigma_px`; crops too small for the blur are
    refused, naming `switch`."""
    radius = highpass_radius(sigma_px)
    if min(b_hat_r.shape[-2:]) <= radius:
        raise JRGRError(f"{switch} needs crops larger than {radius} px on each side, got {tuple(b_hat_r.shape[-2:])}")
    return gaussian_highpass(b_hat_r - p_r, sigma_px).square().mean()


def pseudo_label_detail_mse(b_hat_r: torch.Tensor, p_r: torch.Tensor) -> torch.Tensor:
    """``mse_fr_pl_detail``: mean ||hp(F_r(O_r) − P_r)||² over pixels and batch, hp the difference minus its
    Gaussian blur of ``TONE_BLUR_PX`` (3 px: the scale below which the ``detail`` carving gives a label the
    reference's detail), a weight of its own on the fine detail where the labels lost their streaks, beside
    ``mse_fr_pl``, which keeps the labels' tone. b_hat_r, p_r (N, 3, H, W), each side above
    `highpass_radius(TONE_BLUR_PX)` pixels."""
    return _highpass_mse(b_hat_r, p_r, TONE_BLUR_PX, "loss.weights.mse_fr_pl_detail")


def rain_line_penalty(b_hat_r: torch.Tensor, o_r: torch.Tensor, lines: str = "grey") -> torch.Tensor:
    """``streak_fr_or``: the thin lines F_r(O_r) keeps brighter in every channel than their surroundings, where
    the rainy O_r shows such lines along its rain direction; the mean over pixels and batch, in the nets' [-1, 1]
    units. b_hat_r, o_r (N, 3, H, W) in [-1, 1], each side above `highpass_radius(TONE_BLUR_PX)` pixels.

    The places M are O_r's `streak_carving.rain_line_mask` (fixed, no gradient: numpy and OpenCV on each crop);
    the lines are `streak_energy`'s layer taken differentiably: relu(min over the channels of hp(hp(F_r(O_r)))),
    hp the image minus its Gaussian blur of ``TONE_BLUR_PX`` (`gaussian_highpass`; what `streak_layer` subtracts
    against an image's own blur); `lines` (``loss.streak_lines``) "grey_both" adds relu(−max over the channels), a
    line darker in every channel, and "each_channel" takes the mean over the channels of relu(hp(hp(F_r(O_r)))),
    each channel's own brighter lines. No label is involved: a directional sparsity prior on the real images'
    output. "grey" is the measure the real-rain sheet reports, and a net trained on it lowers the measure by
    making its streaks coloured (the proxy's SSIM-RGB falls): a net trained on it is judged on the sheet's pictures
    and the proxy's SSIM-RGB (BENCHMARKS.md, Quality, "A penalty on the streaks F_r keeps")."""
    if lines not in STREAK_LINES:  # checked before the per-crop mask work below
        raise JRGRError(f"rain_line_penalty: lines must be one of {', '.join(STREAK_LINES)}, got {lines!r}")
    radius = highpass_radius(TONE_BLUR_PX)
    if min(o_r.shape[-2:]) <= radius:
        raise JRGRError(f"loss.weights.streak_fr_or needs crops larger than {radius} px on each side, "
                        f"got {tuple(o_r.shape[-2:])}")
    pixels = ((o_r.detach().float().clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(torch.uint8)
    masks = [torch.from_numpy(rain_line_mask(image.permute(1, 2, 0).cpu().numpy())[0]) for image in pixels]
    mask = torch.stack(masks).unsqueeze(1).to(device=b_hat_r.device, dtype=b_hat_r.dtype)
    detail = gaussian_highpass(gaussian_highpass(b_hat_r, TONE_BLUR_PX), TONE_BLUR_PX)
    if lines == "each_channel":
        kept = detail.clamp_min(0.0).mean(dim=1, keepdim=True)
    else:
        kept = detail.amin(dim=1, keepdim=True).clamp_min(0.0)
        if lines == "grey_both":
            kept = kept + (-detail.amax(dim=1, keepdim=True)).clamp_min(0.0)
    return (kept * mask).mean()


def _term_groups(loss: LossConfig) -> tuple[tuple[float, tuple[str, ...]], ...]:
    """Eq. 8's groups: (lambda, the terms it multiplies)."""
    return ((loss.lambda_adv, ADV_TERMS + EXTRA_ADV_TERMS), (loss.lambda_cyc, CYC_TERMS),
            (loss.lambda_mse, MSE_TERMS + EXTRA_MSE_TERMS))


def removal_only(loss: LossConfig) -> bool:
    """True when every weighted term is a removal net's supervised MSE (`REMOVAL_TERMS`): no adversarial, cycle or
    Eq. 7 pseudo-pair term counts, so nothing reaches G_s, G_r or a discriminator and a step needs neither the joint
    graph nor a discriminator step (self-training). ``mse_r`` must be weighted 0 itself (it needs G_r's Õ_r)."""
    weights = loss.weights
    return weights.mse_r == 0.0 and all(lam == 0.0 or getattr(weights, name) == 0.0
                                        for lam, names in _term_groups(loss) for name in names
                                        if name not in REMOVAL_TERMS)


def total_loss(terms: dict[str, torch.Tensor], loss: LossConfig) -> torch.Tensor:
    """Eq. 8: lambda_adv * adversarial + lambda_cyc * cycle + lambda_mse * MSE terms, each term times its
    weight in ``loss.weights`` (terms absent from `terms` count as 0)."""
    return sum(
        lam * getattr(loss.weights, name) * terms[name]
        for lam, names in _term_groups(loss)
        for name in names
        if name in terms and getattr(loss.weights, name) != 0.0
    )


def d_b_loss(
    d_b: Discriminator, real_b: torch.Tensor, fake_bs: Sequence[torch.Tensor], loss: LossConfig
) -> dict[str, torch.Tensor]:
    """Eq. 3, discriminator side: alpha-weighted real backgrounds vs the four (pooled) estimates."""
    real, penalty = _real_term(d_b, real_b, loss.gan_mode, loss.r1_gamma)
    fakes = [gan_loss(logits, False, loss.gan_mode)
             for logits in logits_of_each(d_b, [fake.detach() for fake in fake_bs])]
    fake_sum = sum(fakes)
    return {
        "d_b": 0.5 * (loss.alpha * real + fake_sum) / len(fakes) + penalty,
        "d_b_real": real,
        "d_b_fake": fake_sum / len(fakes),
    }


def d_image_loss(
    d: Discriminator, real: torch.Tensor, fake: torch.Tensor, mode: str, r1_gamma: float = 0.0
) -> torch.Tensor:
    """Eq. 4, discriminator side: 0.5 * (real + fake) as the authors' CycleGAN-style code (+ R1)."""
    real_term, penalty = _real_term(d, real, mode, r1_gamma)
    return 0.5 * (real_term + gan_loss(d(fake.detach()), False, mode)) + penalty


def r1_penalty(logits: Logits, real: torch.Tensor, gamma: float) -> torch.Tensor:
    """gamma/2 * mean over the batch of ||grad_x sum(D(x))||² at the real samples x (`real` must require grad)."""
    total = sum(scale.sum() for scale in logits) if isinstance(logits, (list, tuple)) else logits.sum()
    (grad,) = torch.autograd.grad(total, real, create_graph=True)
    return 0.5 * gamma * grad.square().sum(dim=(1, 2, 3)).mean()


def _real_term(d: Discriminator, real: torch.Tensor, mode: str, r1_gamma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """GAN loss of D on real samples, and the R1 penalty on them (0 when r1_gamma is 0)."""
    if r1_gamma <= 0:
        return gan_loss(d(real), True, mode), torch.zeros((), device=real.device)
    real = real.detach().requires_grad_(True)
    logits = d(real)
    return gan_loss(logits, True, mode), r1_penalty(logits, real, r1_gamma)


def low_frequency_features(image: torch.Tensor, grid: int) -> torch.Tensor:
    """(N, 3, H, W) image in [-1, 1] -> (N, 4 grid²) statistics a veil changes: per cell of a grid x grid
    partition, the mean of each linear-light channel (gamma 2; a veil's airlight has a colour) and the standard
    deviation of the linear luminance (BT.601 weights) area-downsampled 8x (contrast at low frequencies, where
    streaks hardly count)."""
    linear = ((image + 1.0) * 0.5).clamp(0.0, 1.0).square()
    height, width = linear.shape[-2:]
    small = F.adaptive_avg_pool2d(linear, (max(2 * grid, height // 8), max(2 * grid, width // 8)))
    luma = (small * torch.tensor(_LUMA, dtype=image.dtype, device=image.device).view(1, 3, 1, 1)).sum(
        dim=1, keepdim=True)
    means = F.adaptive_avg_pool2d(small, grid)
    luma_mean = F.adaptive_avg_pool2d(luma, grid)
    spread = (F.adaptive_avg_pool2d(luma.square(), grid) - luma_mean.square()).clamp_min(1e-10).sqrt()
    return torch.cat([means.flatten(1), spread.flatten(1)], dim=1)


class MomentMatcher(torch.nn.Module):
    """Moment matching of the physics G_r's veil to the real images, beyond the paper (``loss.weights.mom_or``).

    The target is the running average of `low_frequency_features` φ and of φ² over every real rainy image O_r
    seen so far (a cumulative mean: it settles on the real set's population statistics; φ² makes the spread of
    veils across images count, not only their average). The clean backgrounds B_s
    seen so far are kept in a ring buffer of ``pool_size`` thumbnails (area-shrunk to ``thumb_px``²: a veil
    lives at low frequencies); each call veils a random ``sample`` of them with the current veil net and returns
    mean_k (E φ_k(veil(B_s)) − m_real,k)². A population-level match that a training batch of one cannot give,
    and a fixed-feature discriminator that sees exactly the statistics a veil changes, which a 70x70 PatchGAN
    hardly sees; the streaks, which these statistics hardly see, are left to D_Or. Buffers travel in the resume
    state.
    """

    def __init__(self, grid: int, pool_size: int, sample: int = 32, thumb_px: int = 96) -> None:
        super().__init__()
        self.grid, self.pool_size, self.sample, self.thumb_px = grid, pool_size, sample, thumb_px
        self.register_buffer("clean", torch.zeros(pool_size, 3, thumb_px, thumb_px))
        self.register_buffer("clean_count", torch.zeros((), dtype=torch.long))
        self.register_buffer("real_mean", torch.zeros(2 * 4 * grid * grid))
        self.register_buffer("real_count", torch.zeros((), dtype=torch.long))
        self.register_buffer("generator_state", torch.Generator().manual_seed(0).get_state())

    def _update(self, b_s: torch.Tensor, o_r: torch.Tensor) -> None:
        size = (self.thumb_px, self.thumb_px)
        for image in F.interpolate(b_s.detach(), size=size, mode="area"):
            self.clean[int(self.clean_count) % self.pool_size] = image
            self.clean_count.add_(1)
        real = F.interpolate(o_r.detach(), size=size, mode="area")  # the same resolution as the veiled thumbnails
        for features in self._moments(real):
            self.real_count.add_(1)
            self.real_mean.add_((features - self.real_mean) / self.real_count)

    def forward(
        self, veil_image: Callable[[torch.Tensor], torch.Tensor], b_s: torch.Tensor, o_r: torch.Tensor
    ) -> torch.Tensor:
        """veil_image: (N, 3, h, w) clean images -> the same veiled (the physics G_r's `veiled_background`)."""
        with torch.no_grad():
            self._update(b_s, o_r)
        filled = min(int(self.clean_count), self.pool_size)
        generator = torch.Generator()
        generator.set_state(self.generator_state)
        pick = torch.randperm(filled, generator=generator)[: self.sample].to(self.clean.device)
        self.generator_state.copy_(generator.get_state())
        fake = veil_image(self.clean[pick])
        return (self._moments(fake).mean(dim=0) - self.real_mean).square().mean()

    def _moments(self, images: torch.Tensor) -> torch.Tensor:
        features = low_frequency_features(images, self.grid)
        return torch.cat([features, features.square()], dim=1)
