"""`jrgr adapt`: one command from a camera's rainy footage to a derain model for that camera.

    FOOTAGE (video, image folder, camera index or URL)  -> frames of the real domain O_r
    DRY footage of the same camera (optional)           -> synthetic pairs (model-A rain on dry frames), the
                                                           real domain's clean images for D_B (`data.real_clean`)
                                                           and moment-transfer pseudo-pairs (below)
    otherwise clean photographs (bundled or --clean)    -> synthetic pairs (model-A rain; for self-training
                                                           model A and model B alternating: `PAIR_RAINS`)
    held-out clean images + model-B rain                -> a proxy validation set WITH ground truth
    stage 2 from the shipped checkpoint (its nets and losses; JRGR+'s losses if it was last self-trained), within
    the time budget, traced on the proxy validation, in one of two recipes (`--recipe`):
    - self-training (`SELF_TRAINING_RECIPE`; the default without dry footage): F_r learns the footage's
      pseudo-labels (`loss.weights.mse_fr_pl`): every footage frame with 0.9 of its row-by-row dark-channel veil
      removed, then derained by the starting net on the frame enlarged 2.5 times and shrunk back
      (`loss.pl_label_scale`, below); their detail above an 8-pixel blur is made again, the same way, by the net
      being trained at a third and two thirds of the run (`loss.pl_refresh_detail_px`). Beside them F_r is held
      to the starting net on the synthetic pairs' rainy images, other scenes, half of them under model B's veil
      (`loss.weights.mse_fr_keep`), and taught their clean photographs (`loss.weights.mse_fr_os`); no adversarial
      or cycle term, so stage 2 runs without the joint graph (`training.losses.removal_only`)
      -> the latest snapshot that is at least as good as the starting net on the proxy validation, both without
         the veil stage (the labels carry it); a snapshot is deployed mixed with the starting net in weight space
         (`SELF_TRAINING_START_SHARE` of the start's weights, below), unless the mix scores below the start on the
         proxy validation; where no snapshot reaches the start, the last one mixed at the least larger share
         (0.4, 0.5, ... 0.9) that does (`mix_to_pass`), or else the starting net as it is, with no veil stage
         (one chosen for it on the proxy validation cost 1.05 dB on the benchmark's camera from v4); where the
         rule keeps the start or mixes in more of it than `--start-share`, the sheet also shows the last snapshot
         as it is, and `--snapshot last` deploys that one instead (`SNAPSHOTS`);
    - joint (JRGR+; the default with `--dry`, which adds `DRY_RECIPE`)
      -> the snapshot and the runtime's veil-removal strength picked together by the never-worse rule (the best
         proxy-val PSNR-Y of F_r followed by `jrgr_deploy/veil_removal.py` at each of `VEIL_STRENGTHS`, or the
         starting net without veil removal if nothing beats it), without dry footage only among the snapshots
         that keep the camera's own scene (the scene guard, below)
    -> OUT/f_r.onnx + sidecar (with that strength: `jrgr derain` applies it), OUT/before_after.png, the
       `jrgr derain` line to run.

Why self-training is the default without dry footage: joint training then has D_B compare F_r's output on the
footage with clean photographs of other scenes, so F_r drifts towards their scenes (the scene guard below only
limits the damage); from the default model v3 its best snapshots gained under 0.1 dB on the benchmark's camera.
The pseudo-labels hold what the runtime's veil stage does, on this camera's own frames, so a net trained on them
removes the veil itself and never left the camera's scene in any measured run. Trained on them alone, though, it
also changed what it does on other scenes: the proxy validation fell 3-4 dB while the camera gained 1.1 dB, and
the rule then kept the first snapshots. Holding F_r to the starting net on the synthetic pairs (a trust region in
what the net does, not in its weights) kept the proxy at or above its start in most runs while the camera kept
most of its gain (BENCHMARKS.md, "Camera adaptation", "Held to the starting net"). With model-A rain alone on
those pairs (streaks, no veil) the term did not hold what the labels change, the net's work under a veil, and in
runs of 20 minutes the proxy (model-B rain) fell below its start on one of two seeds; with every other pair under
model B's veil it stayed at or above its start at every snapshot measured, and the rule took the last step
(BENCHMARKS.md, "Pairs under a veil"). The rule cannot see the camera itself: on the benchmark's camera where
removing veil hurts, 20 minutes learnt more of the labels' veil removal than 600 steps did and ended 0.03 dB below
the start on one seed. The labels read the veil row
by row, as a camera looking along a street sees it (haze grows with distance, and distance with the row);
the benchmark's cameras are such views, so a camera that looks at a wall or down from above is outside what was
measured: compare the before/after sheet, or pass `--recipe joint`. With `--dry --recipe self-training` the
synthetic pairs show the camera's own scene, so the term then holds F_r on it too (not measured since it was added;
`--set loss.weights.mse_fr_keep=0` takes it off).

Why F_r is also taught the synthetic pairs: held to the starting net alone, the net moved on other scenes by about as
much as the proxy validation's one photograph could tell, and which way it moved decided the deployed net: from v4
at `--minutes 20`, one seed of three on the benchmark's camera ended 0.05 dB below its start there, and the last
snapshot went out mixed with 0.7 of the start (+0.49 dB on the camera against +1.34 and +1.39). Taught the pairs'
clean photographs as well (other scenes, half under model B's veil, the proxy validation's rain on other
photographs), every measured run ended 0.5-1.1 dB above its start on the proxy validation, so the rule took the
last step on every run: +1.42 to +1.56 dB on the benchmark's camera (27.86 +- 0.07 over three seeds, where the recipe
without the pairs' photographs gave 27.45 +- 0.51), and each of three more cameras at or above what that recipe
gave (BENCHMARKS.md, "Camera adaptation", "F_r also taught the synthetic pairs").

Why labels made at a larger scale: the default model v4 scores higher on a camera's 640-pixel-wide frames enlarged
than on the frames as they are (why was not measured; perhaps the streaks it learnt on are larger in pixels than the
benchmark rain's at that width). On the benchmark's camera its labels (veil removed first, S 0.9) score 25.88 dB
PSNR-Y against the frames' ground truth as they were, 26.58 made at 2x, 27.00 at 2.5x and 27.26 at 3x
(`benchmarks/label_scale.py`; v4 alone on the later frames 26.37), and the net trained on them runs at the frame's
own size, as fast as before: from v4 at `--minutes 20`, 26.37 -> 27.45 +- 0.51 dB deployed over three seeds (+0.49
to +1.39; the last step as it is 28.19 +- 0.05), where labels made at 1x gave 26.33 +- 0.87; on two more street
cameras +2.25 and +1.34 dB, but on a highway under a wide bright sky -1.44 (the row-by-row veil removal of the
labels darkens the sky, as it did from v3; labels without it scored 0.43 dB higher against the benchmark camera's
ground truth but trained a net 1.0 dB lower there: BENCHMARKS.md, "Labels without the veil stage"). 2.5 rather than
3: a labelling pass at 2.5x took about 2 minutes of a 20-minute budget on the benchmark's 2-core machine (three
passes a run: the timing probe's, which the run takes as its first labels, and two refreshes); at 3x it would take
about 3. The factor is fixed, not read from the footage: frames wider than `--frame-width` (640) are shrunk to it
first, so it is relative to that width, and footage whose rain already looks large there (heavy drops close to the
lens, a narrower frame) was not measured (BENCHMARKS.md, "Camera adaptation", "Labels made at a larger scale").

Why the mix: on the third camera a long run fits the labels ever more closely (on held-out frames of the camera its
output came within 32-33 dB PSNR-Y of their labels after 3,000-6,000 steps, against 29-30 after 500-1,000) while its
score against the camera's ground truth fell from +0.8 dB over the start at step 500 to +0.2-0.4 at step 6,000. The
labels hold errors of their own (they are the starting net on frames whose veil was estimated, not clean frames),
and the closer the net copies them the more of those it keeps. The average of the start's and the last snapshot's
weights, a net between the two in weight space, scored better than either there. It is a trade between cameras,
not a gain on each: at --minutes 20 the mix gained 0.92 and 0.41 dB over the snapshot as it is on two cameras
and lost 2.13 on the third, under heavy haze, where removing the veil is most of the gain; it kept all three above
the starting net, which the snapshot as it is had not always done (BENCHMARKS.md, "Camera adaptation", "Mixed with
the starting net"). Neither the proxy validation (within 0.11 dB across shares, not with the camera) nor
agreement with the labels on held-out footage frames (it rises as the camera falls) could choose the share, so it
is a fixed one; `--start-share 0` deploys the snapshot as it is. 0.5 was checked as the default on two more
cameras with a rule written down first: it kept every camera of seven at or within 0.07 dB of the start (0.3 left a
highway under a blue sky, whose labels take the sky for veil, 2.1 dB below) but lowered the mean gain and five of
the seven, so 0.3 stayed (a second seed of the two cameras turned the means round: too close to choose by;
BENCHMARKS.md, "Share 0.3 or 0.5?"); a second rule, weighing the worst case, written down before four more runs,
kept 0.3 by 0.06 dB ("Share 0.3 or 0.5, judged worst case first"). A share is the user's to change after a run: the
same command with another `--start-share` finds the training done and only mixes again.

The veil strength is chosen with the jointly trained net because the runtime removes the veil after it: F_r leaves
most of the veil of distant rain (BENCHMARKS.md, "Veil removal"), and how much of it a strength should take away
depends on the net it follows.

With dry footage, both domains show the same scene, so the difference between the cell moments of the rainy
footage and of the synthetic pairs is the rain's (its veil), not the scene's: the recipe then adds the
moment-transfer pseudo-pairs (`DRY_RECIPE`, `jrgr_deploy.moment_transfer`), which lifted the camera-adaptation
benchmark by a further 0.14 dB at 1,500 iterations and 0.32 dB at 600 (3 seeds; BENCHMARKS.md, "Camera
adaptation"). Without dry footage the footage's moments mix scene and rain, so they stay off.
`--set loss.weights.mse_fr_mt=0` turns them off. For the same reason the exported model then carries a tone map
(`--tone`, `DRY_TONE_STRENGTH`; `jrgr export --tone`): the runtime re-tones each derained frame from the cell
moments the chosen net leaves on the footage to the dry footage's, and no veil stage is chosen (the net is the
never-worse rule's). The dry footage's light is first brought to the rainy footage's (`jrgr export --tone-light
match`, `moment_transfer.light_gain`: read through the veil across the picture's cells), since a dry day is rarely
lit like a rainy one and the map would pass that difference on; where the cells cannot tell light from veil the
map keeps the dry day's light and, without `--tone`, is written at `DRY_TONE_STRENGTH_UNMATCHED`. On the
benchmark's three cameras the map after the shipped model alone gained 4.5 to 7.4 dB at full strength, the same
to within 0.7 dB with the dry clip 15 % darker or brighter; fitted to the dry clip as lit, full strength lost up
to 2.7 dB with the darker clip (BENCHMARKS.md, "Tone map after the net").

With `--recipe joint` and no dry footage the proxy validation shows other scenes, and it does not see what joint
training can do to this camera: D_B compares F_r's output on the footage with clean photographs of other scenes, and
after a while F_r starts to turn the camera's scene into theirs (on the camera-adaptation benchmark the proxy rose
while the camera lost 3 to 6 dB). So a second set is scored beside it, the scene guard: model-B rain rendered on
temporal medians of the footage (the medians keep the scene, its colours and the veil, and lose most streaks); a
snapshot that scores more than `SCENE_GUARD_DB` below the starting net there has changed the scene, not just the
rain, and is not a candidate. On the benchmark every snapshot that was better on the camera than the start was
within 4.2 dB of it on the guard, every one that was worse was more than 6.6 dB below (BENCHMARKS.md, "Camera
adaptation"; one camera, so the margin is a measured one, not a law). The camera gained in the first 100-250 steps
only, so such runs take their snapshots at halving steps (N/32, N/16, ..., N/2, N for N iterations and 6 validation
points) rather than evenly.

Nothing needs ground truth from the camera. Everything is kept under OUT/work: running the same command again
after Ctrl-C resumes (the frames and data are not rebuilt; training continues from its last checkpoint).
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from jrgr_deploy.errors import JRGRError

logger = logging.getLogger(__name__)

MIN_FRAMES = 50
VAL_IMAGES = 16
# without dry footage the proxy validation's patches come from this many held-out photographs of the (six)
# bundled ones; two instead of one did not change a selection on the benchmark (BENCHMARKS.md, "Camera
# adaptation", "Held to the starting net"), so every measured table's one stays; three from v4 evened two seeds out
# (+1.19 and +0.97 dB against +1.39 and +0.49) and missed the rule written down first by 0.03 dB ("A proxy
# validation of three photographs")
VAL_PHOTOS = 1
PAIRS = 400
PATCH_PX = 384  # clean photographs are cut into patches of this size (the scale the default model trained at)
DRY_RECIPE = ("loss.weights.mse_fr_mt=1",)  # what --dry adds to the shipped recipe (before the user's --set)
DRY_TONE_STRENGTH = 1.0  # with --dry: the strength of the tone map written into the sidecar (docstring; --tone)
# with --dry and no --tone, where the dry footage's light cannot be matched to the footage's (too even a veil): the
# map keeps the dry day's light, and 0.5 kept every benchmark camera >= +1 dB with a dry clip 15 % darker
DRY_TONE_STRENGTH_UNMATCHED = 0.5
# `--recipe self-training`: F_r trained on the footage's pseudo-labels (the footage with 0.9 of its row-by-row
# dark-channel veil removed, then derained by the starting net; their detail above an 8-pixel blur made again by
# the net being trained, `SELF_TRAINING_REFRESHES` times), held to the starting net on the synthetic pairs' rainy
# images (other scenes) and taught their clean photographs, with no adversarial or cycle term (module docstring)
SELF_TRAINING_RECIPE = ("loss.weights.mse_fr_pl=1", "loss.pl_veil_removal=row_dark_channel", "loss.pl_veil_first=true",
                        "loss.pl_veil_patch=0.1", "loss.pl_airlight_fraction=0.05", "loss.pl_veil_strength=0.9",
                        "loss.pl_refresh_detail_px=8", "loss.pl_label_scale=2.5", "loss.weights.mse_fr_keep=4",
                        "loss.weights.mse_fr_os=1", "loss.lambda_adv=0", "loss.lambda_cyc=0", "loss.weights.mse_r=0",
                        "loss.weights.mse_s=0")
# the labels' detail is made again at N/3 and 2N/3 of N steps (`loss.pl_refresh_iters`); a run too short for
# that makes none
SELF_TRAINING_REFRESHES = 3
RUN_DIR = "run"  # OUT/work/run: the adaptation's training run
# the timing probe trains 10 steps of a stage this long (`plan_iterations`): a stage that does not complete keeps
# its pseudo-labels, which the run then takes; over 30, so that no refresh falls within the 10 steps
PROBE_STAGE_ITERS = 1000
# the adaptation's crops, whatever the starting checkpoint was trained on (v4: 384² crops of whole photographs): a
# camera's footage at 192² crops is what every `jrgr adapt` measurement trained on, and a crop four times larger
# costs four times the time per step inside the same --minutes
ADAPT_CROP_SIZE = 192
# after self-training: the share of the starting net's weights in the deployed net, a weight-space average with the
# selected snapshot (module docstring, "Why the mix"; `checkpoint.mix_weights`); chosen on the third camera's
# 6,000-step runs, where 0.2-0.3 scored best of 0-0.5; at --minutes 20 it helped two cameras and cost the third
SELF_TRAINING_START_SHARE = 0.3
# the synthetic pairs' rain: model A ("synthetic"), model B ("realistic": streaks under a veil), or the two
# alternating ("mixed"); self-training holds F_r to the starting net on their rainy images and teaches it their
# clean photographs (other scenes)
PAIR_RAINS = ("synthetic", "realistic", "mixed")
RECIPES = ("joint", "self-training")  # `--recipe`; the default: self-training without --dry, joint with it
# `--snapshot`: the rule (never below the start on the proxy validation) or, after self-training, the last snapshot
# whatever the proxy says: the proxy is other scenes, and the user who has looked at the before/after sheet's
# column of the last snapshot on their own camera may know better (BENCHMARKS.md, "Share 0.3 or 0.5, judged worst
# case first": a run whose last step scored +3.2 dB on its camera was kept at the start by 0.04 dB on the proxy)
SNAPSHOTS = ("rule", "last")
SCENE_GUARD_DB = 5.0  # without --dry: most a candidate may lose against the start on the scene guard (docstring)
SCENE_WINDOWS = 5  # the scene guard's temporal medians: one per this share of the footage
SCENE_FILE = "scene_trajectory.json"
# where no self-trained snapshot reaches the start on the proxy validation: the last one is mixed with the start at
# shares above the default in these steps, and the least share that reaches it is deployed (`mix_to_pass`)
KEPT_START_SHARE_STEP = 0.1
VEIL_STRENGTHS = tuple(k / 10 for k in range(8))  # the runtime veil strengths tried with every candidate (0: off)
VEIL_FILE = "veil_scores.json"


@dataclass(frozen=True)
class AdaptRequest:
    """What `jrgr adapt` was asked (see `jrgr adapt --help`)."""

    footage: str
    out_dir: Path
    dry: str | None = None
    minutes: float = 20.0
    weights: Path | None = None
    clean_photos: Path | None = None
    frame_width: int = 640
    max_frames: int = 300
    record_seconds: float = 60.0
    val_points: int = 6
    val_photos: int = VAL_PHOTOS  # without dry footage: held-out photographs of the proxy validation (benchmarks)
    seed: int = 0
    iterations: int | None = None  # a fixed number of training steps instead of fitting --minutes (benchmarks)
    scene_guard_db: float | None = SCENE_GUARD_DB  # None: no scene guard (benchmark rows); joint without dry only
    overrides: tuple[str, ...] = ()
    recipe: str | None = None  # one of RECIPES; None: self-training without dry footage, joint with it
    tone: float | None = None  # the tone map's strength (needs dry footage); None: DRY_TONE_STRENGTH with --dry
    pair_rain: str | None = None  # one of PAIR_RAINS (benchmarks); None: the recipe's (`resolved_pair_rain`)
    start_share: float | None = None  # the start's weights in the deployed net; None: the recipe's
    snapshot: str = "rule"  # one of SNAPSHOTS

    @property
    def tone_strength(self) -> float:
        """The tone map's strength: 0 (none) without dry footage."""
        if self.tone is not None:
            from jrgr_deploy.moment_transfer import check_tone_strength

            check_tone_strength(self.tone, "--tone")
        if self.dry is None:
            if self.tone:
                raise JRGRError("--tone needs --dry: the map is fitted between the derained footage and clean "
                                "footage of the same camera (with other scenes their difference is taken for veil)")
            return 0.0
        return DRY_TONE_STRENGTH if self.tone is None else self.tone

    @property
    def resolved_recipe(self) -> str:
        """The recipe asked for, or the default: self-training without dry footage, joint with it (module
        docstring)."""
        if self.recipe is None:
            return "self-training" if self.dry is None else "joint"
        if self.recipe not in RECIPES:
            raise JRGRError(f"--recipe '{self.recipe}' is not one of {', '.join(RECIPES)}")
        return self.recipe

    @property
    def resolved_pair_rain(self) -> str:
        """The synthetic pairs' rain model asked for, or the recipe's: model A for joint training (its supervised
        terms learn from the pairs), model A and model B alternating for self-training (the pairs hold F_r to the
        starting net on other scenes and teach it their clean photographs, and the labels change what it does under
        a veil; module docstring)."""
        rain = self.pair_rain or ("mixed" if self.self_training else "synthetic")
        if rain not in PAIR_RAINS:
            raise JRGRError(f"pair rain '{rain}' is not one of {', '.join(PAIR_RAINS)}")
        return rain

    @property
    def resolved_start_share(self) -> float:
        """The share of the starting net's weights in the deployed net (a weight-space mix with the selected
        snapshot): `SELF_TRAINING_START_SHARE` after self-training unless asked otherwise; joint training's rule
        chooses a snapshot and a veil strength together, so it deploys the snapshot as it is."""
        if self.start_share is None:
            return SELF_TRAINING_START_SHARE if self.self_training else 0.0
        if not 0.0 <= self.start_share < 1.0:
            raise JRGRError(f"--start-share must be at least 0 and below 1, got {self.start_share:g}")
        if self.start_share and not self.self_training:
            raise JRGRError("--start-share needs --recipe self-training: the joint recipe chooses its snapshot and "
                            "veil strength together, for the snapshot as it is")
        return self.start_share

    @property
    def deploy_last(self) -> bool:
        """Whether the last snapshot is deployed whatever the proxy validation says (`--snapshot last`)."""
        if self.snapshot not in SNAPSHOTS:
            raise JRGRError(f"--snapshot '{self.snapshot}' is not one of {', '.join(SNAPSHOTS)}")
        if self.snapshot == "last" and not self.self_training:
            raise JRGRError("--snapshot last needs --recipe self-training: the joint recipe chooses its snapshot and "
                            "veil strength together on the proxy validation")
        return self.snapshot == "last"

    @property
    def self_training(self) -> bool:
        """Whether the recipe is self-training on the footage's pseudo-labels."""
        return self.resolved_recipe == "self-training"


@dataclass(frozen=True)
class AdaptResult:
    onnx: Path
    sheet: Path
    selected_step: int
    start_psnr_y: float
    selected_psnr_y: float
    veil_strength: float
    iterations: int
    derain_command: str
    tone_strength: float = 0.0
    start_share: float = 0.0  # the start's share of the deployed net's weights (0: the snapshot as it is)
    # the rule kept the start, or mixed the last snapshot at a share above the one asked: its step, in the sheet as
    # it is but not deployed so
    last_step_shown: int = 0


# ---- frames ----------------------------------------------------------------------------------------------


def _resize_to_width(frame: np.ndarray, width: int) -> np.ndarray:
    import cv2

    height, current = frame.shape[:2]
    if current <= width:
        return frame
    new_h = max(16, int(round(height * width / current / 2)) * 2)
    return cv2.resize(frame, (width, new_h), interpolation=cv2.INTER_AREA)


def collect_frames(spec: str, max_frames: int, width: int, record_seconds: float, what: str) -> list[np.ndarray]:
    """Up to `max_frames` RGB frames of a video / image folder (spread evenly over it) or of a camera / stream
    (recorded for `record_seconds`), shrunk to at most `width` pixels wide. Unreadable frames are skipped."""
    import cv2

    from jrgr_deploy.runtime.sources import SourceReadError, open_source

    source = open_source(spec)
    frames: list[np.ndarray] = []
    with source.open():
        if source.live:
            logger.info("recording %s for %.0f s", what, record_seconds)
            deadline = time.monotonic() + record_seconds
            while time.monotonic() < deadline:
                frame = source.read()
                if frame is not None:
                    frames.append(frame)
        else:
            while True:
                try:
                    frame = source.read()
                except SourceReadError as error:
                    logger.warning("%s: stopped reading at frame %d: %s", what, len(frames), error)
                    break
                if frame is None:
                    break
                frames.append(frame)
    if len(frames) > max_frames:
        keep = np.linspace(0, len(frames) - 1, max_frames).round().astype(int)
        frames = [frames[i] for i in keep]
    return [cv2.cvtColor(_resize_to_width(f, width), cv2.COLOR_BGR2RGB) for f in frames]


# ---- data ------------------------------------------------------------------------------------------------


def _write_images(folder: Path, images: list[np.ndarray], names: list[str] | None = None) -> None:
    from jrgr_deploy.image_files import write_rgb

    folder.mkdir(parents=True, exist_ok=True)
    for index, image in enumerate(images):
        write_rgb(folder / (names[index] if names else f"{index:05d}.png"), image)


def _clean_sources(request: AdaptRequest, dry: list[np.ndarray] | None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(images for synthetic pairs, images for the proxy validation): held-out dry frames, or disjoint
    photographs' patches."""
    rng = np.random.default_rng([request.seed, 0xADA])
    if dry is not None:
        order = rng.permutation(len(dry))
        val = [dry[i] for i in order[:VAL_IMAGES]]
        train = [dry[i] for i in order[VAL_IMAGES:]]
        return train, val
    from jrgr_deploy.backgrounds import load_backgrounds, random_patch

    photos = load_backgrounds(request.clean_photos, max_short_side=4 * PATCH_PX)
    if len(photos) < 2:
        raise JRGRError("need at least 2 clean photographs (one kept for the proxy validation); got "
                        f"{len(photos)} in '{request.clean_photos}'")
    order = rng.permutation(len(photos))
    held_out = min(request.val_photos, len(photos) - 1)
    val_photos = [photos[i] for i in order[:held_out]]
    train_photos = [photos[i] for i in order[held_out:]]
    patch = min(PATCH_PX, *(min(p.image.shape[:2]) for p in photos))
    val = [random_patch(val_photos[k % held_out].image, patch, rng)[0] for k in range(VAL_IMAGES)]
    train = [random_patch(train_photos[k % len(train_photos)].image, patch, rng)[0] for k in range(PAIRS)]
    return train, val


def prepare_data(request: AdaptRequest, work: Path) -> dict[str, Any]:
    """Frames, synthetic pairs and the proxy validation set under `work` (skipped when already complete)."""
    from jrgr_deploy.rain import render_rain

    done = work / "data.json"
    if done.is_file():
        return json.loads(done.read_text())
    pair_rain = request.resolved_pair_rain  # checked before the footage is read
    footage = collect_frames(request.footage, request.max_frames, request.frame_width, request.record_seconds,
                             "footage")
    if len(footage) < MIN_FRAMES:
        raise JRGRError(f"footage '{request.footage}' gave {len(footage)} usable frames; adaptation needs at least "
                        f"{MIN_FRAMES} (a longer clip, a folder with more images, or a longer --record-seconds)")
    dry = None
    if request.dry is not None:
        dry = collect_frames(request.dry, request.max_frames, request.frame_width, request.record_seconds,
                             "dry footage")
        if len(dry) < VAL_IMAGES + MIN_FRAMES // 2:
            raise JRGRError(f"dry footage '{request.dry}' gave {len(dry)} usable frames; need at least "
                            f"{VAL_IMAGES + MIN_FRAMES // 2}")
    staging = work / "staging"
    shutil.rmtree(staging, ignore_errors=True)
    _write_images(staging / "footage", footage)
    if dry is not None:
        _write_images(staging / "dry", dry)
    train_clean, val_clean = _clean_sources(request, dry)
    rng = np.random.default_rng([request.seed, 0xDA7A])
    rainy, clean = [], []
    for k in range(PAIRS):
        image = train_clean[k % len(train_clean)]
        preset = str(rng.choice(("light", "medium", "heavy")))
        model = ("synthetic", "realistic")[k % 2] if pair_rain == "mixed" else pair_rain
        rainy.append(render_rain(image, model, preset, int(rng.integers(2**31 - 1))).rainy)
        clean.append(image)
    _write_images(staging / "pairs" / "rainy", rainy)
    _write_images(staging / "pairs" / "clean", clean)
    val_rainy = [render_rain(image, "realistic", str(rng.choice(("light", "medium", "heavy"))),
                             int(rng.integers(2**31 - 1))).rainy for image in val_clean]
    _write_images(staging / "val" / "rainy", val_rainy)
    _write_images(staging / "val" / "clean", val_clean)
    for name in ("footage", "dry", "pairs", "val"):
        target = work / name
        shutil.rmtree(target, ignore_errors=True)
        if (staging / name).exists():
            (staging / name).rename(target)
    shutil.rmtree(staging, ignore_errors=True)
    info = {"footage_frames": len(footage), "dry_frames": len(dry) if dry is not None else 0,
            "pairs": PAIRS, "pair_rain": pair_rain, "val": len(val_clean),
            "clean_source": "dry footage" if dry is not None else str(request.clean_photos or "bundled photographs"),
            "frame_hw": list(footage[0].shape[:2])}
    done.write_text(json.dumps(info, indent=1) + "\n")
    return info


def prepare_scene_guard(work: Path, seed: int) -> list[tuple[Path, Path]]:
    """The scene guard's (rainy, clean) pairs under `work/scene`: model-B rain ('realistic', each preset once) on
    `SCENE_WINDOWS` temporal medians of the footage frames (skipped when already there)."""
    from jrgr_deploy.image_files import list_images, read_rgb
    from jrgr_deploy.pairing import match_pairs
    from jrgr_deploy.rain import render_rain

    scene = work / "scene"
    if not (scene / "done").is_file():
        frames = [read_rgb(path) for path in list_images(work / "footage")]
        shape = frames[0].shape
        frames = [frame for frame in frames if frame.shape == shape]
        rng = np.random.default_rng([seed, 0x5CE7E])
        rainy, clean = [], []
        for window in np.array_split(np.arange(len(frames)), SCENE_WINDOWS):
            median = np.median(np.stack([frames[i] for i in window]), axis=0).round().astype(np.uint8)
            for preset in ("light", "medium", "heavy"):
                rainy.append(render_rain(median, "realistic", preset, int(rng.integers(2**31 - 1))).rainy)
                clean.append(median)
        shutil.rmtree(scene, ignore_errors=True)
        _write_images(scene / "rainy", rainy)
        _write_images(scene / "clean", clean)
        (scene / "done").write_text("")
    return match_pairs(scene / "rainy", scene / "clean")


# ---- training -------------------------------------------------------------------------------------------


def _config(request: AdaptRequest, work: Path, weights: Path, iterations: int, checkpoint_every: int):
    from jrgr_deploy.checkpoint import load_checkpoint
    from jrgr_deploy.config import JRGRConfig
    from jrgr_deploy.training.losses import removal_only

    # The recipes below add to the checkpoint's losses, they do not replace all of them. A starting model last
    # trained by self-training (the shipped v3 to v6) would make `--recipe joint` self-train: its losses become JRGR+'s
    # (the recipe it was jointly trained with); the net (model section) stays the checkpoint's.
    base = load_checkpoint(weights).config
    if removal_only(base.loss):
        base = replace(base, loss=JRGRConfig.from_preset("plus").loss)
    overrides = [
        "data.root=null", f"data.paired_rainy={json.dumps(str(work / 'pairs' / 'rainy'))}",
        f"data.paired_clean={json.dumps(str(work / 'pairs' / 'clean'))}",
        f"data.real={json.dumps(str(work / 'footage'))}",
        f"data.real_clean={json.dumps(str(work / 'dry')) if request.dry is not None else 'null'}",
        f"train.init_from={json.dumps(str(weights))}", f"train.stage2_iters={iterations}",
        f"train.checkpoint_every={checkpoint_every}", "train.image_every=0", "train.log_every=10",
        f"train.seed={request.seed}", "train.veil_warmup_iters=0", "train.device=cpu",
        f"train.crop_size={ADAPT_CROP_SIZE}", "train.crop_width=0",
        # a file of the machine the starting model was trained on (its labels' streak reference) is never read here:
        # the reference and every switch that shapes its carving back to their defaults, and the first labels' net
        "loss.pl_streak_carving=residue", "loss.pl_streak_gain=1", 'loss.pl_streak_keep=""',
        "loss.pl_streak_reference_passes=1", 'loss.pl_streak_reference=""', 'loss.pl_label_net=""',
        # the refresh interval, which the recipe's detail refresh needs (the overrides are checked as a whole)
        *((f"loss.pl_refresh_iters={_refresh_every(iterations)}",) if request.self_training else ()),
        *(SELF_TRAINING_RECIPE if request.self_training else DRY_RECIPE if request.dry is not None else ()),
        *request.overrides,
    ]
    return base.with_overrides(overrides)


def _refresh_every(iterations: int) -> int:
    """Steps between the self-training labels' refreshes: `SELF_TRAINING_REFRESHES` - 1 within the run (rounded
    up, so that no refresh falls in the last third: with a count not divisible by 3 the floor left one a few steps
    before the end, a whole labelling pass whose labels no step used), none in a run under 10 steps a refresh."""
    every = math.ceil(iterations / SELF_TRAINING_REFRESHES)
    return every if every >= 10 else iterations


def _request_record(request: AdaptRequest) -> dict[str, str]:
    """The request as the plan keeps it (to refuse another job in the same folder), its recipe resolved."""
    return {**{k: str(v) for k, v in asdict(request).items()}, "recipe": request.resolved_recipe,
            "pair_rain": request.resolved_pair_rain}


def plan_iterations(request: AdaptRequest, work: Path, weights: Path, seconds_left: float,
                    scene_pairs: list[tuple[Path, Path]]) -> dict[str, Any]:
    """Iterations that fit the budget, from the time of a few real steps and of one validation pass (and one scene
    guard pass when there are `scene_pairs`)."""
    from jrgr_deploy.training.tracing import score_checkpoint
    from jrgr_deploy.training.trainer import train

    plan_path = work / "plan.json"
    if plan_path.is_file():
        return json.loads(plan_path.read_text())
    if request.iterations is not None:
        plan = {"iterations": request.iterations, "request": _request_record(request)}
        plan_path.write_text(json.dumps(plan, indent=1) + "\n")
        return plan
    probe = work / "timing_probe"
    shutil.rmtree(probe, ignore_errors=True)
    steps = 10
    # the probe's steps of a longer stage: stopped before it completes, it keeps its labels for the run
    config = _config(request, work, weights, PROBE_STAGE_ITERS, steps)
    planning_began = time.perf_counter()
    result = train(config, probe, stages=("stage2",), progress=False, max_steps=steps)
    probe_s = time.perf_counter() - planning_began
    step_s = config.train.batch_size / result.stages[0].images_per_s
    # self-training labels every footage frame at the start and at each refresh; the probe labelled them once
    # before its steps, so the rest of its time is about one labelling pass (plus its set-up: on the safe side)
    labels_s = max(0.0, probe_s - steps * step_s) if request.self_training else 0.0
    # the run's first labels are the probe's (the same net, footage and settings): one pass fewer to make
    labels_passes = (SELF_TRAINING_REFRESHES - _hand_over_labels(probe, work / RUN_DIR)) if request.self_training \
        else 0

    def pass_s(pairs: list[tuple[Path, Path]]) -> float:
        """Seconds of one scoring pass of the starting net over `pairs` (0 without pairs)."""
        if not pairs:
            return 0.0
        start = time.perf_counter()
        score_checkpoint(weights, pairs)
        return time.perf_counter() - start

    eval_s, guard_s = pass_s(_val_pairs(work)), pass_s(scene_pairs)
    shutil.rmtree(probe, ignore_errors=True)
    # the export and the sheet take about two validation passes, the veil strengths one more per snapshot, the mix
    # with the start one; the scene guard scores every snapshot once more; and this plan's own probe and passes are
    # spent already
    planning_s = time.perf_counter() - planning_began
    training_s = seconds_left - planning_s - (2 * request.val_points + 5) * eval_s \
        - (request.val_points + 1) * guard_s - labels_passes * labels_s
    iterations = int(training_s / step_s)
    if iterations < request.val_points * 10:
        need = (request.val_points * 10 * step_s + (2 * request.val_points + 5) * eval_s
                + (request.val_points + 1) * guard_s + labels_passes * labels_s) / 60
        raise JRGRError(f"--minutes {request.minutes:g} leaves time for {max(0, iterations)} training steps "
                        f"({step_s:.2f} s each) and the {request.val_points} validations; give at least "
                        f"--minutes {math.ceil(need + planning_s / 60 + 1)}")
    plan = {"iterations": iterations, "step_s": round(step_s, 3), "eval_s": round(eval_s, 2),
            "guard_s": round(guard_s, 2), "labels_s": round(labels_s, 2), "labels_passes": labels_passes,
            "planning_s": round(planning_s, 1), "request": _request_record(request)}
    plan_path.write_text(json.dumps(plan, indent=1) + "\n")
    return plan


def _hand_over_labels(probe: Path, run_dir: Path) -> int:
    """Move the timing probe's complete pseudo-labels (self-training) to the run's folder, where the run finds them
    made (their record is checked there as for any resume) -> 1 if moved, 0 if the probe made none. A folder
    already there is a crashed attempt's between this move and the plan: replaced."""
    from jrgr_deploy.training.data import PSEUDO_LABELS_FILE
    from jrgr_deploy.training.trainer import PSEUDO_LABELS_DIR

    labels = probe / PSEUDO_LABELS_DIR
    if not (labels / PSEUDO_LABELS_FILE).is_file():
        return 0
    target = run_dir / PSEUDO_LABELS_DIR
    shutil.rmtree(target, ignore_errors=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    shutil.move(labels, target)
    return 1


def _val_pairs(work: Path) -> list[tuple[Path, Path]]:
    from jrgr_deploy.pairing import match_pairs

    return match_pairs(work / "val" / "rainy", work / "val" / "clean")


# ---- veil strength ---------------------------------------------------------------------------------------


def veil_scores(weights: Path, pairs: list[tuple[Path, Path]], strengths: tuple[float, ...] = VEIL_STRENGTHS
                ) -> dict[str, float]:
    """Mean PSNR-Y on `pairs` of the checkpoint's F_r followed by the runtime's veil removal at each strength
    (keys: the strengths as text): F_r runs once per image, the veil stage once per strength."""
    from jrgr_deploy.checkpoint import load_checkpoint, load_net
    from jrgr_deploy.image_files import read_rgb
    from jrgr_deploy.metrics import psnr_y
    from jrgr_deploy.nn.build import size_multiple
    from jrgr_deploy.training.evaluate import remove_rain
    from jrgr_deploy.veil_removal import remove_veil

    checkpoint = load_checkpoint(weights)
    clean = [read_rgb(c) for _, c in pairs]
    derained_bgr = [np.ascontiguousarray(image[..., ::-1]) for image in remove_rain(
        load_net(checkpoint, "f_r"), [read_rgb(r) for r, _ in pairs], multiple=size_multiple(checkpoint.config, "f_r"))]
    return {str(strength): round(float(np.mean([psnr_y(remove_veil(d, strength)[..., ::-1], c)
                                                for d, c in zip(derained_bgr, clean, strict=True)])), 4)
            for strength in strengths}


def choose_with_veil(run_dir: Path, candidates: list[int], start_weights: Path, pairs: list[tuple[Path, Path]]
                     ) -> tuple[int, float, float, list[dict[str, Any]]]:
    """(step, veil strength, its proxy PSNR-Y, the table) with the best proxy PSNR-Y among the candidate snapshots
    (step 0: the starting net) and `VEIL_STRENGTHS`: the runtime removes the veil after the net, so the net and the
    strength are chosen together. A pair wins only by a strictly higher score, so the starting net without veil
    removal is kept unless something beats it (never worse on the proxy). Scores are kept in ``RUN_DIR/VEIL_FILE``
    (a resumed call scores only what is missing)."""
    from jrgr_deploy.training.tracing import score_steps

    table = score_steps(run_dir, candidates, start_weights, pairs, VEIL_FILE,
                        scorer=lambda weights, pairs: {"psnr_y": veil_scores(weights, pairs)})
    best = (0, 0.0, table[0]["psnr_y"]["0.0"] if table and table[0]["step"] == 0 else float("-inf"))
    for row in table:
        if row["step"] not in candidates:
            continue
        for strength, score in row["psnr_y"].items():
            if score > best[2]:
                best = (row["step"], float(strength), score)
    return (*best, table)


def _choose_self_trained(trace: list[dict[str, Any]]) -> tuple[int, float]:
    """(step, its proxy PSNR-Y) after self-training: the LATEST snapshot that is at least as good as the starting net
    on the proxy validation, deployed without the runtime's veil stage (the labels already had the veil removed;
    the longer the net trained on them the more of it it learnt, and no adversary can pull it off the camera's
    scene); when none is, the starting net as it is, also without a veil stage: a strength chosen for it on the
    proxy validation (other scenes) cost 1.05 dB on the benchmark's camera from v4, which removes most of the veil
    itself (BENCHMARKS.md, "Camera adaptation", "From v4")."""
    start = next(p["psnr_y"] for p in trace if p["step"] == 0)
    passing = [p for p in trace if p["step"] > 0 and p["psnr_y"] >= start]
    if passing:
        latest = max(passing, key=lambda p: p["step"])
        if latest["step"] != trace[-1]["step"]:
            logger.warning("the last snapshot scored below the starting net on the proxy validation: taking step %d",
                           latest["step"])
        return latest["step"], latest["psnr_y"]
    logger.warning("no self-trained snapshot scored at least the starting net's %.2f dB on the proxy validation: "
                   "keeping the starting net as it is", start)
    return 0, start


def mix_with_start(snapshot: Path, start_weights: Path, start_share: float, pairs: list[tuple[Path, Path]],
                   start_psnr_y: float, target: Path, fallback: bool = True) -> tuple[Path, float, float]:
    """(weights to deploy, the mix's proxy PSNR-Y, the share used): `snapshot` mixed in weight space with the
    starting net (`start_share` of its weights; module docstring, "Why the mix"), written to `target`; with
    `fallback`, the snapshot as it is (share 0) when the mix scores below the start on the proxy validation `pairs`
    (never worse than the start there; `--snapshot last` asks for no such rule)."""
    from jrgr_deploy.checkpoint import mix_weights
    from jrgr_deploy.training.tracing import score_checkpoint

    mixed = mix_weights(start_weights, snapshot, target, start_share)
    mixed_psnr_y = score_checkpoint(mixed, pairs)["psnr_y"]
    if fallback and mixed_psnr_y < start_psnr_y:
        logger.warning("the snapshot mixed with %g of the starting net scored %.2f dB on the proxy validation, below "
                       "the start's %.2f: deploying the snapshot as it is", start_share, mixed_psnr_y, start_psnr_y)
        return snapshot, mixed_psnr_y, 0.0
    logger.info("deploying the snapshot mixed with %g of the starting net's weights (proxy PSNR-Y %.2f dB)",
                start_share, mixed_psnr_y)
    return mixed, mixed_psnr_y, start_share


def mix_to_pass(snapshot: Path, start_weights: Path, start_share: float, pairs: list[tuple[Path, Path]],
                start_psnr_y: float, run_dir: Path) -> tuple[Path, float, float] | None:
    """Where the rule would keep the starting net after self-training: (weights, proxy PSNR-Y, share) of the last
    snapshot mixed with the start at the least share of the start's weights, above `start_share` in steps of
    `KEPT_START_SHARE_STEP` and below 1, that scores at least the start's `start_psnr_y` on the proxy validation
    `pairs` (never worse than the start there); None when no share does. A share between the snapshot and the start
    keeps part of what the run learnt on the camera where the snapshot itself fell just below the start on other
    scenes (on the benchmark's camera from v4, seed 1: 0.6, +0.65 dB over the start where keeping it gave +0.00;
    BENCHMARKS.md, "Camera adaptation", "Labels made at a larger scale"; in a longer run of the same seed 0.7, +0.49,
    where the last snapshot as it is gave +1.88: the sheet shows it)."""
    from jrgr_deploy.checkpoint import mix_weights
    from jrgr_deploy.training.tracing import score_checkpoint

    steps = round((1.0 - start_share) / KEPT_START_SHARE_STEP)
    for k in range(1, steps):
        share = round(start_share + k * KEPT_START_SHARE_STEP, 6)
        mixed = mix_weights(start_weights, snapshot, run_dir / f"{snapshot.stem}_start{share:g}.safetensors", share)
        mixed_psnr_y = score_checkpoint(mixed, pairs)["psnr_y"]
        logger.info("the last snapshot mixed with %g of the starting net: %.2f dB on the proxy validation (the "
                    "start's %.2f)", share, mixed_psnr_y, start_psnr_y)
        if mixed_psnr_y >= start_psnr_y:
            logger.warning("deploying the last snapshot mixed with %g of the starting net's weights: the least share "
                           "that is not below the start on the proxy validation", share)
            return mixed, mixed_psnr_y, share
    return None


# ---- results -------------------------------------------------------------------------------------------


def before_after_sheet(path: Path, footage: Path, nets: dict[str, tuple[Path, float]], rows: int = 4) -> Path:
    """Rainy footage frames beside each net's output, after the runtime's veil removal at the strength given with
    it; an exported `.onnx` is run as `jrgr derain` runs it, with its sidecar's stages (the strength is then
    ignored). Fixed, evenly spaced frames: no picking by result."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from jrgr_deploy.checkpoint import load_checkpoint, load_net
    from jrgr_deploy.image_files import list_images, read_rgb
    from jrgr_deploy.nn.build import size_multiple
    from jrgr_deploy.training.evaluate import remove_rain
    from jrgr_deploy.veil_removal import remove_veil

    files = list_images(footage)
    picks = [files[i] for i in np.linspace(0, len(files) - 1, rows).round().astype(int)]
    rainy = [read_rgb(p) for p in picks]
    columns: list[tuple[str, list[np.ndarray]]] = [("rainy footage", rainy)]
    for label, (weights, strength) in nets.items():
        if Path(weights).suffix == ".onnx":
            from jrgr_deploy.runtime import Deraining

            with Deraining(weights, infer_hw=None) as derain:
                columns.append((label, [derain(np.ascontiguousarray(image[..., ::-1]))[..., ::-1] for image in rainy]))
            continue
        checkpoint = load_checkpoint(weights)
        net = load_net(checkpoint, "f_r")
        derained = remove_rain(net, rainy, multiple=size_multiple(checkpoint.config, "f_r"))
        columns.append((label, [remove_veil(np.ascontiguousarray(image[..., ::-1]), strength)[..., ::-1]
                                for image in derained]))
    height, width = rainy[0].shape[:2]
    figure = Figure(figsize=(3.2 * len(columns), 3.2 * height / width * rows + 0.6), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, len(columns), squeeze=False)
    for row in range(rows):
        for column, (label, images) in enumerate(columns):
            axis = axes[row][column]
            axis.imshow(images[row])
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                axis.set_title(label, fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path


def adapt(request: AdaptRequest) -> AdaptResult:
    """The whole job; see the module docstring. Raises JRGRError on bad input (the CLI exits 2)."""
    from jrgr_deploy.artifact import read_sidecar
    from jrgr_deploy.default_model import default_checkpoint
    from jrgr_deploy.export.exporter import ExportRequest, export_nets
    from jrgr_deploy.training.tracing import (
        even_marks,
        halving_marks,
        score_steps,
        select_not_worse,
        select_within_guard,
        snapshot_path,
        steps_within_guard,
        train_traced,
    )

    began = time.monotonic()
    if request.minutes <= 0:
        raise JRGRError(f"--minutes must be positive, got {request.minutes:g}")
    if request.iterations is not None and request.iterations < request.val_points:
        raise JRGRError(f"--iterations must be at least {request.val_points} (one step per validation), got "
                        f"{request.iterations}")
    self_training = request.self_training
    tone = request.tone_strength  # checks --tone against --dry before any work
    start_share = request.resolved_start_share  # and --start-share against the recipe
    deploy_last = request.deploy_last  # and --snapshot
    out = request.out_dir
    if out.exists() and not out.is_dir():
        raise JRGRError(f"--out '{out}' exists and is not a folder")
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)
    weights = Path(request.weights) if request.weights else default_checkpoint()
    _check_same_request(work, request)
    info = prepare_data(request, work)
    logger.info("data ready: %s", info)
    guarded = not self_training and request.dry is None and request.scene_guard_db is not None
    scene_pairs = prepare_scene_guard(work, request.seed) if guarded else []
    plan = plan_iterations(request, work, weights, request.minutes * 60 - (time.monotonic() - began), scene_pairs)
    iterations = plan["iterations"]
    # joint training without dry footage gained on the camera in the first 100-250 steps and lost after (the scene
    # guard's docstring paragraph): snapshots dense early; self-training and joint training with dry footage
    # improved with longer runs
    marks = (halving_marks if guarded else even_marks)(iterations, request.val_points)
    config = _config(request, work, weights, iterations, marks[0])
    run_dir = work / RUN_DIR
    trace = train_traced(config, run_dir, "stage2", _val_pairs(work), marks, weights, progress=True)
    scene: list[dict[str, Any]] = []
    candidates = [p["step"] for p in trace]
    start_psnr_y = next(p["psnr_y"] for p in trace if p["step"] == 0)
    if self_training:
        if deploy_last:  # the user's choice: the rule (and its veil scoring of the start) is not run
            logger.warning("--snapshot last: deploying step %d whatever the proxy validation says (%.2f dB; the "
                           "start's %.2f)", trace[-1]["step"], trace[-1]["psnr_y"], start_psnr_y)
            step, strength, chosen_psnr_y, veil_table = trace[-1]["step"], 0.0, trace[-1]["psnr_y"], []
        else:
            (step, chosen_psnr_y), strength, veil_table = _choose_self_trained(trace), 0.0, []
        net_step = step
    else:
        if guarded:
            scene = score_steps(run_dir, candidates, weights, scene_pairs, SCENE_FILE)
            net_step = select_within_guard(trace, scene, request.scene_guard_db)
            candidates = steps_within_guard(trace, scene, request.scene_guard_db)
            unguarded = select_not_worse(trace)
            if unguarded != net_step:
                logger.warning("step %d was best on the proxy validation but lost more than %.1f dB on the scene "
                               "guard (the camera's own scene): not taken", unguarded, request.scene_guard_db)
        else:
            net_step = select_not_worse(trace)
        step, strength, chosen_psnr_y, veil_table = choose_with_veil(run_dir, candidates, weights, _val_pairs(work))
    if tone:
        # the tone map, fitted on the camera's own dry footage, takes the veil the net leaves: no veil stage on top
        step, strength = net_step, 0.0
        chosen_psnr_y = next(p["psnr_y"] for p in trace if p["step"] == step)
    if step == 0 and strength == 0.0 and not tone:
        logger.warning("nothing beat the starting model on the proxy validation%s: keeping it",
                       " within the scene guard" if guarded else "")
    logger.info("chosen: step %d with veil strength %.1f (proxy PSNR-Y %.2f dB; the net alone would take step %d)",
                step, strength, chosen_psnr_y, net_step)
    selected = weights if step == 0 else snapshot_path(run_dir, step)
    mixed_psnr_y = None
    kept = None  # where no snapshot reached the start: the last one mixed at the least larger share that does
    if self_training and step == 0 and start_share and not deploy_last and trace[-1]["step"] > 0:
        kept = mix_to_pass(snapshot_path(run_dir, trace[-1]["step"]), weights, start_share, _val_pairs(work),
                           start_psnr_y, run_dir)
        if kept is not None:
            selected, mixed_psnr_y, start_share = kept
            step = net_step = trace[-1]["step"]
            chosen_psnr_y = mixed_psnr_y
    elif step and start_share:
        selected, mixed_psnr_y, start_share = mix_with_start(
            selected, weights, start_share, _val_pairs(work), start_psnr_y,
            run_dir / f"step{step:06d}_start{start_share:g}.safetensors", fallback=not deploy_last)
        if start_share:
            chosen_psnr_y = mixed_psnr_y
    if step == 0:
        start_share = 0.0
    export_dir = work / "export"
    shutil.rmtree(export_dir, ignore_errors=True)
    val = work / "val"
    export_nets(ExportRequest(out_dir=export_dir, weights=selected, nets=("f_r",), precisions=("fp32",),
                              calib=work / "footage", val_rainy=val / "rainy", val_clean=val / "clean",
                              veil_strength=strength, tone_strength=tone, tone_real=work / "footage",
                              tone_clean=work / "dry",
                              tone_strength_unmatched=DRY_TONE_STRENGTH_UNMATCHED if request.tone is None else None))
    for produced in export_dir.iterdir():
        shutil.copy(produced, out / produced.name)
    if tone:  # the strength the exporter wrote (lower where the light could not be matched)
        tone = read_sidecar(out / "f_r.onnx").tone["strength"]
    # two lines: one did not fit the column beside a share, a veil and a tone map
    after = (f"after: adapted\n(step {step}" + (f", veil {strength:g}" if strength else "")
             + (f", start share {start_share:g}" if start_share else "")
             + (f", tone map {tone:g}" if tone else "") + ")")
    columns = {"before: starting model": (weights, 0.0), after: (out / "f_r.onnx", strength)}
    # the rule kept the start after self-training, or mixed the last snapshot with more of it than asked: show what
    # the run learnt, for the user to judge (--snapshot last); on the benchmark's camera such a mix at 0.7 kept 0.49 dB
    # of the last step's 1.88 (BENCHMARKS.md, "Camera adaptation", "The probe's labels taken over by the run")
    last_step_shown = trace[-1]["step"] if self_training and (step == 0 or kept is not None) else 0
    if last_step_shown:
        columns[f"not deployed: last\n(step {last_step_shown}, as it is)"] = (snapshot_path(run_dir, last_step_shown),
                                                                            0.0)
    sheet = before_after_sheet(out / "before_after.png", work / "footage", columns)
    height, width = info["frame_hw"]
    command = (f"jrgr derain {request.footage} --weights {out / 'f_r.onnx'} --infer-size {width}x{height}")
    (out / "adapt.json").write_text(json.dumps({
        "footage": request.footage, "dry": request.dry, "weights_start": str(weights), "selected_step": step,
        "veil_strength": strength, "tone_strength": tone, "net_only_step": net_step, "veil_scores": veil_table,
        "start_share": start_share, "mixed_psnr_y": mixed_psnr_y, "snapshot": request.snapshot,
        "last_step_shown": last_step_shown,
        "val_trajectory": trace,
        "scene_guard_db": request.scene_guard_db if guarded else None,
        "scene_trajectory": scene, "plan": plan, "data": info, "derain_command": command,
    }, indent=1) + "\n")
    return AdaptResult(onnx=out / "f_r.onnx", sheet=sheet, selected_step=step, start_psnr_y=start_psnr_y,
                       selected_psnr_y=chosen_psnr_y, veil_strength=strength, iterations=iterations,
                       derain_command=command, tone_strength=tone, start_share=start_share,
                       last_step_shown=last_step_shown)


def _check_same_request(work: Path, request: AdaptRequest) -> None:
    """A resumed adaptation must be the same job: refuse another footage / dry footage / recipe in the same
    folder."""
    plan_path = work / "plan.json"
    if not plan_path.is_file():
        return
    saved = json.loads(plan_path.read_text())["request"]
    saved.setdefault("recipe", "joint")  # adaptations planned before --recipe existed trained jointly
    saved.setdefault("pair_rain", "synthetic")  # and their pairs had model-A rain
    asked = _request_record(request)
    for key in ("footage", "dry", "recipe", "pair_rain"):
        if saved.get(key) != asked[key]:
            raise JRGRError(f"'{work.parent}' holds an adaptation of {key} '{saved.get(key)}', not "
                            f"'{asked[key]}': choose another --out (or delete that folder)")
