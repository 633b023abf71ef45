"""Configuration of a JRGR run: frozen dataclasses, presets as data, strict YAML/JSON loading.

A config is a tree ``JRGRConfig(preset, model, loss, train, data)``; each constructor (network, loss,
trainer) receives only its own sub-config. Presets (docs/ARCHITECTURE.md, "The method"):

- ``paper``: the paper's text. U-Nets for all four generators, alpha 4, lambda_adv 10, lambda_cyc 1,
  lambda_mse 10, batch 16, 256x256 crops, 100 + 200 epochs.
- ``official``: the authors' code. pix2pix U-Net (7 stride-2 downsamplings, 64 -> 512 channels,
  BatchNorm, Tanh, not residual) for F_s/F_r; CycleGAN ResNet-9 (BatchNorm, Tanh) for G_s/G_r; LSGAN;
  weights MSE/GAN/cycle 40/4/40; history pools of 50.
- ``tiny``: narrow residual U-Nets (depth 4, 16 channels) for a 2-core CPU (tests, demos, CPU proxies).
- ``plus``: ``tiny`` with the JRGR+ switches beyond the paper (`PLUS_SWITCHES`), 192² crops, batch 1.

Loading is strict: an unknown key is an error naming the key and its section; values are type-checked.
No ``eval``: overrides (``train.batch_size=8``) are parsed as YAML scalars.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from jrgr_deploy.errors import JRGRError

PRESETS = ("paper", "official", "tiny", "plus")
NET_ARCHS = ("unet", "resnet")
NORMS = ("batch", "instance", "instance_context", "none")
OUT_ACTIVATIONS = ("tanh", "none")
GAN_MODES = ("lsgan", "vanilla")
RAIN_FORMS = ("additive", "physics")
VEIL_SOURCES = ("all", "adversarial", "moments")
PL_VEIL_REMOVALS = ("dark_channel", "moments", "row_dark_channel")  # how the pseudo-labels of mse_fr_pl lose their veil
STREAK_CARVINGS = ("residue", "lines", "detail")  # loss.pl_streak_carving: which layer the streak reference carves
STREAK_LINES = ("grey", "grey_both", "each_channel")  # loss.streak_lines: what loss.weights.streak_fr_or takes
MAX_REFERENCE_PASSES = 3  # loss.pl_streak_reference_passes' upper bound
MAX_STREAK_GAIN = 3.0  # loss.pl_streak_gain's upper bound: the carved layer taken at most so many times
# removal-net options that only add weights starting at zero: a net saved without them loads into one built with them
ROW_INPUTS = ("row_coord", "row_context")
AMP_MODES = ("none", "bf16", "fp16")
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class NetConfig:
    """One generator (F_s/F_r removal or G_s/G_r generation).

    arch: ``unet`` (pix2pix-style U-Net: ``depth`` stride-2 4x4 convolutions down, as many 4x4
    transposed convolutions up, skip concatenations) or ``resnet`` (CycleGAN ResNet: 7x7 stem, two
    stride-2 convs, ``n_blocks`` residual blocks, two transposed convs).
    base_channels: width of the first level; doubles per level up to ``max_channels``.
    convs_per_level: extra 3x3 conv blocks at every U-Net level (0 = pix2pix exactly).
    residual: output = input - predicted layer, last layer zero-initialised (the net starts as the
    identity: docs/ARCHITECTURE.md, "The method"). Otherwise the net predicts its output directly.
    out_activation: applied to the predicted layer (residual) or to the output (not residual).
    row_coord: the U-Net also reads each pixel's row, -1 at the top to 1 at the bottom of its input, as a fourth
    input channel (made inside the net from the input's height, so the ONNX contract stays 3 channels). Rain's
    veil grows with distance, and on a street or road camera distance grows towards the horizon row: a net that
    knows its row can learn that layout. In training every crop carries where its rows lie in the frame
    (`jrgr_deploy.nn.unet.frame_rows`), so crops of any shape see the frame's rows; deployed, the input is the
    frame. The first conv's weights on the channel start at zero (the net starts as without it), also when
    ``train.init_from`` names a checkpoint trained without the channel.
    row_context: after every U-Net encoder level but the first, each row's features are pooled across the whole
    width (mean and max) and added back through a 1x1 convolution, for a veil read from the darkest pixels anywhere
    along a row (`jrgr_deploy.veil_removal.remove_row_veil` loses about 1 dB on half-width tiles). Measured on the
    proxy (BENCHMARKS.md, Quality, "Whole frames as crops"): what the row stage's labels need is training crops
    as wide as the frame (``train.crop_size`` = the images' size); with those the plain net learns them as well
    without this switch. The 1x1 convolutions start at zero (the net starts as without them), also when
    ``train.init_from`` names a checkpoint trained without them; exports as ReduceMean/ReduceMax over the width.
    """

    arch: str = "unet"
    base_channels: int = 16
    depth: int = 4
    max_channels: int = 512
    convs_per_level: int = 0
    n_blocks: int = 9
    norm: str = "instance"
    residual: bool = True
    out_activation: str = "tanh"
    row_coord: bool = False
    row_context: bool = False

    def __post_init__(self) -> None:
        _check_choice("arch", self.arch, NET_ARCHS)
        for option in ROW_INPUTS:
            if getattr(self, option) and self.arch != "unet":
                raise JRGRError(f"{option} is a U-Net option (arch: unet)")
        _check_choice("norm", self.norm, NORMS)
        _check_choice("out_activation", self.out_activation, OUT_ACTIVATIONS)
        if self.base_channels < 1 or self.max_channels < self.base_channels:
            raise JRGRError(
                f"need 1 <= base_channels <= max_channels, got {self.base_channels}, {self.max_channels}"
            )
        if self.arch == "unet" and not 1 <= self.depth <= 10:
            raise JRGRError(f"U-Net depth must be in 1..10, got {self.depth}")
        if self.convs_per_level < 0 or self.n_blocks < 0:
            raise JRGRError("convs_per_level and n_blocks must be >= 0")


@dataclass(frozen=True)
class DiscriminatorConfig:
    """PatchGAN: ``n_layers`` = 3 gives the 70x70 receptive field of pix2pix/CycleGAN.

    scales: the same PatchGAN design applied to the image and to ``scales - 1`` successive 2x average-pooled
    copies of it, each with its own weights (pix2pixHD's multi-scale D); the coarse scales see global contrast
    and low frequencies (a veil) that a 70x70 patch at full resolution cannot judge. Their LSGAN/log losses
    are averaged.
    spectral_norm: spectral normalisation of every convolution (Miyato et al. 2018), a Lipschitz bound that
    keeps D from winning outright; usually with ``norm: none`` (instance norm also removes the per-image
    contrast a veil changes).
    """

    base_channels: int = 64
    n_layers: int = 3
    norm: str = "batch"
    scales: int = 1
    spectral_norm: bool = False

    def __post_init__(self) -> None:
        _check_choice("norm", self.norm, NORMS)
        if self.base_channels < 1 or self.n_layers < 1:
            raise JRGRError(f"discriminator needs base_channels, n_layers >= 1, got {self}")
        if not 1 <= self.scales <= 4:
            raise JRGRError(f"discriminator scales must be in 1..4, got {self.scales}")


@dataclass(frozen=True)
class VeilConfig:
    """The physics form of S2R (``model.rain_form: physics``), beyond the paper.

    Heavy rain is streaks plus a veil: Õ_r = T ⊙ (B̂_s + S) + (1 − T) ⊙ A (Li et al., CVPR 2019), here blended
    in linear light (gamma 2) as the photometry of rain is additive in radiance. S is G_r's translated rain
    layer, optionally limited to high frequencies (``streak_highpass_px`` > 0: S minus its Gaussian blur of
    that sigma, so the veil cannot hide in S); T (transmission, one channel) and A (airlight, RGB) come from
    a small veil net that sees B̂_s downsampled to ``input_px`` and a noise vector of ``noise_dim``; T is a
    ``grid`` x ``grid`` map upsampled bicubically (a veil is smooth), A one colour per image.
    ``t_min`` bounds T from below.
    """

    input_px: int = 64
    channels: int = 32
    grid: int = 4
    noise_dim: int = 8
    t_min: float = 0.3
    streak_highpass_px: float = 0.0

    def __post_init__(self) -> None:
        if self.input_px < 16 or self.channels < 1 or self.grid < 1 or self.noise_dim < 0:
            raise JRGRError(f"veil needs input_px >= 16, channels >= 1, grid >= 1, noise_dim >= 0, got {self}")
        if not 0.0 <= self.t_min < 1.0:
            raise JRGRError(f"veil.t_min must be in [0, 1), got {self.t_min}")
        if self.streak_highpass_px < 0:
            raise JRGRError(f"veil.streak_highpass_px must be >= 0, got {self.streak_highpass_px}")


@dataclass(frozen=True)
class ModelConfig:
    """removal: F_s and F_r (same architecture); generation: G_s and G_r; discriminator: D_B, D_Or, D_Os.

    rain_form: how S2R composes its translated image. ``additive`` is the paper's Õ_r = B̂_s + G_r(R̂_s);
    ``physics`` adds a veil (see `VeilConfig`): G_r then owns a veil net beside its rain-layer net.
    disentangle: False turns the system into the paper's plain CycleGAN baseline (translation without
    disentanglement): G_r maps the whole synthetic rainy image O_s to Õ_r and G_s maps O_r to Õ_s; F_r still
    learns from (Õ_r, B_s) and F_s from (O_s, B_s).
    """

    removal: NetConfig = field(default_factory=NetConfig)
    generation: NetConfig = field(default_factory=NetConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    rain_form: str = "additive"
    veil: VeilConfig = field(default_factory=VeilConfig)
    disentangle: bool = True

    def __post_init__(self) -> None:
        _check_choice("rain_form", self.rain_form, RAIN_FORMS)
        if self.rain_form == "physics" and not self.disentangle:
            raise JRGRError("model.rain_form=physics composes a background and a rain layer: it needs "
                            "model.disentangle=true")


@dataclass(frozen=True)
class TermWeights:
    """A weight per generator-side term, multiplying its group's lambda (Eq. 8); 0 switches a term off.

    Eq. 3 (D_B on the four background estimates): ``adv_b_fs_os`` F_s(O_s), ``adv_b_fr_otr`` F_r(Õ_r),
    ``adv_b_fr_or`` F_r(O_r), ``adv_b_fs_ots`` F_s(Õ_s). Eq. 4: ``adv_or`` D_Or(Õ_r), ``adv_os`` D_Os(Õ_s).
    Eq. 5: ``cyc_os``, ``cyc_or``. Eq. 6: ``cyc_b_s``, ``cyc_b_r``. Eq. 7: ``mse_s`` F_s on the pair,
    ``mse_r`` F_r on the pseudo-pair (Õ_r, B_s). Beyond the paper (off by default): ``mse_fr_os``, F_r on
    the synthetic pair itself, ||F_r(O_s) − B_s||² in the MSE group (keeps F_r's synthetic skill and anchors
    it while it adapts); ``mom_or``, moment matching of the physics G_r's veil to the real images'
    low-frequency statistics, in the adversarial group (``loss.moment_grid``, ``loss.moment_pool``);
    ``mse_fr_mt``, F_r on the moment-transfer pseudo-pair, ||F_r(Õ_mt) − B_s||² in the MSE group, where Õ_mt is
    O_s re-toned to the real rainy images' per-cell luma moments (`jrgr_deploy.moment_transfer`; the grid is
    ``loss.moment_grid``, the per-image strength 1 ± ``loss.transfer_jitter``, the moments taken from up to
    ``loss.transfer_images`` images of each set when stage 2 starts); ``mse_fr_pl``, F_r on the real images'
    pseudo-labels, ||F_r(O_r) − P_r||² in the MSE group, where P_r is the starting F_r's output on the whole real
    image with ``loss.pl_veil_strength`` of its veil removed (``loss.pl_veil_removal``: its dark-channel veil,
    `jrgr_deploy.veil_removal`, or the real set's population veil, `jrgr_deploy.moment_transfer`; labelled
    when stage 2 starts and every ``loss.pl_refresh_iters`` steps, `jrgr_deploy.training.data.make_pseudo_labels`);
    ``mse_fr_keep``, F_r on the synthetic rainy images held to what the net stage 2 starts from makes of them,
    ||F_r(O_s) − F_r⁰(O_s)||² in the MSE group (F_r⁰ frozen: a trust region in what the net does, not in its
    weights, on scenes other than the real images'; needs ``train.init_from`` or a stage-1 checkpoint);
    ``streak_fr_or``, the thin lines brighter than their surroundings that F_r(O_r) keeps where the real image shows
    such lines along its rain direction, in the MSE group (no label: a directional sparsity prior,
    `jrgr_deploy.training.losses.rain_line_penalty`);
    ``mse_fr_pl_detail``, F_r on the pseudo-labels' fine detail, ||hp(F_r(O_r) − P_r)||² in the MSE group beside
    ``mse_fr_pl`` (which it needs: the labels), hp the difference minus its Gaussian blur of 3 px (the ``detail``
    carving's, ``loss.pl_streak_carving``): a weight of its own on the band where carved labels lost their streaks,
    the net trained on them keeping fewer (BENCHMARKS.md, Quality, "A start that removes streaks, and the labels'
    detail weighed"; `jrgr_deploy.training.losses.pseudo_label_detail_mse`).
    """

    adv_b_fs_os: float = 1.0
    adv_b_fr_otr: float = 1.0
    adv_b_fr_or: float = 1.0
    adv_b_fs_ots: float = 1.0
    adv_or: float = 1.0
    adv_os: float = 1.0
    cyc_os: float = 1.0
    cyc_or: float = 1.0
    cyc_b_s: float = 1.0
    cyc_b_r: float = 1.0
    mse_s: float = 1.0
    mse_r: float = 1.0
    mse_fr_os: float = 0.0
    mom_or: float = 0.0
    mse_fr_mt: float = 0.0
    mse_fr_pl: float = 0.0
    mse_fr_keep: float = 0.0
    streak_fr_or: float = 0.0
    mse_fr_pl_detail: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            if getattr(self, f.name) < 0:
                raise JRGRError(f"loss.weights.{f.name} must be >= 0, got {getattr(self, f.name)}")


@dataclass(frozen=True)
class LossConfig:
    """Weights of Eq. 3-8. alpha weighs the real term of D_B (Eq. 3); pool_size 0 disables history pools.

    weights: one factor per generator term (`TermWeights`), on top of its group's lambda.
    stop_grad_o_tilde_r: F_r reads Õ_r detached in the S2R cycle, so the terms built on F_r(Õ_r) (Eq. 7's
    mse_r, Eq. 6's cyc_b_s, Eq. 3's D_B term on F_r(Õ_r), Eq. 5's cyc_os) teach F_r and G_s but never pull
    G_r (or F_s through R̂_s) towards rain that is easy to remove; G_r then learns from D_Or and the real
    cycle only.
    veil_learns_from: which terms train the physics G_r's veil net (T, A). ``all``: every term that reaches G_r
    (the paper's graph). ``adversarial``: D_Or's term (and ``mom_or``) only — the veil is detached in the real
    cycle Ô_r = S2R(Õ_s), where Eq. 5 pushes it away as long as F_r leaves the real veil in B̂_r (measured: T
    rose from 0.98 to 0.998 in 250 joint steps). ``moments``: ``mom_or`` only, computed on the veiled
    background T ⊙ B̂_s + (1 − T) ⊙ A without streaks, so the veil is fitted to the real images' low-frequency
    statistics, which the streaks hardly change (D_Or then shapes the streaks alone).
    clamp_o_tilde: clamp the translated images Õ_r, Õ_s to the image range [-1, 1] (the authors' code does not).
    r1_gamma: R1 gradient penalty (gamma/2 · E||∇D(real)||², Mescheder et al. 2018) on every discriminator's
    real samples; 0 = off.
    moment_grid, moment_pool: the ``mom_or`` term's grid of cells and the number of recent images it matches
    (``moment_grid`` is also the moment transfer's grid, ``mse_fr_mt``).
    transfer_jitter, transfer_images: the moment transfer's per-image strength range 1 ± jitter and how many
    images of each set (evenly spaced) its population moments are taken from.
    transfer_streaks_px: 0 (default): Õ_mt is the synthetic rainy image O_s re-toned, its rain's own low-frequency
    lift included (model-A rain lifts its backgrounds by a veil of its own). σ > 0: Õ_mt is the clean background
    B_s re-toned from the backgrounds' population moments to the real rainy images', plus the synthetic rain layer
    O_s − B_s above a Gaussian blur of σ pixels (its streaks): the pair's whole low-frequency veil is then the
    real set's, and the synthetic rain adds only its streaks.

    pl_veil_removal, pl_veil_strength: how the pseudo-labels of ``mse_fr_pl`` lose their veil, and how much of
    it (0 ≤ S < 1). ``dark_channel``: S of each label's dark-channel veil is removed
    (`jrgr_deploy.veil_removal.remove_veil`; one image at a time, so it works on one camera's footage alone).
    ``moments``: each label is re-toned, cell by cell, from the population moments of the derained real images
    to those of clean images (the real domain's clean set ``data.real_clean`` when given, else the synthetic
    pairs' backgrounds) at strength S (`jrgr_deploy.moment_transfer`, ``moment_grid``, up to
    ``transfer_images`` images of each set): the veil the starting net leaves on the real set as a population,
    read without ground truth. It needs clean images of scenes like the real ones: many scenes on both sides,
    or the same camera's dry footage; with one camera's rainy footage against other scenes' photographs the
    scenes' difference would be taken for veil. ``row_dark_channel``: as ``dark_channel``, the dark channel read
    row by row in linear light (`jrgr_deploy.veil_removal.remove_row_veil`): a veil that grows with distance,
    and so row by row towards the horizon on a scene seen from the ground (a street, a road).
    pl_veil_patch, pl_airlight_fraction: the dark channel's patch (a fraction of the image's short side; for
    ``row_dark_channel`` the band of rows, a fraction of the height) and the share of its brightest pixels (rows)
    the airlight is read from (default: the runtime's ``--veil`` stage's, 15/360 and 0.001).
    pl_veil_sky_tolerance: 0 (default) or K > 0 grey levels, with ``row_dark_channel`` only: a pixel whose colour
    lies within K of the airlight keeps more of itself (its transmission raised by K / |I − A|), so a bright sky
    or a white wall is not taken for dense veil (`jrgr_deploy.veil_removal.remove_row_veil`).
    pl_veil_first: false (default): the labels are F_r's output with the veil then removed, B̂ = V(F_r(O_r)), the
    order of the runtime's ``--veil`` stage. true: the veil is removed from the rainy image first,
    B̂ = F_r(V(O_r)): in the heavy-rain form O = T ⊙ (B + S) + (1 − T) · A the veil lies over the streaks, and
    the starting net learnt its streaks on clean backgrounds, so it removes them better once the veil is gone
    (``dark_channel`` and ``row_dark_channel`` only).
    pl_veil_only: false (default): a label is a net's output. true: the first labels are the rainy images with
    their veil removed (``dark_channel`` or ``row_dark_channel``) and no net run at all, so F_r learns the fixed
    veil stage; a refresh takes the net being trained's output (with ``pl_refresh_detail_px``: its detail over
    the first labels' blur). On the quality benchmark's proxy the veil stage alone beats every learned row
    (BENCHMARKS.md, Quality, "The veil removal alone").
    pl_refresh_iters: 0 (default): the pseudo-labels come from the net stage 2 starts from, once. N > 0: every N
    stage-2 steps they are made again, the same way, from the net being trained (its EMA when
    ``train.ema_decay`` > 0), so that the labels follow what the net has learnt since (iterated self-training);
    the checkpoint is saved first, so a resumed run relabels from the same net.
    pl_refresh_detail_px: 0 (default): a refresh replaces the whole labels. σ > 0 (needs ``pl_refresh_iters``):
    a refreshed label is the first labels' Gaussian blur of σ pixels plus the refreshing net's output minus its
    blur, L = blur(L_0) + (N − blur(N)): the net being trained takes over the detail (streaks), where it has come
    to beat the starting net on the real images, while the veil stays the one the dark channel removed from the
    first labels, which the net reproduces less well (BENCHMARKS.md, "Labels whose detail the net takes over").
    pl_refresh_until: 0 (default): the refreshes go on to the end of stage 2. N > 0 (needs ``pl_refresh_iters``):
    no refresh after step N, the labels of the last refresh at or before N kept to the end (refreshed runs drift
    after their val peak while the refreshes go on; with N and ``train.f_r_anchor_step`` at 1,500 of 6,000 steps
    the drift halved: BENCHMARKS.md, "The shipped recipe over 6,000 steps, and refreshes that stop").
    pl_highpass_px: 0 (default): ``mse_fr_pl`` compares F_r(O_r) with the labels at every scale. σ > 0: only
    above the scale of a Gaussian blur of σ pixels (the difference minus its blur,
    `jrgr_deploy.nn.veil.gaussian_highpass`), so the labels hold F_r to its starting streak removal while the
    tone and the veil, which the labels carry as the starting net left them, are taught by the other terms
    (the moment-transfer pairs).
    pl_streak_reference: "" (default): the labels keep the streaks their net leaves. A checkpoint path (its F_r,
    or F_s for a stage-1 checkpoint; needs ``weights.mse_fr_pl``): every label, the first and each refresh, loses
    the thin bright lines along the photograph's rain direction that this reference net removes from the same
    input (`jrgr_deploy.training.streak_carving`; the reference's outputs are kept beside the labels and read back
    at each refresh, `jrgr_deploy.training.data.StreakReference`). A net trained on heavy synthetic streaks thins
    the real streaks this way, at a cost on the proxy (BENCHMARKS.md, Quality, "Streak carving").
    pl_streak_carving: "residue" (default): the lines are read in the label minus the reference re-toned to it;
    "lines": the label's own thin lines (against its own blur) minus the reference's own lines there; "detail":
    the label's detail finer than a 3 px blur, every direction and colour, replaced by the reference's (the label
    keeps its own blur: its tone and veil), what the reference removes as dots as well as lines.
    pl_streak_gain: 1 (default): the layer is taken once; k in (0, 3]: k times (over-carving).
    pl_streak_keep: "" (default): every real image's label is carved. A file-name pattern (`fnmatch`, e.g.
    ``proxy_*``): the real images whose file name matches keep their labels uncarved (the quality benchmark's
    model-B images that ``benchmarks/train_default_model.py --with-proxy-real`` adds as ``proxy_NAME``: there the
    carving takes scene detail, not rain, and lowers the labels against the ground truth).
    pl_streak_reference_passes: 1 (default): the reference's output on the labels' input. k in [2, 3]: the
    reference run again on its own output, k passes in all: a net that leaves some streaks takes more of them on
    a second pass (BENCHMARKS.md, Quality, "Labels that take the reference's detail").
    All four need ``pl_streak_reference`` (`jrgr_deploy.training.streak_carving`).
    pl_label_scale: 1 (default): the labels' net runs on the real image at its size. F > 1: on the image enlarged
    F times (bicubic), its output shrunk back (area): the default model v4 scores higher on a 640×360 camera's
    footage enlarged than as it is (its labels at 2.5×: +1.1 dB against the ground truth), and the net trained on
    those labels learns to do at the frame's own size what the starting net did there (BENCHMARKS.md, "Camera
    adaptation", "Labels made at a larger scale").
    The first labels and each refresh alike; the streak reference (``pl_streak_reference``) stays at 1.
    pl_label_net: "" (default): the first labels come from the net stage 2 starts from (``train.init_from`` or
    stage 1's). A checkpoint path: from that checkpoint's F_r (or F_s for a stage-1 checkpoint), so that the net
    trained and the net that labels can differ: e.g. a net that removes real streaks (v1) trained on the labels of
    the net whose tone and veil they keep (v2). A refresh still takes the net being trained.
    streak_lines: which lines ``weights.streak_fr_or`` takes away where the real image shows a streak: "grey"
    (default) those brighter in every channel than their surroundings, as the real-rain sheet's streak energy
    counts them; "grey_both" also those darker in every channel (a streak not traded for a dark line);
    "each_channel" each channel's own brighter lines, averaged over the channels (a streak not traded for a
    coloured line, which is brighter in some channels only and escapes "grey").
    """

    gan_mode: str = "lsgan"
    alpha: float = 4.0
    lambda_adv: float = 4.0
    lambda_cyc: float = 40.0
    lambda_mse: float = 40.0
    pool_size: int = 50
    weights: TermWeights = field(default_factory=TermWeights)
    stop_grad_o_tilde_r: bool = False
    veil_learns_from: str = "all"
    clamp_o_tilde: bool = False
    r1_gamma: float = 0.0
    moment_grid: int = 4
    moment_pool: int = 32
    transfer_jitter: float = 0.3
    transfer_images: int = 256
    transfer_streaks_px: float = 0.0
    transfer_coupled: bool = False
    pl_veil_removal: str = "dark_channel"
    pl_veil_strength: float = 0.3
    pl_veil_patch: float = 15 / 360
    pl_airlight_fraction: float = 0.001
    pl_veil_sky_tolerance: float = 0.0
    pl_veil_first: bool = False
    pl_veil_only: bool = False
    pl_refresh_iters: int = 0
    pl_refresh_detail_px: float = 0.0
    pl_refresh_until: int = 0
    pl_highpass_px: float = 0.0
    pl_streak_reference: str = ""
    pl_streak_carving: str = "residue"
    pl_streak_gain: float = 1.0
    pl_streak_keep: str = ""
    pl_streak_reference_passes: int = 1
    pl_label_scale: float = 1.0
    pl_label_net: str = ""
    streak_lines: str = "grey"

    @property
    def carving_changed(self) -> bool:
        """Whether the streak carving is other than v4's (``pl_streak_carving`` or ``pl_streak_gain`` set): what the
        labels' record and the trainer's log then name."""
        return self.pl_streak_carving != "residue" or self.pl_streak_gain != 1.0

    def refreshes_at(self, step: int) -> bool:
        """Whether the pseudo-labels are made again after stage-2 step `step` (``pl_refresh_iters``,
        ``pl_refresh_until``)."""
        every, until = self.pl_refresh_iters, self.pl_refresh_until
        return every > 0 and step > 0 and step % every == 0 and (until == 0 or step <= until)

    def labels_step(self, step: int) -> int:
        """The stage-2 step whose net made the labels trained on after step `step`: the last refresh at or before
        it (0: the net stage 2 starts from)."""
        every, until = self.pl_refresh_iters, self.pl_refresh_until
        if every == 0:
            return 0
        last = min(step, until) if until else step
        return last - last % every

    def __post_init__(self) -> None:
        if self.pl_refresh_detail_px < 0:
            raise JRGRError(f"loss.pl_refresh_detail_px must be >= 0, got {self.pl_refresh_detail_px}")
        if self.pl_refresh_detail_px > 0 and self.pl_refresh_iters == 0:
            raise JRGRError("loss.pl_refresh_detail_px takes the refreshed labels' detail: it needs "
                            "loss.pl_refresh_iters > 0")
        if self.pl_highpass_px < 0:
            raise JRGRError(f"loss.pl_highpass_px must be >= 0, got {self.pl_highpass_px}")
        if self.pl_streak_reference and self.weights.mse_fr_pl <= 0:
            raise JRGRError("loss.pl_streak_reference carves the pseudo-labels' streaks: it needs "
                            "loss.weights.mse_fr_pl > 0")
        _check_choice("pl_streak_carving", self.pl_streak_carving, STREAK_CARVINGS)
        _check_choice("streak_lines", self.streak_lines, STREAK_LINES)
        if self.streak_lines != "grey" and self.weights.streak_fr_or <= 0:
            raise JRGRError("loss.streak_lines shapes the penalty of loss.weights.streak_fr_or: it needs "
                            "loss.weights.streak_fr_or > 0")
        if not 0.0 < self.pl_streak_gain <= MAX_STREAK_GAIN:
            raise JRGRError(f"loss.pl_streak_gain must be in (0, {MAX_STREAK_GAIN:g}] (the carved layer is taken so "
                            f"many times), got {self.pl_streak_gain}")
        if not 1 <= self.pl_streak_reference_passes <= MAX_REFERENCE_PASSES:
            raise JRGRError(f"loss.pl_streak_reference_passes must be in [1, {MAX_REFERENCE_PASSES}] (the reference "
                            f"net runs on its own output so many times), got {self.pl_streak_reference_passes}")
        if not self.pl_streak_reference and (self.carving_changed or self.pl_streak_keep
                                             or self.pl_streak_reference_passes != 1):
            raise JRGRError("loss.pl_streak_carving, loss.pl_streak_gain, loss.pl_streak_keep and "
                            "loss.pl_streak_reference_passes shape the streak carving: they need "
                            "loss.pl_streak_reference")
        if not 1.0 <= self.pl_label_scale <= 4.0:
            raise JRGRError(f"loss.pl_label_scale must be in [1, 4] (the labels' net runs on the image enlarged so "
                            f"many times), got {self.pl_label_scale}")
        if self.weights.mse_fr_pl_detail > 0 and self.weights.mse_fr_pl <= 0:
            raise JRGRError("loss.weights.mse_fr_pl_detail fits the pseudo-labels' detail: it needs "
                            "loss.weights.mse_fr_pl > 0 (the labels)")
        if self.pl_label_net and (self.weights.mse_fr_pl <= 0 or self.pl_veil_only):
            raise JRGRError("loss.pl_label_net names the net of the first pseudo-labels: it needs "
                            "loss.weights.mse_fr_pl > 0 and no loss.pl_veil_only (whose first labels run no net)")
        if self.pl_refresh_iters < 0:
            raise JRGRError(f"loss.pl_refresh_iters must be >= 0, got {self.pl_refresh_iters}")
        if self.pl_refresh_until < 0:
            raise JRGRError(f"loss.pl_refresh_until must be >= 0 (0: no limit), got {self.pl_refresh_until}")
        if self.pl_refresh_until > 0 and self.pl_refresh_iters == 0:
            raise JRGRError("loss.pl_refresh_until stops the labels' refreshes: it needs loss.pl_refresh_iters > 0")
        _check_choice("pl_veil_removal", self.pl_veil_removal, PL_VEIL_REMOVALS)
        if self.pl_veil_first and self.pl_veil_removal == "moments":
            raise JRGRError("loss.pl_veil_first needs loss.pl_veil_removal=dark_channel or row_dark_channel: the "
                            "population moments are read from the derained images")
        if self.pl_veil_only and (self.pl_veil_removal == "moments" or self.pl_veil_first or self.pl_streak_reference
                                  or self.pl_veil_strength == 0):
            raise JRGRError("loss.pl_veil_only labels the rainy images with their veil removed and no net: it needs "
                            "loss.pl_veil_removal=dark_channel or row_dark_channel and loss.pl_veil_strength > 0, "
                            "without loss.pl_veil_first or loss.pl_streak_reference")
        if not (0.0 < self.pl_veil_patch <= 1.0 and 0.0 < self.pl_airlight_fraction <= 1.0):
            raise JRGRError(f"loss.pl_veil_patch and loss.pl_airlight_fraction must be in (0, 1], got "
                            f"{self.pl_veil_patch} and {self.pl_airlight_fraction}")
        if self.pl_veil_sky_tolerance < 0 or (self.pl_veil_sky_tolerance > 0
                                              and self.pl_veil_removal != "row_dark_channel"):
            raise JRGRError(f"loss.pl_veil_sky_tolerance {self.pl_veil_sky_tolerance}: expected 0 (none) or grey "
                            "levels > 0 with loss.pl_veil_removal=row_dark_channel")
        if not 0.0 <= self.pl_veil_strength < 1.0:
            raise JRGRError(f"loss.pl_veil_strength must be in [0, 1), got {self.pl_veil_strength}")
        if not 0.0 <= self.transfer_jitter < 1.0:
            raise JRGRError(f"loss.transfer_jitter must be in [0, 1), got {self.transfer_jitter}")
        if self.transfer_streaks_px < 0:
            raise JRGRError(f"loss.transfer_streaks_px must be >= 0, got {self.transfer_streaks_px}")
        if self.transfer_images < 1:
            raise JRGRError(f"loss.transfer_images must be >= 1, got {self.transfer_images}")
        _check_choice("gan_mode", self.gan_mode, GAN_MODES)
        _check_choice("veil_learns_from", self.veil_learns_from, VEIL_SOURCES)
        if self.moment_grid < 1 or self.moment_pool < 1:
            raise JRGRError(f"need moment_grid >= 1 and moment_pool >= 1, got {self.moment_grid}, "
                            f"{self.moment_pool}")
        if self.pool_size < 0:
            raise JRGRError(f"pool_size must be >= 0, got {self.pool_size}")
        if self.r1_gamma < 0:
            raise JRGRError(f"r1_gamma must be >= 0, got {self.r1_gamma}")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation. Iterations win over epochs when both are set (> 0).

    Learning rates: stage 1 uses ``lr``; stage 2 gives G_s/G_r ``lr``, F_r ``lr * f_r_lr_ratio`` and F_s
    ``lr * f_s_lr_ratio`` when stage 1 pre-trained them (else ``lr``), discriminators ``lr * d_lr_ratio``.
    Each stage keeps its lr for the first ``1 - decay_fraction`` of its iterations, then decays linearly to 0.
    ``g_lr_ratio`` scales G_s/G_r's lr in stage 2 (the authors' code runs everything at lr 1e-5 by default:
    set ``lr`` for that scale). ``batch_size`` is the global batch (split evenly over DDP processes).
    Crops are ``crop_size`` square, or ``crop_size`` high and ``crop_width`` wide when ``crop_width`` > 0 (e.g.
    strips as high as the images).
    ``num_threads`` > 0 sets torch's intra-op threads per process (0 = torch's default); on a CPU shared with
    other jobs, 1 thread can be many times faster than 2 contended ones.
    ``ema_decay`` > 0 keeps an exponential moving average of the removal net's weights (stage 1's net, stage 2's
    F_r); the checkpoint's net is that average (what evaluation and export use), the raw weights travel in the
    resume state.
    GAN training oscillates; the average much less.
    ``f_r_anchor`` > 0 (stage 2) pulls F_r's weights back towards the weights stage 2 starts from after each
    step, decoupled from Adam as AdamW's weight decay is (L2-SP, Li et al. 2018: decay towards the pre-trained
    weights, not towards 0): θ ← θ − lr_F_r · f_r_anchor · (θ − θ_start), lr_F_r the current (scheduled) lr. At lr
    2e-4, 5 gives the pull a time constant of 1,000 steps: it leaves the first hundreds of steps nearly free and
    bounds how far a long run can drift from where it started. ``f_r_anchor_step`` N > 0 takes the anchor at
    stage-2 step N instead, from the net evaluation uses there (the EMA when ``ema_decay`` > 0), with no pull
    before it: F_r learns freely for N steps, then is held near where it got (N must be below the stage's steps).
    ``veil_warmup_iters`` > 0 (physics G_r with ``loss.weights.mom_or`` > 0): before joint training starts, the
    veil net alone is fitted for that many steps to the real images' low-frequency statistics (the
    moment-matching term), so F_r's first pseudo-pairs already carry a veil like the real one.
    ``init_from``: a checkpoint whose nets start a new run (not a resume): stage 1 takes its F_r (else F_s);
    stage 2 takes every net it holds (F nets count as pre-trained, so the F lr ratios apply) instead of
    ``RUN_DIR/stage1.safetensors``. For continuing a supervised net, or adapting a trained system.
    """

    stage1_iters: int = 0
    stage1_epochs: int = 100
    stage2_iters: int = 0
    stage2_epochs: int = 200
    decay_fraction: float = 0.5
    lr: float = 1e-4
    f_r_lr_ratio: float = 0.1
    f_s_lr_ratio: float = 0.01
    g_lr_ratio: float = 1.0
    d_lr_ratio: float = 1.0
    betas: tuple[float, float] = (0.5, 0.999)
    batch_size: int = 1
    crop_size: int = 256
    crop_width: int = 0
    num_workers: int = 0
    num_threads: int = 0
    checkpoint_every: int = 1000
    log_every: int = 10
    image_every: int = 500
    seed: int = 0
    device: str = "auto"
    amp: str = "none"
    ema_decay: float = 0.0
    f_r_anchor: float = 0.0
    f_r_anchor_step: int = 0
    veil_warmup_iters: int = 0
    init_from: str | None = None

    def __post_init__(self) -> None:
        _check_choice("device", self.device, DEVICES)
        _check_choice("amp", self.amp, AMP_MODES)
        if self.veil_warmup_iters < 0:
            raise JRGRError(f"veil_warmup_iters must be >= 0, got {self.veil_warmup_iters}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise JRGRError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.f_r_anchor < 0:
            raise JRGRError(f"f_r_anchor must be >= 0 (0: off), got {self.f_r_anchor}")
        if self.f_r_anchor_step < 0:
            raise JRGRError(f"f_r_anchor_step must be >= 0 (0: the stage's start), got {self.f_r_anchor_step}")
        if not 0.0 <= self.decay_fraction <= 1.0:
            raise JRGRError(f"decay_fraction must be in [0, 1], got {self.decay_fraction}")
        if self.num_threads < 0 or self.num_workers < 0:
            raise JRGRError("num_threads and num_workers must be >= 0")
        if self.batch_size < 1 or self.crop_size < 1:
            raise JRGRError("batch_size and crop_size must be >= 1")
        if self.crop_width < 0:
            raise JRGRError(f"crop_width must be >= 0 (0: square crops of crop_size), got {self.crop_width}")
        if len(self.betas) != 2:
            raise JRGRError(f"betas must be two numbers, got {self.betas}")

    @property
    def crop_hw(self) -> tuple[int, int]:
        """The training crop as (height, width)."""
        return (self.crop_size, self.crop_width or self.crop_size)


@dataclass(frozen=True)
class DataConfig:
    """Where the data is. ``root`` is a data set written by ``jrgr data synth``; the explicit folders
    override the parts of it they name. Paths are strings (a config is plain data).

    ``real_clean`` (beyond the paper): clean, unpaired images of the REAL domain (a fixed camera's dry-weather
    footage, as a folder or a video). Stage 2 then shows D_B clean backgrounds of both domains as its real
    samples, so D_B cannot judge a background by its scene and push F_r(O_r) towards the synthetic scenes.
    """

    root: str | None = None
    paired_rainy: str | None = None
    paired_clean: str | None = None
    real: str | None = None
    real_clean: str | None = None
    val_rainy: str | None = None
    val_clean: str | None = None


@dataclass(frozen=True)
class JRGRConfig:
    """The whole run. ``preset`` records which preset the config started from (or ``custom``)."""

    preset: str = "custom"
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)

    @classmethod
    def from_preset(cls, name: str) -> JRGRConfig:
        """One of ``paper``, ``official``, ``tiny``."""
        if name not in _PRESET_BUILDERS:
            raise JRGRError(f"unknown preset '{name}': expected one of {', '.join(PRESETS)}")
        return _PRESET_BUILDERS[name]()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JRGRConfig:
        """Strict: unknown keys and wrong types raise JRGRError naming the key and section.

        A ``preset`` key with a known preset name starts from that preset; other keys override it.
        """
        if not isinstance(data, dict):
            raise JRGRError(f"a config must be a mapping, got {type(data).__name__}")
        base = cls()
        preset = data.get("preset")
        if isinstance(preset, str) and preset in PRESETS:
            base = cls.from_preset(preset)
        return _merge(base, data, "config")

    @classmethod
    def from_yaml(cls, path: str | Path) -> JRGRConfig:
        import yaml

        path = Path(path)
        if not path.is_file():
            raise JRGRError(f"config file '{path}' does not exist")
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as error:
            raise JRGRError(f"config file '{path}' is not valid YAML: {error}") from None
        try:
            return cls.from_dict(data or {})
        except JRGRError as error:
            raise JRGRError(f"config file '{path}': {error}") from None

    @classmethod
    def from_json(cls, text: str) -> JRGRConfig:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise JRGRError(f"config is not valid JSON: {error}") from None
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        return _to_plain(dataclasses.asdict(self))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def with_overrides(self, overrides: list[str] | tuple[str, ...]) -> JRGRConfig:
        """Apply ``section.key=value`` strings (value parsed as a YAML scalar/list), e.g.
        ``train.batch_size=8``, ``model.removal.depth=5``, ``data.real=null``. All of them at once (a later one
        wins on the same key): a check across keys (a switch that needs another) sees the whole set, whatever the
        order of the ``--set`` options."""
        import yaml

        combined: dict[str, Any] = {}
        for item in overrides:
            key, sep, raw = item.partition("=")
            if not sep or not key.strip():
                raise JRGRError(f"override '{item}' must look like section.key=value")
            try:
                value = yaml.safe_load(raw) if raw.strip() else ""
            except yaml.YAMLError as error:
                raise JRGRError(f"override '{item}': cannot parse value: {error}") from None
            *sections, leaf = key.strip().split(".")
            target = combined
            for part in sections:
                if not isinstance(target.get(part), dict):
                    target[part] = {}
                target = target[part]
            target[leaf] = value
        config = _merge(self, combined, "config") if combined else self
        if overrides and config.preset in PRESETS:
            config = replace(config, preset=f"{config.preset}+overrides")
        return config


def load_config(spec: str, overrides: list[str] | tuple[str, ...] = ()) -> JRGRConfig:
    """A preset name or a YAML/JSON file path, then ``--set`` overrides."""
    if spec in PRESETS:
        config = JRGRConfig.from_preset(spec)
    else:
        path = Path(spec)
        if not path.suffix and not path.exists():
            raise JRGRError(f"unknown preset '{spec}': expected one of {', '.join(PRESETS)} or a YAML file")
        if path.suffix == ".json":
            if not path.is_file():
                raise JRGRError(f"config file '{path}' does not exist")
            config = JRGRConfig.from_json(path.read_text())
        else:
            config = JRGRConfig.from_yaml(path)
    return config.with_overrides(list(overrides))


def _check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise JRGRError(f"{name} '{value}' is not one of {', '.join(allowed)}")


def _to_plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_plain(v) for v in value]
    return value


def _merge(obj: Any, data: dict[str, Any], section: str) -> Any:
    """A copy of dataclass `obj` with `data` applied recursively; strict about keys and types."""
    if not isinstance(data, dict):
        raise JRGRError(f"section '{section}' must be a mapping, got {data!r}")
    hints = typing.get_type_hints(type(obj))
    known = {f.name for f in fields(obj)}
    changes: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            raise JRGRError(
                f"unknown key '{key}' in section '{section}' (allowed: {', '.join(sorted(known))})"
            )
        current = getattr(obj, key)
        where = key if section == "config" else f"{section}.{key}"
        if dataclasses.is_dataclass(current):
            changes[key] = _merge(current, value, where)
        else:
            changes[key] = _coerce(value, hints[key], where)
    return replace(obj, **changes)


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, where)
            except JRGRError as error:
                errors.append(str(error))
        raise JRGRError(errors[0] if errors else f"'{where}': bad value {value!r}")
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise JRGRError(f"'{where}' must be a list of {len(args)} values, got {value!r}")
        return tuple(_coerce(v, a, where) for v, a in zip(value, args, strict=True))
    if hint is bool:
        if not isinstance(value, bool):
            raise JRGRError(f"'{where}' must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise JRGRError(f"'{where}' must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, str):
            # YAML 1.1 reads `1e-4` (no dot) as a string; accept what is plainly a number.
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise JRGRError(f"'{where}' must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise JRGRError(f"'{where}' must be a string, got {value!r}")
        return value
    raise JRGRError(f"'{where}': unsupported field type {hint}")


def _paper() -> JRGRConfig:
    unet = NetConfig(
        arch="unet", base_channels=64, depth=7, max_channels=512, norm="batch", residual=False,
        out_activation="tanh",
    )
    return JRGRConfig(
        preset="paper",
        model=ModelConfig(removal=unet, generation=unet, discriminator=DiscriminatorConfig(64, 3, "batch")),
        loss=LossConfig(gan_mode="vanilla", alpha=4.0, lambda_adv=10.0, lambda_cyc=1.0, lambda_mse=10.0,
                        pool_size=50),
        train=TrainConfig(stage1_epochs=100, stage2_epochs=200, lr=1e-4, batch_size=16, crop_size=256),
    )


def _official() -> JRGRConfig:
    return JRGRConfig(
        preset="official",
        model=ModelConfig(
            removal=NetConfig(arch="unet", base_channels=64, depth=7, max_channels=512, norm="batch",
                              residual=False, out_activation="tanh"),
            generation=NetConfig(arch="resnet", base_channels=64, n_blocks=9, norm="batch", residual=False,
                                 out_activation="tanh"),
            discriminator=DiscriminatorConfig(64, 3, "batch"),
        ),
        # alpha is the paper's (the authors' code weighs D_B's real term the same way).
        loss=LossConfig(gan_mode="lsgan", alpha=4.0, lambda_adv=4.0, lambda_cyc=40.0, lambda_mse=40.0,
                        pool_size=50),
        train=TrainConfig(stage1_epochs=100, stage2_epochs=200, lr=1e-4, batch_size=1, crop_size=256),
    )


def _tiny() -> JRGRConfig:
    unet = NetConfig(arch="unet", base_channels=16, depth=4, max_channels=128, convs_per_level=1,
                     norm="instance", residual=True, out_activation="none")
    return JRGRConfig(
        preset="tiny",
        model=ModelConfig(removal=unet, generation=unet,
                          discriminator=DiscriminatorConfig(base_channels=16, n_layers=3, norm="instance")),
        loss=LossConfig(gan_mode="lsgan", alpha=4.0, lambda_adv=4.0, lambda_cyc=40.0, lambda_mse=40.0,
                        pool_size=50),
        train=TrainConfig(stage1_iters=600, stage1_epochs=0, stage2_iters=300, stage2_epochs=0,
                          decay_fraction=0.5, lr=2e-4, batch_size=4, crop_size=96, checkpoint_every=200,
                          log_every=10, image_every=100),
    )


# JRGR+ (beyond the paper; the quality benchmark's best measured variant and the default model's recipe):
# discriminators that see global contrast (3 scales, spectral norm, no instance norm), D_B's verdict on F_r(O_r)
# weighted 4x, F_r at the full lr with an EMA of its weights, F_r anchored on the synthetic pairs.
PLUS_SWITCHES = (
    "model.discriminator.norm=none", "model.discriminator.spectral_norm=true", "model.discriminator.scales=3",
    "train.f_r_lr_ratio=1.0", "train.ema_decay=0.99", "loss.weights.mse_fr_os=1", "loss.weights.adv_b_fr_or=4",
)


def _plus() -> JRGRConfig:
    """`tiny` with the JRGR+ switches, 192² crops and batch 1 (what the default model was trained with)."""
    config = _tiny().with_overrides([*PLUS_SWITCHES, "train.crop_size=192", "train.batch_size=1"])
    return replace(config, preset="plus")


_PRESET_BUILDERS = {"paper": _paper, "official": _official, "tiny": _tiny, "plus": _plus}
