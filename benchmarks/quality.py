"""Does joint training beat supervised training on real-style rain? The paper's Table 1 on an offline proxy.

    python benchmarks/quality.py --backgrounds ../shared/data/backgrounds --jobs 2      # the full run, resumable
    python benchmarks/quality.py --quick                                                # CI smoke run (~1 min)

Data (JRGR's Cityscape setting): clean photographs split BY PHOTOGRAPH into four parts (`jrgr data synth`):
paired synthetic rain (model A) on the "synthetic" part, unpaired physically rendered rain (model B, the "real"
domain proxy) on the "real" part, model-B validation pairs on a "val" part that no training split uses, and a
test part with both models' rain and ground truth. The rain models are the project's (`jrgr_deploy/rain/`) and
stay fixed: the benchmark is never tuned to a method, a new idea is a new row.

Rows (removal nets scored on test/realistic = model B, and test/synthetic = model A, whole images):

- ``input``: the rainy image itself;
- ``supervised``: stage 1, one removal net trained on the model-A pairs;
- ``oracle``: the same stage 1 on model-B pairs (the train/real images with their ground truth, re-cut from the
  manifest) — impossible for real rain; the ceiling that turns a row into a share of the gap it closes;
- one row per METHOD, each starting from the seed's supervised net and trained for the SAME number of iterations
  with the same batch, crops and lr schedule: ``supervised_continued`` (stage 1 continued with the MSE alone —
  the control that tells what extra iterations give), ``jrgr_paper`` (joint training as the paper / the authors'
  code), ``cyclegan`` (the paper's translation-without-disentanglement baseline), and the variants beyond the
  paper. Each method reports its val-selected step (best val/realistic PSNR-Y over the traced steps, step 0
  excluded: the same rule for every row) and its last step.

Every method runs with each seed of ``--seeds`` (3 by default): the table gives mean ± sd over seeds. Every step
(data, each training slice, each evaluation) is kept under ``--work`` and skipped on a re-run, so an interrupted
run continues where it stopped; ``--jobs N`` runs N trainings at once (one torch thread each).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from jrgr_deploy.config import PLUS_SWITCHES  # noqa: E402
from jrgr_deploy.names import DEPTH_MODELS  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

logger = logging.getLogger("quality")

SPLITS = ("realistic", "synthetic")  # test/<split>: model B (the target domain) and model A (forgetting)
METRICS = ("psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb")
DEFAULT_BACKGROUNDS = REPO.parent / "shared" / "data" / "backgrounds"


@dataclass(frozen=True)
class Method:
    """A row trained from the seed's supervised net: `kind` "continued" (stage 1 again, MSE only) or "joint"
    (stage 2); `overrides` are `--set` values on top of the plan's (config switches, never code); `seeds`: how
    many of the run's seeds it uses (all by default; rows no claim depends on may use one, to save time)."""

    label: str
    kind: str
    overrides: tuple[str, ...] = ()
    seeds: int | None = None


# What the best variant changes beyond the paper (issue "JRGR that delivers"): discriminators that see global
# contrast (3 scales, spectral norm, no instance norm), D_B's verdict on F_r(O_r) weighted 4x (the term that
# teaches F_r what a clean real background looks like), F_r at the full lr with an EMA of its weights, and F_r
# anchored on the synthetic pairs. The continued control runs its F at the same lr with the same EMA, so that
# the only difference is what joint training adds.
PLUS = PLUS_SWITCHES  # the `plus` preset's switches
VEIL = ("model.rain_form=physics", "loss.stop_grad_o_tilde_r=true", "loss.veil_learns_from=moments",
        "loss.weights.adv_or=10", "loss.weights.mom_or=100", "train.veil_warmup_iters=2000")
# the self-training switches of `jrgr adapt --recipe self-training` from 2026-12-02 to 12-05 (F_r on pseudo-labels
# with 0.3 of the dark-channel veil removed, nothing else): every self-training row and the default model's recipe
# were measured on them; `jrgr adapt`'s own recipe has moved on since (app/adapt.py), these rows keep theirs
SELF_TRAINING_RECIPE = ("loss.weights.mse_fr_pl=1", "loss.pl_veil_strength=0.3", "loss.lambda_adv=0",
                        "loss.lambda_cyc=0", "loss.weights.mse_r=0", "loss.weights.mse_fr_os=0", "loss.weights.mse_s=0")
SELF_TRAINING_MT = (*PLUS, *SELF_TRAINING_RECIPE, "loss.weights.mse_fr_mt=1")  # the best variant's switches


# the self-training labels with the veil removed from the rainy image before the starting net derains it
# (`loss.pl_veil_first`): by the wide square dark channel, or row by row (settings chosen on val by the labels' own
# PSNR-Y, benchmarks/label_veil.py); also rows of benchmarks/camera_adapt.py
FIRST = ("loss.pl_veil_first=true", "loss.pl_veil_patch=0.33", "loss.pl_airlight_fraction=0.05",
         "loss.pl_veil_strength=0.7")
ROWS_FIRST = ("loss.pl_veil_removal=row_dark_channel", "loss.pl_veil_first=true", "loss.pl_veil_patch=0.1",
              "loss.pl_airlight_fraction=0.05", "loss.pl_veil_strength=0.9")
# the row-by-row veil stage alone as the labels, no net (`loss.pl_veil_only`), at the setting the validation split
# picks for the stage alone (benchmarks/label_veil.py --orders alone: 26.74 dB there)
ROWS_ALONE = ("loss.pl_veil_removal=row_dark_channel", "loss.pl_veil_only=true", "loss.pl_veil_patch=0.0417",
              "loss.pl_airlight_fraction=0.05", "loss.pl_veil_strength=0.95")


# the square stage alone as the labels, at the setting the street-canyon variant's validation picks for the stage
# alone (`--depth-model street_canyon`, BENCHMARKS.md "The veil removal alone": 27.76 dB on its test)
SQUARE_ALONE = ("loss.pl_veil_only=true", "loss.pl_veil_patch=0.33", "loss.pl_airlight_fraction=0.05",
                "loss.pl_veil_strength=0.5")
CONTEXT = ("model.removal.row_context=true",)  # the removal net pools each row across the whole width

DETAIL_BLUR_PX = 8  # the labels' blur a detail refresh keeps (`loss.pl_refresh_detail_px`)


def refreshed_detail(every: int) -> tuple[str, ...]:
    """The switches that make the labels' detail again every `every` steps (from the EMA net), their
    `DETAIL_BLUR_PX` blur kept (BENCHMARKS.md, "Labels whose detail the net takes over"); also rows of
    benchmarks/camera_adapt.py."""
    return (f"loss.pl_refresh_iters={every}", f"loss.pl_refresh_detail_px={DETAIL_BLUR_PX}")


def quoted(switches: tuple[str, ...]) -> str:
    """Config switches as a row label shows them: each in backticks, comma-separated."""
    return ", ".join(f"`{switch}`" for switch in switches)


def _detail(base: str, labels: tuple[str, ...], every: int, *switches: str, what: str = "") -> Method:
    """Row `base` (self-training on the label switches `labels`) with `refreshed_detail(every)`, then `switches`."""
    return Method(f"{base}, the labels' detail made again every {every} steps by the EMA net, their "
                  f"{DETAIL_BLUR_PX} px blur kept ({quoted(refreshed_detail(every))}){what}", "joint",
                  (*PLUS, *SELF_TRAINING_RECIPE, *labels, *refreshed_detail(every), *switches))


def _self_training_mt(what: str, *switches: str) -> Method:
    """A variant of `self_training_mt`: its switches, then `switches`."""
    return Method(f"self-training with the moment-transfer pseudo-pairs{what}", "joint", (*SELF_TRAINING_MT, *switches))


METHODS: dict[str, Method] = {
    "supervised_continued": Method("supervised, continued (MSE only, same iterations, F lr and EMA as jrgr_plus)",
                                   "continued", ("train.lr=2e-4", "train.ema_decay=0.99")),
    "jrgr_paper": Method("JRGR as the paper (authors' weights 40/4/40, F_r lr/10)", "joint", seeds=1),
    "cyclegan": Method("CycleGAN (translation without disentanglement)", "joint", ("model.disentangle=false",),
                       seeds=1),
    "jrgr_plus": Method("JRGR+ (global-view discriminators, D_B on F_r(O_r) x4, F_r full lr + EMA, anchor on the "
                        "pairs)", "joint", PLUS),
    "jrgr_veil": Method("JRGR+ with the physics G_r (veil fitted by moment matching)", "joint", PLUS + VEIL,
                        seeds=1),
    "jrgr_plus_mt": Method("JRGR+ with moment-transfer pseudo-pairs (O_s re-toned to the real set's cell moments)",
                           "joint", (*PLUS, "loss.weights.mse_fr_mt=1")),
    "transfer_only": Method("moment-transfer pseudo-pairs alone (the JRGR+ row with every adversarial and cycle "
                            "term and mse_r off)", "joint",
                            (*PLUS, "loss.weights.mse_fr_mt=1", "loss.lambda_adv=0", "loss.lambda_cyc=0",
                             "loss.weights.mse_r=0"), seeds=1),
    # `jrgr adapt --recipe self-training` on the proxy: F_r trained on the real images' pseudo-labels alone (its
    # starting output with 0.3 of the dark-channel veil removed), with the F lr and EMA of the rows above; no
    # adversarial, cycle or synthetic term, so the lean stage-2 step (`training.losses.removal_only`).
    "self_training": Method("self-training (F_r on the real images' pseudo-labels alone: its starting output with "
                            "0.3 of the dark-channel veil removed)", "joint", (*PLUS, *SELF_TRAINING_RECIPE)),
    "self_training_mt": Method("self-training with the moment-transfer pseudo-pairs beside the pseudo-labels",
                               "joint", SELF_TRAINING_MT),
    # the same at a quarter of the lr: does the long run still drift below its best?
    "self_training_mt_lr4": _self_training_mt(", lr / 4 (`train.lr=5e-5`)", "train.lr=5e-5"),
    # what the dark-channel stage adds to the labels: the starting net's own outputs as labels (a pure anchor)
    "self_training_mt_anchor": _self_training_mt(", labels without veil removal (`loss.pl_veil_strength=0`: the "
                                                 "starting net's outputs)", "loss.pl_veil_strength=0"),
    # the pairs alone collapse (transfer_alone) and the 6,000-step row drifts 0.5-0.7 dB below its best: half the pairs
    "self_training_mt_half": _self_training_mt(" at half weight (`loss.weights.mse_fr_mt=0.5`)",
                                               "loss.weights.mse_fr_mt=0.5"),
    "self_training_mt_s5": _self_training_mt(", labels with 0.5 of the dark-channel veil removed "
                                             "(`loss.pl_veil_strength=0.5`)", "loss.pl_veil_strength=0.5"),
    # with a net that reads its rows (`model.removal.row_coord`) the population veil's layout can be learnt: a finer
    # grid of cells for the pairs, or twice their weight
    "self_training_mt_grid8": _self_training_mt(", pairs re-toned on an 8 x 8 grid of cells (`loss.moment_grid=8`)",
                                                "loss.moment_grid=8"),
    "self_training_mt_x2": _self_training_mt(" at twice the weight (`loss.weights.mse_fr_mt=2`)",
                                             "loss.weights.mse_fr_mt=2"),
    # whole 384² images as crops after stage 1 (4x the pixels per step): a net that reads its rows
    # (`--set model.removal.row_coord=true`) then also sees the whole frame's context; the control is the same
    # crops for supervised-continued
    "supervised_continued_384": Method("supervised, continued, on 384² crops (`train.crop_size=384`)", "continued",
                                       ("train.lr=2e-4", "train.ema_decay=0.99", "train.crop_size=384")),
    "self_training_mt_384": _self_training_mt(" on 384² crops (`train.crop_size=384`)", "train.crop_size=384"),
    # the joint row with the self-training labels: G_r's pseudo-pairs for the streaks' look, the labels and the
    # moment-transfer pairs for the veil
    "jrgr_plus_mt_pl": Method("JRGR+ with the moment-transfer pseudo-pairs and the real images' pseudo-labels "
                              "(`loss.weights.mse_fr_pl=1`, 0.3 of the dark-channel veil removed)", "joint",
                              (*PLUS, "loss.weights.mse_fr_mt=1", "loss.weights.mse_fr_pl=1",
                               "loss.pl_veil_strength=0.3"), seeds=2),
    # iterated self-training: the labels made again every 250 steps from the net being trained (its EMA)
    "self_training_mt_refresh": _self_training_mt(", labels made again every 250 steps from the EMA net "
                                                  "(`loss.pl_refresh_iters=250`)", "loss.pl_refresh_iters=250"),
    "self_training_mt_anchor_refresh": _self_training_mt(", labels without veil removal made again every 250 steps "
                                                         "(a trust region that moves)", "loss.pl_veil_strength=0",
                                                         "loss.pl_refresh_iters=250"),
    # the long runs peak within 1,000-3,000 steps and then drift down (last 0.4-0.7 dB below the best): F_r pulled
    # back towards its starting weights after each step (`train.f_r_anchor`, L2-SP; time constant 1,000, 250 and 100
    # steps at lr 2e-4), or a slower average of its weights
    "self_training_mt_l2sp5": _self_training_mt(", F_r pulled towards its starting weights "
                                                "(`train.f_r_anchor=5`)", "train.f_r_anchor=5"),
    "self_training_mt_l2sp20": _self_training_mt(", F_r pulled towards its starting weights "
                                                 "(`train.f_r_anchor=20`)", "train.f_r_anchor=20"),
    "self_training_mt_l2sp50": _self_training_mt(", F_r pulled towards its starting weights "
                                                 "(`train.f_r_anchor=50`)", "train.f_r_anchor=50"),
    # the same pull with its anchor taken at step 1,000 (near where the 6,000-step runs peak) from the EMA net:
    # free for 1,000 steps, then held near where it got
    "self_training_mt_l2sp20_at1000": _self_training_mt(", F_r free for 1,000 steps, then pulled towards its "
                                                        "weights there (`train.f_r_anchor=20`, "
                                                        "`train.f_r_anchor_step=1000`)",
                                                        "train.f_r_anchor=20", "train.f_r_anchor_step=1000"),
    "self_training_mt_l2sp50_at1000": _self_training_mt(", F_r free for 1,000 steps, then pulled towards its "
                                                        "weights there (`train.f_r_anchor=50`, "
                                                        "`train.f_r_anchor_step=1000`)",
                                                        "train.f_r_anchor=50", "train.f_r_anchor_step=1000"),
    "self_training_mt_ema999": _self_training_mt(", a slower average of F_r's weights (`train.ema_decay=0.999`)",
                                                 "train.ema_decay=0.999"),
    # do the long runs drift back towards the labels, which carry the starting net's tone and veil? Labels that
    # hold only F_r's detail (the difference above a Gaussian blur of 4, 8 or 16 px), the tone left to the pairs
    # (measured: they collapse; the labels' tone is what holds F_r)
    "self_training_mt_hp4": _self_training_mt(", labels compared above a 4 px blur (`loss.pl_highpass_px=4`)",
                                              "loss.pl_highpass_px=4"),
    "self_training_mt_hp8": _self_training_mt(", labels compared above an 8 px blur (`loss.pl_highpass_px=8`)",
                                              "loss.pl_highpass_px=8"),
    "self_training_mt_hp16": _self_training_mt(", labels compared above a 16 px blur (`loss.pl_highpass_px=16`)",
                                               "loss.pl_highpass_px=16"),
    # model B's veil varies several-fold between images (fog 0.0005-0.004 /m, rain 5-75 mm/h): pairs re-toned over
    # a wider range of strengths around the population's (strength 1 +- jitter, default 0.3)
    "self_training_mt_jitter6": _self_training_mt(" at strengths 1 +- 0.6 (`loss.transfer_jitter=0.6`)",
                                                  "loss.transfer_jitter=0.6"),
    "self_training_mt_jitter9": _self_training_mt(" at strengths 1 +- 0.9 (`loss.transfer_jitter=0.9`)",
                                                  "loss.transfer_jitter=0.9"),
    # model-A rain lifts its backgrounds by a low-frequency veil of its own (+26 levels on average, sd 21 between
    # images; model B +12.5, sd 8), which the re-toned O_s keeps: pairs made from the clean background re-toned to
    # the real set's moments plus only the rain layer's streaks (above a 4 or 8 px blur)
    "self_training_mt_bg4": _self_training_mt(" made from the re-toned background plus the rain's streaks above a "
                                              "4 px blur (`loss.transfer_streaks_px=4`)", "loss.transfer_streaks_px=4"),
    "self_training_mt_bg8": _self_training_mt(" made from the re-toned background plus the rain's streaks above an "
                                              "8 px blur (`loss.transfer_streaks_px=8`)", "loss.transfer_streaks_px=8"),
    # model B's veil goes with its rain (per image, its lift correlates 0.6 with its streak energy), so F_r could
    # read each image's veil from its streaks; an uncoupled strength is invisible in the image
    "self_training_mt_coupled": _self_training_mt(" at a strength that goes with each pair's streaks "
                                                  "(`loss.transfer_coupled=true`)", "loss.transfer_coupled=true"),
    "self_training_mt_bg4_coupled": _self_training_mt(" made from the re-toned background plus the rain's streaks, "
                                                      "at a strength that goes with them (`loss.transfer_streaks_px=4`,"
                                                      " `loss.transfer_coupled=true`)", "loss.transfer_streaks_px=4",
                                                      "loss.transfer_coupled=true"),
    # labels whose dark-channel veil is read over a third of the short side and from the brightest 5 % (the runtime's:
    # 1/24 and 0.1 %), at strength 0.5: the labels' veil as a whole picture's, not a patch's (chosen on val, by the
    # labels' own PSNR-Y against the val images' clean ones: 24.54 dB against 23.43 with the runtime's settings)
    "self_training_dc33": Method("self-training on labels with a wide dark-channel patch (`loss.pl_veil_patch=0.33`, "
                                 "`loss.pl_airlight_fraction=0.05`, `loss.pl_veil_strength=0.5`)", "joint",
                                 (*PLUS, *SELF_TRAINING_RECIPE, "loss.pl_veil_patch=0.33",
                                  "loss.pl_airlight_fraction=0.05", "loss.pl_veil_strength=0.5")),
    "self_training_mt_dc33": _self_training_mt(", labels with a wide dark-channel patch (`loss.pl_veil_patch=0.33`, "
                                               "`loss.pl_airlight_fraction=0.05`, `loss.pl_veil_strength=0.5`)",
                                               "loss.pl_veil_patch=0.33", "loss.pl_airlight_fraction=0.05",
                                               "loss.pl_veil_strength=0.5"),
    # beside better labels the pairs cost more (the labels' ceiling, BENCHMARKS.md): the same with the pairs at a
    # quarter of their weight
    "self_training_mt_dc33_quarter": _self_training_mt(" at a quarter of their weight, labels with a wide dark-channel "
                                                       "patch (`loss.weights.mse_fr_mt=0.25`, the switches of "
                                                       "self_training_mt_dc33)", "loss.pl_veil_patch=0.33",
                                                       "loss.pl_airlight_fraction=0.05", "loss.pl_veil_strength=0.5",
                                                       "loss.weights.mse_fr_mt=0.25"),
    # the veil removed from the rainy image before the starting net derains it (`loss.pl_veil_first`): the net learnt
    # its streaks on clean backgrounds. The labels' own PSNR-Y on val (benchmarks/label_veil.py): the wide square
    # patch 25.06 dB first against 24.53 after; the dark channel read row by row 25.99
    "self_training_dc33_first": Method("self-training on labels made with the wide dark-channel veil removed first "
                                       "(`loss.pl_veil_first=true`, `loss.pl_veil_patch=0.33`, "
                                       "`loss.pl_airlight_fraction=0.05`, `loss.pl_veil_strength=0.7`)", "joint",
                                       (*PLUS, *SELF_TRAINING_RECIPE, *FIRST)),
    "self_training_rows_first": Method("self-training on labels made with the row-by-row dark-channel veil removed "
                                       "first (`loss.pl_veil_removal=row_dark_channel`, `loss.pl_veil_first=true`, "
                                       "`loss.pl_veil_patch=0.1`, `loss.pl_airlight_fraction=0.05`, "
                                       "`loss.pl_veil_strength=0.9`)", "joint",
                                       (*PLUS, *SELF_TRAINING_RECIPE, *ROWS_FIRST)),
    # its val curves peak at steps 375-625 and drift: F_r free for 500 steps, then pulled towards its weights there
    "self_training_rows_first_l2sp50_at500": Method("self_training_rows_first, F_r free for 500 steps, then "
                                                    "pulled towards its weights there (`train.f_r_anchor=50`, "
                                                    "`train.f_r_anchor_step=500`)", "joint",
                                                    (*PLUS, *SELF_TRAINING_RECIPE, *ROWS_FIRST, "train.f_r_anchor=50",
                                                     "train.f_r_anchor_step=500")),
    # the nets above beat their starting net's detail (streaks) on val by step 500 but not the labels' veil: at a
    # refresh the net takes over the labels' detail above an 8 px blur (the error anatomy's split), the veil stays
    "self_training_rows_first_detail500": _detail("self_training_rows_first", ROWS_FIRST, 500),
    "self_training_rows_first_detail250": _detail("self_training_rows_first", ROWS_FIRST, 250),
    "self_training_rows_first_detail250_l2sp50_at625": _detail(
        "self_training_rows_first", ROWS_FIRST, 250, "train.f_r_anchor=50", "train.f_r_anchor_step=625",
        what=", F_r pulled towards its weights of step 625 after it (`train.f_r_anchor=50`, "
             "`train.f_r_anchor_step=625`)"),
    # the same budget in steps with four crops per step for every row (the perfect labels' ceiling at batch 1 is
    # 26.51 dB, just above issue 10's 60 % of the gap: the rows may be short of data, not of labels)
    "supervised_continued_b4": Method("supervised, continued, four crops per step (`train.batch_size=4`)", "continued",
                                      ("train.lr=2e-4", "train.ema_decay=0.99", "train.batch_size=4")),
    "self_training_rows_first_detail250_b4": _detail("self_training_rows_first", ROWS_FIRST, 250, "train.batch_size=4",
                                                     what=", four crops per step (`train.batch_size=4`)"),
    # or the same pixels per step as whole images: the labels' veil is read from the whole image
    "self_training_rows_first_detail250_384": _detail("self_training_rows_first", ROWS_FIRST, 250,
                                                      "train.crop_size=384",
                                                      what=" on 384² crops (`train.crop_size=384`)"),
    "self_training_rows_alone": Method("self-training on the row-by-row veil stage alone as the labels, no net "
                                       f"({quoted(ROWS_ALONE)})", "joint", (*PLUS, *SELF_TRAINING_RECIPE, *ROWS_ALONE)),
    "self_training_rows_alone_detail250": _detail("self_training_rows_alone", ROWS_ALONE, 250),
    "self_training_rows_alone_b4": Method("self_training_rows_alone, four crops per step (`train.batch_size=4`)",
                                          "joint", (*PLUS, *SELF_TRAINING_RECIPE, *ROWS_ALONE, "train.batch_size=4")),
    # the row stage reads a row's veil from its darkest pixels anywhere along it, which a 192² crop does not hold
    # (BENCHMARKS.md, Quality, "Whole frames as crops"): a removal net that pools each row across the whole width
    # (`model.removal.row_context`), its control, and whole 384² images as crops with and without it
    "supervised_continued_context": Method(f"supervised, continued, the net pooling its rows ({quoted(CONTEXT)})",
                                           "continued", ("train.lr=2e-4", "train.ema_decay=0.99", *CONTEXT)),
    "self_training_rows_alone_context": Method(
        f"self_training_rows_alone, the net pooling its rows ({quoted(CONTEXT)})", "joint",
        (*PLUS, *SELF_TRAINING_RECIPE, *ROWS_ALONE, *CONTEXT)),
    "self_training_rows_alone_context_384": Method(
        "self_training_rows_alone, the net pooling its rows, on 384² crops "
        f"({quoted((*CONTEXT, 'train.crop_size=384'))})", "joint",
        (*PLUS, *SELF_TRAINING_RECIPE, *ROWS_ALONE, *CONTEXT, "train.crop_size=384")),
    "supervised_continued_context_384": Method(
        f"supervised, continued, the net pooling its rows, on 384² crops ({quoted((*CONTEXT, 'train.crop_size=384'))})",
        "continued", ("train.lr=2e-4", "train.ema_decay=0.99", *CONTEXT, "train.crop_size=384")),
    "self_training_rows_alone_384": Method("self_training_rows_alone on 384² crops (`train.crop_size=384`)", "joint",
                                           (*PLUS, *SELF_TRAINING_RECIPE, *ROWS_ALONE, "train.crop_size=384")),
    "self_training_square_alone_384": Method(f"self-training on the square veil stage alone as the labels, no net "
                                             f"({quoted(SQUARE_ALONE)}), on 384² crops", "joint",
                                             (*PLUS, *SELF_TRAINING_RECIPE, *SQUARE_ALONE, "train.crop_size=384")),
    "self_training_dc33_first_detail500": _detail("self_training_dc33_first", FIRST, 500),
    "self_training_dc33_first_detail250": _detail("self_training_dc33_first", FIRST, 250),
    "self_training_mt_rows_first": _self_training_mt(", labels made with the row-by-row dark-channel veil removed "
                                                     "first (the switches of self_training_rows_first)", *ROWS_FIRST),
    # what the pseudo-labels add to the moment-transfer pairs: the pairs alone, without the synthetic pairs' anchor
    "transfer_alone": Method("moment-transfer pseudo-pairs alone, without the synthetic pairs (self_training_mt "
                             "without its pseudo-labels)", "joint",
                             (*PLUS, *SELF_TRAINING_RECIPE, "loss.weights.mse_fr_pl=0", "loss.weights.mse_fr_mt=1")),
    # The same with labels that lose 0.3 of the population veil instead of the dark channel's: re-toned from the
    # derained real images' cell moments to the synthetic pairs' backgrounds' (`loss.pl_veil_removal`).
    "self_training_moments": Method("self-training on population-moment labels (its starting output re-toned 0.3 of "
                                    "the way from the derained real set's cell moments to clean photographs')",
                                    "joint", (*PLUS, *SELF_TRAINING_RECIPE, "loss.pl_veil_removal=moments")),
    # after self_training_mt, 72 % of the remaining test error is a per-cell tone map (the upper rows too bright and
    # flat: contrast 0.69-0.75 of the clean image's): labels that lose more of the population veil
    "self_training_moments_s6": Method("self-training on population-moment labels re-toned 0.6 of the way "
                                       "(`loss.pl_veil_strength=0.6`)", "joint",
                                       (*PLUS, *SELF_TRAINING_RECIPE, "loss.pl_veil_removal=moments",
                                        "loss.pl_veil_strength=0.6")),
    "self_training_moments_s9": Method("self-training on population-moment labels re-toned 0.9 of the way "
                                       "(`loss.pl_veil_strength=0.9`)", "joint",
                                       (*PLUS, *SELF_TRAINING_RECIPE, "loss.pl_veil_removal=moments",
                                        "loss.pl_veil_strength=0.9")),
    "self_training_moments_mt": Method("self-training on population-moment labels, with the moment-transfer "
                                       "pseudo-pairs", "joint",
                                       (*PLUS, *SELF_TRAINING_RECIPE, "loss.pl_veil_removal=moments",
                                        "loss.weights.mse_fr_mt=1")),
}
FIXED_ROWS = ("input", "supervised", "oracle")


@dataclass(frozen=True)
class Plan:
    """Everything that defines a run; recorded in the results."""

    size: int = 384  # every image of the data set is size x size
    n_synthetic: int = 1000
    n_real: int = 1000
    n_val: int = 40
    n_test: int = 100
    rain_preset: str = "mix"  # light/medium/heavy drawn per image
    data_seed: int = 0
    # model B's scene depth (names.DEPTH_MODELS): the ground plane (veil by row) or a street canyon (veil by row
    # and column; a variant of the benchmark's data for methods that read the veil row by row: its own --work)
    depth_model: str = "ground_plane"
    stage1_iters: int = 4000
    stage1_batch: int = 4
    iters: int = 2000  # every method's iterations after stage 1
    stage1_seed: int | None = None  # None: each seed trains its own stage 1; else every seed starts from this one's
    batch: int = 1  # every method's batch
    crop_size: int = 192
    val_points: int = 8  # val evaluations per method run (plus one at step 0)
    figure_rows: int = 4
    # --set: switches of every row, stage 1 and the oracle included (a variant of the whole benchmark, e.g. the
    # removal nets' architecture), applied before each method's own
    net_overrides: tuple[str, ...] = ()

    def base_overrides(self, seed: int) -> list[str]:
        return [f"train.crop_size={self.crop_size}", f"train.seed={seed}", "train.device=cpu",
                "train.num_threads=1", "train.log_every=50", "train.image_every=0", *self.net_overrides]


# 96² crops: the smallest the joint rows' 3-scale discriminators take (n_layers 3)
QUICK = Plan(size=96, n_synthetic=24, n_real=24, n_val=4, n_test=4, rain_preset="medium", stage1_iters=30,
             stage1_batch=2, iters=8, batch=2, crop_size=96, val_points=2, figure_rows=2)
# `--quick` without --methods: one row of each kind (continued; the paper's joint step; JRGR+'s, with its
# multi-scale discriminators; the lean self-training step), not the whole table
QUICK_METHODS = ("supervised_continued", "jrgr_paper", "jrgr_plus", "self_training_mt")


@dataclass(frozen=True)
class Work:
    """Paths under the work folder."""

    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def oracle_clean(self) -> Path:
        return self.root / "oracle_clean"

    def run(self, seed: int, row: str) -> Path:
        return self.root / f"seed{seed}" / row

    def stage1(self, plan: Plan, seed: int, row: str = "supervised") -> Path:
        """The stage-1 net (`supervised` or `oracle`) that `seed`'s methods start from and are compared with."""
        return self.run(seed if plan.stage1_seed is None else plan.stage1_seed, row) / "stage1.safetensors"

    def pairs(self, part: str) -> list[tuple[Path, Path]]:
        from jrgr_deploy.pairing import match_pairs

        return match_pairs(self.data / part / "rainy", self.data / part / "clean")


# ---- data ----------------------------------------------------------------------------------------------------


def prepare_data(work: Work, backgrounds: Path | None, plan: Plan) -> dict[str, Any]:
    """The data set of `jrgr_deploy.data_synth` (regenerated only when the plan's data part changed)."""
    from jrgr_deploy.data_synth import default_workers, synthesize_dataset

    want = {"seed": plan.data_seed, "size": plan.size, "preset": plan.rain_preset,
            "counts": {"n_synthetic": plan.n_synthetic, "n_real": plan.n_real, "n_test": plan.n_test,
                       "n_val": plan.n_val}, "depth_model": plan.depth_model}
    manifest_path = work.data / "manifest.json"
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text())
        manifest.setdefault("depth_model", "ground_plane")  # data sets written before the switch
        if all(manifest.get(k) == v for k, v in want.items()):
            return manifest
        logger.info("data set in %s was made with other settings: regenerating", work.data)
    synthesize_dataset(
        work.data, backgrounds=backgrounds, n_synthetic=plan.n_synthetic, n_real=plan.n_real, n_val=plan.n_val,
        n_test=plan.n_test, size=plan.size, preset=plan.rain_preset, seed=plan.data_seed, force=True,
        workers=default_workers(), progress=False, depth_model=plan.depth_model,
    )
    return json.loads(manifest_path.read_text())


def _reconstruct_clean(record: dict[str, Any], images: dict[str, np.ndarray], size: int) -> np.ndarray:
    """The clean patch of a manifest record, cut exactly as `backgrounds.random_patch` cut it."""
    import cv2

    patch = record["patch"]
    top, left, side = patch["top"], patch["left"], patch["side"]
    crop = images[record["background"]][top : top + side, left : left + side]
    interpolation = cv2.INTER_AREA if side >= size else cv2.INTER_CUBIC
    crop = cv2.resize(crop, (size, size), interpolation=interpolation)
    return np.ascontiguousarray(crop[:, ::-1] if patch["flip"] else crop)


def prepare_oracle_clean(work: Work, backgrounds: Path | None, manifest: dict[str, Any]) -> int:
    """Ground truth of the train/real (model B) images, for the oracle row only.

    data_synth writes no ground truth for the real domain (real rain has none); the manifest records each
    image's photograph and crop, so the clean patch is cut again. Checked first on val/realistic, whose
    ground truth was written: the reconstruction must be identical there, or this raises.
    """
    from jrgr_deploy.backgrounds import load_backgrounds
    from jrgr_deploy.errors import JRGRError
    from jrgr_deploy.image_files import read_rgb, write_rgb

    records = [r for r in manifest["images"] if r["part"] == "train/real"]
    target = work.oracle_clean
    if target.is_dir() and len(list(target.iterdir())) == len(records):
        return len(records)
    size = manifest["size"]
    # The same loading as synthesize_dataset (large photographs shrunk once to 4x the patch size).
    images = {b.name: b.image for b in load_backgrounds(backgrounds, max_short_side=4 * size)}
    for record in (r for r in manifest["images"] if r["part"] == "val/realistic"):
        truth = read_rgb(work.data / "val" / "realistic" / "clean" / record["file"])
        if not np.array_equal(_reconstruct_clean(record, images, size), truth):
            raise JRGRError(f"cannot re-cut the clean patch of val/realistic/{record['file']}: the data set's "
                            "patch parameters no longer match backgrounds.random_patch")
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for record in records:
        write_rgb(tmp / record["file"], _reconstruct_clean(record, images, size))
    tmp.rename(target)
    return len(records)


# ---- one training task: (seed, row) ------------------------------------------------------------------------


def evaluate_weights(weights: Path | None, pairs: list[tuple[Path, Path]]) -> dict[str, float]:
    """Mean scores of F_r of a checkpoint, or of the rainy input itself when `weights` is None."""
    from jrgr_deploy.training.evaluate import evaluate_removal
    from jrgr_deploy.training.tracing import score_checkpoint

    if weights is None:
        report = evaluate_removal(lambda x: x, pairs, multiple=1)
        return {m: round(float(report[m]), 4) for m in METRICS}
    return score_checkpoint(weights, pairs)


def _checkpoint_step(path: Path) -> int:
    from jrgr_deploy.checkpoint import load_checkpoint

    return load_checkpoint(path).step if path.is_file() else 0


def _task_config(plan: Plan, work: Work, seed: int, row: str):
    """The resolved config of one training task (stage-1 rows, or a method from the seed's supervised net)."""
    from jrgr_deploy.config import JRGRConfig

    data = work.data
    synthetic = [f"data.paired_rainy={data / 'train/synthetic/rainy'}",
                 f"data.paired_clean={data / 'train/synthetic/clean'}", f"data.real={data / 'train/real/rainy'}"]
    base = plan.base_overrides(seed)
    if row == "supervised":
        overrides = [*base, *synthetic, f"train.stage1_iters={plan.stage1_iters}",
                     f"train.batch_size={plan.stage1_batch}", f"train.checkpoint_every={plan.stage1_iters}"]
    elif row == "oracle":
        oracle = [f"data.paired_rainy={data / 'train/real/rainy'}", f"data.paired_clean={work.oracle_clean}"]
        overrides = [*base, *oracle, f"train.stage1_iters={plan.stage1_iters}",
                     f"train.batch_size={plan.stage1_batch}", f"train.checkpoint_every={plan.stage1_iters}"]
    else:
        method = METHODS[row]
        init = work.stage1(plan, seed)
        stage_iters = "stage1_iters" if method.kind == "continued" else "stage2_iters"
        overrides = [*base, *synthetic, f"train.{stage_iters}={plan.iters}", f"train.batch_size={plan.batch}",
                     f"train.checkpoint_every={plan.iters}", f"train.init_from={init}", *method.overrides]
    return JRGRConfig.from_preset("tiny").with_overrides(overrides)


def run_task(plan: Plan, work_root: str, seed: int, row: str) -> dict[str, Any]:
    """Train (or resume) one (seed, row) and trace it on val/realistic; returns its trace. Idempotent."""
    import torch

    from jrgr_deploy.training.tracing import even_marks, train_traced

    torch.set_num_threads(1)
    work = Work(Path(work_root))
    config = _task_config(plan, work, seed, row)
    run_dir = work.run(seed, row)
    if row in ("supervised", "oracle"):
        train_stage1(config, run_dir, plan.stage1_iters)
        return {"seed": seed, "row": row}
    stage = "stage1" if METHODS[row].kind == "continued" else "stage2"
    trace = train_traced(config, run_dir, stage, work.pairs("val/realistic"), even_marks(plan.iters, plan.val_points),
                         work.stage1(plan, seed),
                         on_slice=lambda _step, seconds: _add_seconds(run_dir, seconds))
    return {"seed": seed, "row": row, "trace": trace}


def train_stage1(config: Any, run_dir: Path, iters: int) -> Path:
    """Train (or resume) a stage-1 net with `config` until RUN_DIR's checkpoint holds `iters` steps, adding the
    time to RUN_DIR/wall_s.json -> the checkpoint. Idempotent."""
    from jrgr_deploy.training.trainer import STAGE1_FILE, train

    if _checkpoint_step(run_dir / STAGE1_FILE) < iters:
        start = time.perf_counter()
        train(config, run_dir, stages=("stage1",), resume=True, progress=False)
        _add_seconds(run_dir, time.perf_counter() - start)
    return run_dir / STAGE1_FILE


def _add_seconds(run_dir: Path, seconds: float) -> None:
    path = run_dir / "wall_s.json"
    total = json.loads(path.read_text())["wall_s"] if path.is_file() else 0.0
    path.write_text(json.dumps({"wall_s": round(total + seconds, 1)}) + "\n")


def _wall_s(run_dir: Path) -> float:
    path = run_dir / "wall_s.json"
    return json.loads(path.read_text())["wall_s"] if path.is_file() else 0.0


def stage1_seeds(plan: Plan, seeds: list[int]) -> list[int]:
    """The seeds whose stage 1 is trained: every seed's, or only the shared one."""
    return seeds if plan.stage1_seed is None else [plan.stage1_seed]


def method_seeds(method: str, seeds: list[int]) -> list[int]:
    """The seeds a method runs with: all of the run's, or its first `Method.seeds`."""
    count = METHODS[method].seeds
    return seeds if count is None else seeds[:count]


def _run_tasks(plan: Plan, work: Work, tasks: list[tuple[int, str]], jobs: int) -> None:
    if jobs <= 1 or len(tasks) <= 1:
        for seed, row in tasks:
            run_task(plan, str(work.root), seed, row)
        return
    import multiprocessing

    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_worker_logging) as pool:
        for future in [pool.submit(run_task, plan, str(work.root), seed, row) for seed, row in tasks]:
            future.result()


def _worker_logging() -> None:
    from machine import benchmark_logging

    benchmark_logging(quiet=())


# ---- scores and the table -----------------------------------------------------------------------------------


def test_scores(work: Work, weights: Path | None, cache_key: str) -> dict[str, dict[str, float]]:
    """Scores on both test splits, cached in WORK/test_scores.json under `cache_key`."""
    cache_path = work.root / "test_scores.json"
    cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    if cache_key not in cache:
        cache[cache_key] = {split: evaluate_weights(weights, work.pairs(f"test/{split}")) for split in SPLITS}
        cache_path.write_text(json.dumps(cache, indent=1, sort_keys=True) + "\n")
    return cache[cache_key]


def mean_sd(values: list[float]) -> dict[str, Any]:
    array = np.asarray(values, dtype=np.float64)
    return {"mean": round(float(array.mean()), 4), "sd": round(float(array.std(ddof=1)), 4) if len(array) > 1
            else 0.0, "per_seed": [round(float(v), 4) for v in array]}


def _aggregate(per_seed: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, Any]]:
    return {split: {m: mean_sd([s[split][m] for s in per_seed]) for m in METRICS} for split in SPLITS}


def gap_share(value: float, supervised: float, oracle: float) -> float | None:
    """Share of the supervised-to-oracle gap closed: 0 = supervised, 1 = oracle (None when no gap)."""
    if oracle - supervised <= 1e-9:
        return None
    return (value - supervised) / (oracle - supervised)


def build_table(plan: Plan, work: Work, seeds: list[int], methods: list[str]) -> dict[str, Any]:
    """Mean ± sd over seeds of every row; methods at their val-selected and their last step."""
    from jrgr_deploy.training.tracing import snapshot_path, val_selected_step

    table: dict[str, Any] = {"input": _aggregate([test_scores(work, None, "input")])}
    for row in ("supervised", "oracle"):
        table[row] = _aggregate([test_scores(work, work.stage1(plan, s, row), f"seed{s}/{row}")
                                 for s in stage1_seeds(plan, seeds)])
    traces: dict[str, dict[int, list[dict[str, Any]]]] = {}
    for method in methods:
        traces[method] = {}
        selected, last, steps = [], [], []
        for seed in method_seeds(method, seeds):
            run_dir = work.run(seed, method)
            trace = json.loads((run_dir / "val_trajectory.json").read_text())
            traces[method][seed] = trace
            step = val_selected_step(trace)
            steps.append(step)
            selected.append(test_scores(work, snapshot_path(run_dir, step), f"seed{seed}/{method}/step{step}"))
            last.append(test_scores(work, snapshot_path(run_dir, plan.iters),
                                     f"seed{seed}/{method}/step{plan.iters}"))
        table[f"{method}@val"] = {**_aggregate(selected), "selected_steps": steps}
        table[f"{method}@last"] = _aggregate(last)
    supervised = table["supervised"]["realistic"]["psnr_y"]["mean"]
    oracle = table["oracle"]["realistic"]["psnr_y"]["mean"]
    for row in table.values():
        share = gap_share(row["realistic"]["psnr_y"]["mean"], supervised, oracle)
        row["gap_share_realistic"] = None if share is None else round(share, 4)
    return {"table": table, "val_trajectories": traces}


def collapse_report(trace: list[dict[str, Any]]) -> dict[str, float]:
    """How far the val curve fell below its start (step 0) at its worst, and last step vs val-selected."""
    start = next(p["psnr_y"] for p in trace if p["step"] == 0)
    later = [p["psnr_y"] for p in trace if p["step"] > 0]
    best = max(later)
    return {"start_db": start, "worst_drop_below_start_db": round(start - min(later), 4),
            "best_db": best, "last_db": later[-1], "last_below_best_db": round(best - later[-1], 4)}


def goals(results: dict[str, Any], best: str | None) -> dict[str, dict[str, Any]]:
    """The issue's done-when on the 3-seed means (test/realistic PSNR-Y unless said)."""
    table = results["table"]
    if best is None or f"{best}@val" not in table or "supervised_continued@val" not in table:
        return {}
    mean = {row: table[row]["realistic"]["psnr_y"]["mean"] for row in table}
    gain = mean[f"{best}@val"] - mean["supervised_continued@val"]
    share = table[f"{best}@val"]["gap_share_realistic"]
    synth_drop = table["supervised"]["synthetic"]["psnr_y"]["mean"] - table[f"{best}@val"]["synthetic"]["psnr_y"][
        "mean"]
    reports = [collapse_report(t) for t in results["val_trajectories"][best].values()]
    worst_drop = max(r["worst_drop_below_start_db"] for r in reports)
    last_gap = max(r["last_below_best_db"] for r in reports)
    return {
        f"{best} (val-selected) >= supervised, continued + 1.9 dB": {"met": gain >= 1.9, "value": f"{gain:+.2f} dB"},
        f"{best} (val-selected) closes >= 60% of the supervised-to-oracle gap": {
            "met": share is not None and share >= 0.6, "value": "n/a" if share is None else f"{100 * share:.0f}%"},
        f"{best}: val curve never > 0.3 dB below its start (worst seed)": {
            "met": worst_drop <= 0.3, "value": f"{worst_drop:+.2f} dB below"},
        f"{best}: last step within 0.3 dB of the val-selected step on val (worst seed)": {
            "met": last_gap <= 0.3, "value": f"{last_gap:.2f} dB"},
        f"{best} on model-A test >= supervised - 1 dB": {"met": synth_drop <= 1.0,
                                                          "value": f"{-synth_drop:+.2f} dB"},
    }


# ---- figures and markdown ---------------------------------------------------------------------------------


def draw_figure(path: Path, work: Work, columns: dict[str, Path | None], rows: int) -> Path:
    """Rainy input / each net / ground truth on the first `rows` test/realistic images (fixed indices,
    consecutive images come from different test photographs: no picking by result)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from jrgr_deploy.checkpoint import load_checkpoint, load_net
    from jrgr_deploy.image_files import read_rgb
    from jrgr_deploy.metrics import psnr_y
    from jrgr_deploy.nn.build import size_multiple
    from jrgr_deploy.training.evaluate import remove_rain

    pairs = work.pairs("test/realistic")[:rows]
    rainy = [read_rgb(r) for r, _ in pairs]
    clean = [read_rgb(c) for _, c in pairs]
    panels: list[tuple[str, list[np.ndarray]]] = [("rainy input (model B)", rainy)]
    for label, weights in columns.items():
        checkpoint = load_checkpoint(weights)
        net = load_net(checkpoint, "f_r")
        panels.append((label, remove_rain(net, rainy, multiple=size_multiple(checkpoint.config, "f_r"))))
    panels.append(("ground truth", clean))
    figure = Figure(figsize=(2.3 * len(panels), 2.55 * len(pairs) + 0.3), dpi=90, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(pairs), len(panels), squeeze=False)
    for row in range(len(pairs)):
        for column, (label, images) in enumerate(panels):
            axis = axes[row][column]
            axis.imshow(images[row])
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                axis.set_title(label, fontsize=8)
            if column < len(panels) - 1:
                axis.set_xlabel(f"PSNR-Y {psnr_y(images[row], clean[row]):.2f} dB", fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    if path.stat().st_size > 1_400_000:  # a 256-colour palette keeps the committed figure small and readable
        from PIL import Image

        Image.open(path).convert("RGB").quantize(256).save(path, optimize=True)
    return path


def draw_curves(path: Path, results: dict[str, Any]) -> Path:
    """Val/realistic PSNR-Y against iterations, every method and seed (thin) and their mean (thick)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.5, 4.2), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axis = figure.subplots()
    for k, (method, by_seed) in enumerate(results["val_trajectories"].items()):
        colour = f"C{k}"
        steps = [p["step"] for p in next(iter(by_seed.values()))]
        values = np.array([[p["psnr_y"] for p in trace] for trace in by_seed.values()])
        for trace_values in values:
            axis.plot(steps, trace_values, color=colour, alpha=0.3, linewidth=0.8)
        axis.plot(steps, values.mean(axis=0), color=colour, linewidth=2, label=method)
    axis.set_xlabel("iterations after stage 1")
    axis.set_ylabel("val/realistic PSNR-Y (dB)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    figure.savefig(path)
    return path


def _cell(stats: dict[str, Any], digits: int) -> str:
    return f"{stats['mean']:.{digits}f} ± {stats['sd']:.{digits}f}"


def row_label(row: str) -> str:
    fixed = {"input": "rainy input", "supervised": "supervised (stage 1, model-A pairs)",
             "oracle": "oracle (model-B pairs; impossible for real rain)"}
    if row in fixed:
        return fixed[row]
    method, _, when = row.partition("@")
    return f"{METHODS[method].label}, {'val-selected step' if when == 'val' else 'last step'}"


def markdown_section(results: dict[str, Any]) -> str:
    plan, machine = results["plan"], results["machine"]
    table = results["table"]
    seeds = results["seeds"]
    lines = [
        "Paper Table 1 analogue on an offline proxy. Clean photographs (`../shared/data/backgrounds`: Urban100, "
        "BSD68, Sun-Hays80 — see that folder's README) are split by photograph into a synthetic part (model-A "
        "rain, paired), a real part (model-B rain, unpaired), a validation part no training split uses and a "
        "test part. "
        + ("Every method starts from the same seed's supervised net" if plan["stage1_seed"] is None else
           f"Stage 1 (supervised, oracle) is trained once (seed {plan['stage1_seed']}); every method starts from "
           "that supervised net with each seed of its own, so the ± measures the methods' seeds, not stage 1's; "
           "every method")
        + " runs the same iterations, batch, "
        "crops and lr schedule; every method is read at its val-selected step (best val PSNR-Y, the same rule "
        "for all) and at its last step. Mean ± sd over seeds "
        f"{', '.join(map(str, seeds))}; whole test images, nets in eval mode. Gap share = (row − supervised) / "
        "(oracle − supervised), PSNR-Y means.",
        "",
        f"Command: `{results['command']}`  ",
        f"Machine: {machine['cpu']}, {machine['cores']} cores (shared with other work), torch "
        f"{machine['libraries'].get('torch', '?')}, one thread per training, GPU: {machine['gpu'] or 'none'}; "
        f"date {machine['date_utc']} UTC; jrgr-deploy {machine['libraries'].get('jrgr-deploy', '?')}.  ",
        f"Data: {plan['size']}² images, {plan['n_synthetic']} model-A pairs, {plan['n_real']} unpaired model-B, "
        f"{plan['n_val']} val, {plan['n_test']} test (rain preset `{plan['rain_preset']}`, data seed "
        f"{plan['data_seed']}, model-B depth `{plan.get('depth_model', 'ground_plane')}`); photographs per part: "
        + ", ".join(f"{k} {len(v)}" for k, v in results["backgrounds"].items() if isinstance(v, list))
        + f". `tiny` preset, crops {plan['crop_size']}²; stage 1 {plan['stage1_iters']} its at batch "
        f"{plan['stage1_batch']}; every method {plan['iters']} its at batch {plan['batch']}. Training wall time "
        f"{results['wall_min']:.0f} min in all.",
        "",
        "| row | seeds | test/realistic PSNR-Y | SSIM-Y | PSNR-RGB | gap share | test/synthetic PSNR-Y "
        "| selected steps |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row, stats in table.items():
        share = stats.get("gap_share_realistic")
        real, synth = stats["realistic"], stats["synthetic"]
        lines.append(
            f"| {row_label(row)} | {len(real['psnr_y']['per_seed'])} | {_cell(real['psnr_y'], 2)} | "
            f"{_cell(real['ssim_y'], 4)} | "
            f"{_cell(real['psnr_rgb'], 2)} | {'—' if share is None else f'{100 * share:.0f}%'} | "
            f"{_cell(synth['psnr_y'], 2)} | {', '.join(map(str, stats.get('selected_steps', []))) or '—'} |"
        )
    if results.get("goals"):
        lines += ["", "Goals (3-seed means, test/realistic PSNR-Y unless said): " + "; ".join(
            f"{name}: **{'met' if g['met'] else 'NOT met'}** ({g['value']})" for name, g in results["goals"].items())
                  + "."]
    for note in results.get("notes", []):
        lines += ["", note]
    lines += ["", f"![val curves]({results['curves']})", "", f"![quality figure]({results['figure']})", "",
              "Results: `benchmarks/results/quality.json` (per-seed scores, val trajectories, commands of every "
              "row's config). Methods (config switches on the `tiny` preset, each reproducible with "
              "`jrgr train ... --set KEY=VALUE`):", ""]
    for name in results["methods"]:
        method = METHODS[name]
        lines.append(f"- `{name}` ({method.kind}): {quoted(method.overrides) or 'no switch'}")
    return "\n".join(lines)


# ---- main -------------------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    from machine import machine_report

    plan = QUICK if args.quick else Plan()
    if args.iters:
        plan = replace(plan, iters=args.iters)
    if args.val_points:
        plan = replace(plan, val_points=args.val_points)
    if args.shared_stage1 is not None:
        plan = replace(plan, stage1_seed=args.shared_stage1)
    if args.set:
        plan = replace(plan, net_overrides=tuple(args.set))
    if args.depth_model:
        plan = replace(plan, depth_model=args.depth_model)
    work = Work(Path(args.work))
    work.root.mkdir(parents=True, exist_ok=True)
    methods = args.methods or list(QUICK_METHODS if args.quick else METHODS)
    for name in methods:
        if name not in METHODS:
            from jrgr_deploy.errors import JRGRError

            raise JRGRError(f"unknown method '{name}': expected one of {', '.join(METHODS)}")
    seeds = args.seeds

    backgrounds = None if args.quick else Path(args.backgrounds)
    if backgrounds is not None and not backgrounds.is_dir():
        from jrgr_deploy.errors import JRGRError

        raise JRGRError(f"backgrounds folder '{backgrounds}' does not exist: pass --backgrounds DIR (the project "
                        "uses ../shared/data/backgrounds, 248 photographs from Urban100, BSD68 and Sun-Hays80)")
    manifest = prepare_data(work, backgrounds, plan)
    prepare_oracle_clean(work, backgrounds, manifest)
    logger.info("data ready in %s: photographs %s", work.data,
                {k: len(v) for k, v in manifest["backgrounds"].items() if isinstance(v, list)})

    _run_tasks(plan, work, [(s, row) for s in stage1_seeds(plan, seeds) for row in ("supervised", "oracle")],
               args.jobs)
    _run_tasks(plan, work, [(s, m) for m in methods for s in method_seeds(m, seeds)], args.jobs)

    results: dict[str, Any] = {"benchmark": "quality", "plan": asdict(plan), "seeds": seeds, "methods": methods}
    results.update(build_table(plan, work, seeds, methods))
    best = args.best if args.best in methods else None
    results["goals"] = goals(results, best)
    results["collapse"] = {m: {str(s): collapse_report(t) for s, t in by_seed.items()}
                           for m, by_seed in results["val_trajectories"].items()}
    results["configs"] = {m: list(METHODS[m].overrides) for m in methods}
    results["backgrounds"] = {k: v for k, v in manifest["backgrounds"].items()}
    results["wall_min"] = (sum(_wall_s(work.run(s, r)) for s in stage1_seeds(plan, seeds)
                               for r in ("supervised", "oracle"))
                           + sum(_wall_s(work.run(s, m)) for m in methods for s in method_seeds(m, seeds))) / 60
    command = "python benchmarks/quality.py" + (" --quick" if args.quick else
                                                f" --backgrounds {args.backgrounds_text}")
    command += f" --seeds {' '.join(map(str, seeds))}" + (f" --iters {args.iters}" if args.iters else "")
    command += f" --val-points {args.val_points}" if args.val_points else ""
    command += f" --shared-stage1 {args.shared_stage1}" if args.shared_stage1 is not None else ""
    command += "".join(f" --set {switch}" for switch in args.set)
    command += f" --depth-model {args.depth_model}" if args.depth_model else ""
    if args.methods:
        command += " --methods " + " ".join(args.methods)
    if args.best:
        command += f" --best {args.best}"
    results["command"] = command
    results["notes"] = args.note
    results_dir = Path(args.results)
    name = "quality_quick" if args.quick else "quality"
    from jrgr_deploy.training.tracing import snapshot_path

    columns = {"supervised": work.stage1(plan, seeds[0])}
    for method in methods:
        step = results["table"][f"{method}@val"]["selected_steps"][0]
        columns[f"{method} (step {step})"] = snapshot_path(work.run(seeds[0], method), step)
    columns["oracle"] = work.stage1(plan, seeds[0], "oracle")
    figure = draw_figure(results_dir / f"{name}.png", work, columns, plan.figure_rows)
    curves = draw_curves(results_dir / f"{name}_curves.png", results)
    results["figure"] = os.path.relpath(figure, REPO) if figure.is_relative_to(REPO) else str(figure)
    results["curves"] = os.path.relpath(curves, REPO) if curves.is_relative_to(REPO) else str(curves)
    results["machine"] = machine_report()
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / f"{name}.json").write_text(json.dumps(results, indent=1) + "\n")
    if args.markdown:
        from markdown_sections import replace_section

        replace_section(args.markdown, "Quality", markdown_section(results))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="CI smoke run: scikit-image photographs, a few steps")
    parser.add_argument("--backgrounds", default=str(DEFAULT_BACKGROUNDS),
                        help="folder of clean photographs (default ../shared/data/backgrounds)")
    parser.add_argument("--work", default=None, help="data, runs and checkpoints (default benchmarks/work/quality)")
    parser.add_argument("--results", default=str(HERE / "results"), help="where quality*.json/png go")
    parser.add_argument("--markdown", default=None,
                        help="BENCHMARKS.md to update (default: the repository's for a full run, none for --quick); "
                             "'none' skips")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds (default 0 1 2)")
    parser.add_argument("--methods", nargs="+", default=None,
                        help=f"rows to train (default all: {', '.join(METHODS)}; with --quick: "
                             f"{' '.join(QUICK_METHODS)})")
    parser.add_argument("--best", default=None, help="the method the goals are checked on")
    parser.add_argument("--iters", type=int, default=0, help="override every method's iterations")
    parser.add_argument("--val-points", type=int, default=0, help="override the val evaluations per method run")
    parser.add_argument("--shared-stage1", type=int, default=None, metavar="SEED",
                        help="train stage 1 (supervised, oracle) once, with SEED, and start every seed's methods "
                        "from it: the spread then measures the methods' own seeds, not stage 1's")
    parser.add_argument("--jobs", type=int, default=1, help="trainings at once (one torch thread each)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a config switch of every row, stage 1 and the oracle included (repeatable; a variant "
                             "of the whole benchmark, e.g. model.removal.norm=none: give it its own --work)")
    parser.add_argument("--depth-model", default=None, choices=DEPTH_MODELS,
                        help="model B's scene depth (default ground_plane; street_canyon: the veil varies by row "
                        "and column, a data variant: give it its own --work)")
    parser.add_argument("--note", action="append", default=[], help="a paragraph for BENCHMARKS.md (repeatable)")
    args = parser.parse_args(argv)
    args.backgrounds_text = args.backgrounds if args.backgrounds != str(DEFAULT_BACKGROUNDS) else \
        "../shared/data/backgrounds"
    if args.work is None:
        args.work = str(HERE / "work" / ("quality_quick" if args.quick else "quality"))
    from markdown_sections import resolve_markdown

    resolve_markdown(args, REPO / "BENCHMARKS.md")
    from machine import benchmark_logging

    benchmark_logging(quiet=())
    from jrgr_deploy.errors import JRGRError

    try:
        results = run(args)
    except JRGRError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for row, stats in results["table"].items():
        cells = (f"{split}: {stats[split]['psnr_y']['mean']:.2f} ± {stats[split]['psnr_y']['sd']:.2f} dB"
                 for split in SPLITS)
        print(f"{row:32s} " + "  ".join(cells))
    for goal, status in results["goals"].items():
        print(f"{'MET' if status['met'] else 'NOT MET'}: {goal} ({status['value']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
