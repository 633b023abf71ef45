"""The JRGR system: S2R and R2S modules, both external cycles, the generator and discriminator objectives.

Paper notation (docs/ARCHITECTURE.md, "The method"), all tensors (N, 3, H, W) float32; images in [-1, 1], rain layers in
[-2, 2] (no clamp: composition is plain addition, as the authors' code):

- S2R on a synthetic image (disentangle by subtraction, entangle by addition):
  B̂_s = F_s(O_s), R̂_s = O_s - B̂_s, Õ_r = B̂_s + G_r(R̂_s).
- R2S on a real image: B̂_r = F_r(O_r), R̂_r = O_r - B̂_r, Õ_s = B̂_r + G_s(R̂_r).
- External cycles: Ô_s = R2S(Õ_r) (through F_r(Õ_r) and G_s), Ô_r = S2R(Õ_s) (through F_s(Õ_s), G_r).

Config switches beyond the paper change only how a module composes (`Composition`): the physics form of
G_r (Õ_r = T ⊙ (B̂_s + S) + (1 − T) ⊙ A, `jrgr_deploy.nn.veil`), the plain-CycleGAN baseline (no
disentanglement: G maps the whole image), clamping Õ to [-1, 1], and F_r reading Õ_r detached.

`GeneratorObjective` and `DiscriminatorObjective` compute a whole step's loss in ONE forward, so each can
be wrapped in DistributedDataParallel even though every net is called several times per step (DDP's
reducer supports one forward per backward).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from jrgr_deploy.config import JRGRConfig, LossConfig
from jrgr_deploy.errors import JRGRError
from jrgr_deploy.names import DISCRIMINATORS, GENERATORS
from jrgr_deploy.nn.build import build_net
from jrgr_deploy.training.losses import (
    REMOVAL_TERMS,
    MomentMatcher,
    d_b_loss,
    d_image_loss,
    generator_terms,
    pseudo_label_detail_mse,
    pseudo_label_mse,
    rain_line_penalty,
    removal_only,
    total_loss,
)

Net = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class ModuleOutputs:
    """One S2R or R2S pass: background estimate, rain layer, translated image."""

    b_hat: torch.Tensor
    r_hat: torch.Tensor
    o_tilde: torch.Tensor


@dataclass(frozen=True)
class Composition:
    """How the translation modules compose; the default is the paper's.

    physics_g_r: G_r is called as ``g_r(R̂, B̂)`` (it needs the background for the veil; `nn.veil`).
    disentangle: False = plain CycleGAN: Õ = G(O), no subtraction/addition of a rain layer.
    clamp: Õ clamped to [-1, 1].
    stop_grad_o_tilde_r: the S2R cycle's F_r reads Õ_r detached (no gradient into G_r or F_s through it).
    veil_in_s2r, veil_in_cycle: whether the physics G_r's veil carries gradient in S2R (Õ_r, judged by D_Or)
    and in the real cycle Ô_r = S2R(Õ_s) (``loss.veil_learns_from``).
    """

    physics_g_r: bool = False
    disentangle: bool = True
    clamp: bool = False
    stop_grad_o_tilde_r: bool = False
    veil_in_s2r: bool = True
    veil_in_cycle: bool = True

    @classmethod
    def from_config(cls, config: JRGRConfig) -> Composition:
        return cls(
            physics_g_r=config.model.rain_form == "physics",
            disentangle=config.model.disentangle,
            clamp=config.loss.clamp_o_tilde,
            stop_grad_o_tilde_r=config.loss.stop_grad_o_tilde_r,
            veil_in_s2r=config.loss.veil_learns_from in ("all", "adversarial"),
            veil_in_cycle=config.loss.veil_learns_from == "all",
        )


PAPER = Composition()


def translate(
    o: torch.Tensor, remove: Net, generate: Callable[..., torch.Tensor], *, physics: bool = False,
    disentangle: bool = True, clamp: bool = False, rows: torch.Tensor | None = None,
) -> ModuleOutputs:
    """One translation module: B̂ = remove(O), R̂ = O - B̂, Õ = B̂ + generate(R̂).

    S2R is ``translate(o_s, f_s, g_r)``, R2S is ``translate(o_r, f_r, g_s)``. `physics`: Õ = B̂ + generate(R̂,
    B̂) (the physics G_r returns a rain layer that depends on the background); `disentangle=False`:
    Õ = generate(O) (plain CycleGAN; B̂ and R̂ are still computed for the removal nets' terms). `rows`: where
    O's rows lie in their frames, passed to `remove` when given (a removal net built with ``row_coord`` reads it).
    """
    b_hat = remove(o) if rows is None else remove(o, rows)
    r_hat = o - b_hat
    if not disentangle:
        o_tilde = generate(o)
    elif physics:
        o_tilde = b_hat + generate(r_hat, b_hat)
    else:
        o_tilde = b_hat + generate(r_hat)
    if clamp:
        o_tilde = o_tilde.clamp(-1.0, 1.0)
    return ModuleOutputs(b_hat=b_hat, r_hat=r_hat, o_tilde=o_tilde)


@dataclass(frozen=True)
class JointOutputs:
    """Everything one joint forward produces (names as the paper)."""

    o_s: torch.Tensor
    o_r: torch.Tensor
    b_hat_s: torch.Tensor  # F_s(O_s)
    r_hat_s: torch.Tensor  # O_s - F_s(O_s)
    o_tilde_r: torch.Tensor  # B̂_s + G_r(R̂_s): synthetic background with real-style rain
    b_hat_otr: torch.Tensor  # F_r(Õ_r)
    o_hat_s: torch.Tensor  # R2S(Õ_r): reconstruction of O_s
    b_hat_r: torch.Tensor  # F_r(O_r)
    r_hat_r: torch.Tensor  # O_r - F_r(O_r)
    o_tilde_s: torch.Tensor  # B̂_r + G_s(R̂_r): real background with synthetic-style rain
    b_hat_ots: torch.Tensor  # F_s(Õ_s)
    o_hat_r: torch.Tensor  # S2R(Õ_s): reconstruction of O_r


def joint_forward(
    o_s: torch.Tensor, o_r: torch.Tensor, f_s: Net, f_r: Net, g_s: Net, g_r: Callable[..., torch.Tensor],
    composition: Composition = PAPER, rows_s: torch.Tensor | None = None, rows_r: torch.Tensor | None = None,
) -> JointOutputs:
    """Both modules and both external cycles (Fig. 2 of the paper), composed as `composition` says.

    rows_s, rows_r: where the crops O_s and O_r lie in their frames ((N, 1, H, 1), `jrgr_deploy.datasets`);
    an image translated from O_s keeps O_s's rows, one from O_r keeps O_r's."""
    c = composition
    g_r_s2r, g_r_cycle = g_r, g_r
    if c.physics_g_r and not c.veil_in_s2r:
        def g_r_s2r(r_hat: torch.Tensor, b_hat: torch.Tensor) -> torch.Tensor:
            return g_r(r_hat, b_hat, veil_grad=False)
    if c.physics_g_r and not c.veil_in_cycle:
        def g_r_cycle(r_hat: torch.Tensor, b_hat: torch.Tensor) -> torch.Tensor:
            return g_r(r_hat, b_hat, veil_grad=False)
    s2r = translate(o_s, f_s, g_r_s2r, physics=c.physics_g_r, disentangle=c.disentangle, clamp=c.clamp,
                    rows=rows_s)
    o_tilde_r = s2r.o_tilde.detach() if c.stop_grad_o_tilde_r else s2r.o_tilde
    cycle_s = translate(o_tilde_r, f_r, g_s, disentangle=c.disentangle, clamp=c.clamp, rows=rows_s)  # Ô_s = R2S(Õ_r)
    r2s = translate(o_r, f_r, g_s, disentangle=c.disentangle, clamp=c.clamp, rows=rows_r)
    cycle_r = translate(r2s.o_tilde, f_s, g_r_cycle, physics=c.physics_g_r, disentangle=c.disentangle,
                        clamp=c.clamp, rows=rows_r)  # Ô_r = S2R(Õ_s)
    return JointOutputs(
        o_s=o_s, o_r=o_r,
        b_hat_s=s2r.b_hat, r_hat_s=s2r.r_hat, o_tilde_r=s2r.o_tilde,
        b_hat_otr=cycle_s.b_hat, o_hat_s=cycle_s.o_tilde,
        b_hat_r=r2s.b_hat, r_hat_r=r2s.r_hat, o_tilde_s=r2s.o_tilde,
        b_hat_ots=cycle_r.b_hat, o_hat_r=cycle_r.o_tilde,
    )


class JRGRNets(nn.Module):
    """The seven networks, as attributes named like the paper."""

    def __init__(self, config: JRGRConfig) -> None:
        super().__init__()
        self.f_s = build_net(config, "f_s")
        self.f_r = build_net(config, "f_r")
        self.g_s = build_net(config, "g_s")
        self.g_r = build_net(config, "g_r")
        self.d_b = build_net(config, "d_b")
        self.d_or = build_net(config, "d_or")
        self.d_os = build_net(config, "d_os")

    def named_nets(self) -> dict[str, nn.Module]:
        return {name: getattr(self, name) for name in GENERATORS + DISCRIMINATORS}


class GeneratorObjective(nn.Module):
    """The generator step's loss (Eq. 3-8, generator side) in one forward.

    Registers F_s, F_r, G_s, G_r as sub-modules; the discriminators are held without registration (their
    parameters are frozen during this step and belong to `DiscriminatorObjective`).

    When only the removal nets' supervised terms are weighted (`losses.removal_only`: self-training on the
    pseudo-labels) the step skips the joint graph and computes just those terms (``joint`` False): the same loss
    and the same gradients for F_s and F_r at about a third of the work (no G or D pass); `joint` forces either.
    """

    def __init__(self, nets: JRGRNets, loss: LossConfig, composition: Composition = PAPER,
                 joint: bool | None = None, f_r_start: nn.Module | None = None) -> None:
        super().__init__()
        self.f_s, self.f_r, self.g_s, self.g_r = nets.f_s, nets.f_r, nets.g_s, nets.g_r
        self._discriminators = (nets.d_b, nets.d_or, nets.d_os)
        if loss.weights.mse_fr_keep > 0 and f_r_start is None:
            raise JRGRError("loss.weights.mse_fr_keep > 0 needs the frozen starting F_r (f_r_start)")
        # ``mse_fr_keep``'s frozen F_r⁰: held in a tuple, not registered, so that it is neither trained nor saved
        self._f_r_start = (f_r_start.eval().requires_grad_(False),) if f_r_start is not None else ()
        self.loss = loss
        self.composition = composition
        self.joint = not removal_only(loss) if joint is None else joint
        if not self.joint and (loss.lambda_mse == 0.0 or all(getattr(loss.weights, n) == 0.0 for n in REMOVAL_TERMS)):
            raise JRGRError("every loss term is weighted 0 (loss.lambda_* and loss.weights): nothing to train")
        self.moments = None
        if loss.weights.mom_or > 0:
            if not composition.physics_g_r:
                raise JRGRError("loss.weights.mom_or fits the physics G_r's veil: it needs model.rain_form=physics")
            self.moments = MomentMatcher(loss.moment_grid, loss.moment_pool)

    def forward(
        self, o_s: torch.Tensor, b_s: torch.Tensor, o_r: torch.Tensor, o_mt: torch.Tensor | None = None,
        p_r: torch.Tensor | None = None, rows_s: torch.Tensor | None = None, rows_r: torch.Tensor | None = None,
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """-> (loss terms incl. ``g_total``, the `JointOutputs` fields as a dict: DDP passes plain
        containers through; rebuild with ``JointOutputs(**images)``; empty without the joint graph).

        o_mt: the moment-transfer pseudo-rainy images Õ_mt of the same crops as `o_s` (N, 3, H, W), needed
        when ``loss.weights.mse_fr_mt`` > 0.
        p_r: the pseudo-labels P_r of the same crops as `o_r` (N, 3, H, W), needed when ``loss.weights.mse_fr_pl``
        > 0 (`jrgr_deploy.training.data.make_pseudo_labels`).
        rows_s, rows_r: where the crops of `o_s` (and `o_mt`) and of `o_r` lie in their frames (`joint_forward`)."""
        if not self.joint:
            weights = self.loss.weights
            terms = {}
            if weights.mse_s > 0:
                terms["mse_s"] = F.mse_loss(self.f_s(o_s, rows_s), b_s)
            b_hat_fr_os = self.f_r(o_s, rows_s) if weights.mse_fr_os > 0 or weights.mse_fr_keep > 0 else None
            if weights.mse_fr_os > 0:
                terms["mse_fr_os"] = F.mse_loss(b_hat_fr_os, b_s)
            terms.update(self._removal_extras(o_s, b_s, o_r, None, b_hat_fr_os, o_mt, p_r, rows_s, rows_r))
            terms["g_total"] = total_loss(terms, self.loss)
            return terms, {}
        out = joint_forward(o_s, o_r, self.f_s, self.f_r, self.g_s, self.g_r, self.composition, rows_s, rows_r)
        d_b, d_or, d_os = self._discriminators
        # beyond the paper: F_r on the synthetic pair itself (one more F_r pass, only when weighted)
        weights = self.loss.weights
        b_hat_fr_os = self.f_r(o_s, rows_s) if weights.mse_fr_os > 0 or weights.mse_fr_keep > 0 else None
        extra = self._removal_extras(o_s, b_s, o_r, out.b_hat_r, b_hat_fr_os, o_mt, p_r, rows_s, rows_r)
        if self.moments is not None:
            extra["mom_or"] = self.moments(self.g_r.veiled_background, b_s, o_r)
        terms = generator_terms(out, b_s, d_b, d_or, d_os, self.loss,
                                b_hat_fr_os=b_hat_fr_os if weights.mse_fr_os > 0 else None, extra=extra)
        return terms, {f.name: getattr(out, f.name) for f in fields(out)}

    def _removal_extras(self, o_s: torch.Tensor, b_s: torch.Tensor, o_r: torch.Tensor, b_hat_r: torch.Tensor | None,
                        b_hat_fr_os: torch.Tensor | None, o_mt: torch.Tensor | None, p_r: torch.Tensor | None,
                        rows_s: torch.Tensor | None, rows_r: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """``mse_fr_mt``, ``mse_fr_pl`` (and ``mse_fr_pl_detail``), ``mse_fr_keep`` and ``streak_fr_or`` where
        weighted; `b_hat_r`: F_r(O_r) when the joint graph has it (computed here once otherwise); `b_hat_fr_os`:
        F_r(O_s), given when ``mse_fr_keep`` is weighted."""
        terms = {}
        weights = self.loss.weights
        if weights.mse_fr_keep > 0:
            with torch.no_grad():
                kept = self._f_r_start[0](o_s, rows_s)
            terms["mse_fr_keep"] = F.mse_loss(b_hat_fr_os, kept)
        if weights.mse_fr_mt > 0:
            if o_mt is None:
                raise JRGRError("loss.weights.mse_fr_mt > 0 needs the moment-transfer images o_mt")
            terms["mse_fr_mt"] = F.mse_loss(self.f_r(o_mt, rows_s), b_s)
        if b_hat_r is None and (weights.mse_fr_pl > 0 or weights.streak_fr_or > 0):
            b_hat_r = self.f_r(o_r, rows_r)
        if weights.mse_fr_pl > 0:
            if p_r is None:
                raise JRGRError("loss.weights.mse_fr_pl > 0 needs the real images' pseudo-labels p_r")
            terms["mse_fr_pl"] = pseudo_label_mse(b_hat_r, p_r, self.loss.pl_highpass_px)
            if weights.mse_fr_pl_detail > 0:
                terms["mse_fr_pl_detail"] = pseudo_label_detail_mse(b_hat_r, p_r)
        if weights.streak_fr_or > 0:
            terms["streak_fr_or"] = rain_line_penalty(b_hat_r, o_r, self.loss.streak_lines)
        return terms


class DiscriminatorObjective(nn.Module):
    """D_B (Eq. 3), D_Or and D_Os (Eq. 4) losses in one forward; their parameters are disjoint, so one
    backward of the sum followed by one Adam step equals three separate D steps."""

    def __init__(self, nets: JRGRNets, loss: LossConfig) -> None:
        super().__init__()
        self.d_b, self.d_or, self.d_os = nets.d_b, nets.d_or, nets.d_os
        self.loss = loss

    def forward(
        self,
        real_b: torch.Tensor,
        fake_bs: tuple[torch.Tensor, ...],
        o_r: torch.Tensor,
        fake_o_r: torch.Tensor,
        o_s: torch.Tensor,
        fake_o_s: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """Real samples and (pooled, detached) fakes: B_s vs the four background estimates (F_s(O_s),
        F_r(Õ_r), F_r(O_r), F_s(Õ_s)), O_r vs Õ_r, O_s vs Õ_s."""
        terms = d_b_loss(self.d_b, real_b, fake_bs, self.loss)
        terms["d_or"] = d_image_loss(self.d_or, o_r, fake_o_r, self.loss.gan_mode, self.loss.r1_gamma)
        terms["d_os"] = d_image_loss(self.d_os, o_s, fake_o_s, self.loss.gan_mode, self.loss.r1_gamma)
        terms["d_total"] = terms["d_b"] + terms["d_or"] + terms["d_os"]
        return terms
