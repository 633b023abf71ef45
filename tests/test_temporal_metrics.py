"""Temporal metrics against closed-form cases: flicker of constant and alternating residuals, the moving mask,
moving-region PSNR/SSIM."""

from __future__ import annotations

import math

import numpy as np
import pytest

from jrgr_deploy.errors import JRGRError
from jrgr_deploy.metrics import SSIM_RADIUS, psnr, rgb_to_y, ssim_map
from jrgr_deploy.temporal_metrics import (
    MOTION_THRESHOLD_Y,
    TemporalScorer,
    moving_mask,
    residual_flicker,
    score_sequence,
)

# Adding v to R, G and B adds v * (65.481 + 128.553 + 24.966) / 255 to Y (metrics.rgb_to_y).
Y_PER_RGB_LEVEL = (65.481 + 128.553 + 24.966) / 255.0


def textured(seed: int = 0, shape=(40, 56, 3)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(30, 220, size=shape).astype(np.float64)


def test_a_constant_offset_has_zero_flicker() -> None:
    clean = [textured(i) for i in range(6)]  # the scene changes, the error does not
    restored = [c + 5.0 for c in clean]
    scores = score_sequence(restored, clean)
    assert scores.flicker_y == pytest.approx(0.0, abs=1e-9)
    assert scores.psnr_y == pytest.approx(20 * math.log10(255 / (5 * Y_PER_RGB_LEVEL)), abs=1e-9)


def test_an_alternating_residual_has_flicker_two_d() -> None:
    clean = [textured(0)] * 7
    d = 3.0
    restored = [c + (d if t % 2 else -d) for t, c in enumerate(clean)]
    scores = score_sequence(restored, clean)
    assert scores.flicker_y == pytest.approx(2 * d * Y_PER_RGB_LEVEL, abs=1e-9)
    assert residual_flicker(np.full((3, 3), d), np.full((3, 3), -d)) == pytest.approx(2 * d)


def test_one_frame_has_no_flicker_and_a_static_clip_no_moving_region() -> None:
    one = score_sequence([textured(0) + 1], [textured(0)])
    assert one.frames == 1 and one.flicker_y is None and one.moving_psnr_y is None
    static = score_sequence([textured(0) + 2] * 4, [textured(0)] * 4)
    assert static.moving_fraction == 0.0 and static.moving_psnr_y is None and static.moving_ssim_y is None
    assert score_sequence([textured(1)] * 3, [textured(1)] * 3).psnr_y == math.inf


def moving_square_clip(n: int = 5, step: int = 4) -> list[np.ndarray]:
    frames = []
    for t in range(n):
        frame = np.full((40, 64, 3), 60.0)
        frame[10:26, 4 + step * t : 20 + step * t] = 200.0
        frames.append(frame)
    return frames


def test_moving_mask_is_where_the_clean_clip_changes() -> None:
    clean = moving_square_clip()
    mask = moving_mask(rgb_to_y(clean[1]), rgb_to_y(clean[0]))
    # the square moved 4 px right: 4 columns uncovered on its left, 4 covered on its right, 16 rows each
    assert mask.sum() == 2 * 4 * 16
    assert mask[10:26, 4:8].all() and mask[10:26, 20:24].all() and not mask[10:26, 8:20].any()
    assert moving_mask(rgb_to_y(clean[1]), rgb_to_y(clean[0]), threshold=1e6).sum() == 0


def test_moving_region_scores_are_pooled_over_the_moving_pixels() -> None:
    clean = moving_square_clip()
    rng = np.random.default_rng(1)
    restored = [c + rng.normal(0, 4, c.shape) for c in clean]
    scorer = TemporalScorer()
    for r, c in zip(restored, clean, strict=True):
        scorer.add(r, c)
    scores = scorer.result()
    errors, ssims = [], []
    for t in range(1, len(clean)):
        y_r, y_c = rgb_to_y(restored[t]), rgb_to_y(clean[t])
        mask = np.abs(y_c - rgb_to_y(clean[t - 1])) > MOTION_THRESHOLD_Y
        errors.append((y_r - y_c)[mask])
        r = SSIM_RADIUS
        ssims.append(ssim_map(y_r, y_c)[mask[r:-r, r:-r]])
    mse = np.mean(np.concatenate(errors) ** 2)
    assert scores.moving_psnr_y == pytest.approx(20 * math.log10(255 / math.sqrt(mse)), abs=1e-9)
    assert scores.moving_ssim_y == pytest.approx(float(np.concatenate(ssims).mean()), abs=1e-12)
    assert scores.moving_fraction == pytest.approx(sum(e.size for e in errors) / (4 * 40 * 64))
    assert scores.psnr_y == pytest.approx(np.mean([psnr(rgb_to_y(r), rgb_to_y(c)) for r, c in zip(restored, clean,
                                                                                                     strict=True)]))
    assert len(scorer.flicker_per_pair) == len(clean) - 1


def test_a_ghost_lowers_only_the_moving_region() -> None:
    clean = moving_square_clip(n=6)
    ghosted = [clean[0]] + [0.5 * clean[t] + 0.5 * clean[t - 1] for t in range(1, 6)]  # half of the last frame
    sharp = score_sequence(clean, clean)
    ghost = score_sequence(ghosted, clean)
    assert sharp.moving_psnr_y == math.inf
    # the ghost is 70 levels (half the square's contrast) on every moving pixel
    assert ghost.moving_psnr_y == pytest.approx(20 * math.log10(255 / (70 * Y_PER_RGB_LEVEL)), abs=1e-9)
    assert ghost.psnr_y > ghost.moving_psnr_y + 10


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(JRGRError, match="no frames"):
        TemporalScorer().result()
    with pytest.raises(JRGRError, match="more frames"):
        score_sequence([textured(0)] * 3, [textured(0)] * 2)
    with pytest.raises(JRGRError, match="more frames"):
        score_sequence([textured(0)] * 2, [textured(0)] * 3)
    scorer = TemporalScorer()
    scorer.add(textured(0), textured(0))
    with pytest.raises(JRGRError, match="one frame size"):
        scorer.add(textured(0, (30, 56, 3)), textured(0, (30, 56, 3)))
    with pytest.raises(JRGRError, match="threshold"):
        TemporalScorer(-1.0)
