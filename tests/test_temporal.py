"""The temporal stabiliser on synthetic clips with known ground truth: it converges on a static scene, does not
ghost a moving square, restarts on cuts / reconnects / size changes, and follows a panning camera."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data

from jrgr_deploy.errors import JRGRError
from jrgr_deploy.runtime.temporal import (
    CameraMotion,
    TemporalSettings,
    TemporalStabiliser,
    luma_of_bgr,
    make_stabiliser,
)
from jrgr_deploy.temporal_metrics import score_sequence


def photo(name: str = "astronaut", width: int = 160, height: int = 120) -> np.ndarray:
    """A real photograph (scikit-image ships it) as a (height, width, 3) uint8 BGR frame."""
    rgb = getattr(skimage.data, name)()
    return np.ascontiguousarray(cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)[..., ::-1])


def with_residue(clean: list[np.ndarray], sigma: float = 5.0, seed: int = 0) -> list[np.ndarray]:
    """What per-frame deraining leaves: the clean frames plus a residue that changes every frame, streak-like
    (noise drawn out vertically, a few pixels wide) with standard deviation `sigma` levels."""
    rng = np.random.default_rng(seed)
    out = []
    for frame in clean:
        streaks = cv2.GaussianBlur(rng.normal(0, 1, frame.shape[:2]), (0, 0), sigmaX=1.0, sigmaY=4.0)
        residue = streaks * (sigma / streaks.std())
        out.append(np.clip(frame + residue[..., None], 0, 255).round().astype(np.uint8))
    return out


def rgb(frames: list[np.ndarray]) -> list[np.ndarray]:
    return [f[..., ::-1] for f in frames]


def luma_error(frame: np.ndarray, clean: np.ndarray) -> float:
    return float(np.mean(np.abs(luma_of_bgr(frame) - luma_of_bgr(clean))))


def test_static_clip_converges_to_the_clean_frame_within_15_frames() -> None:
    clean = [photo()] * 30
    per_frame = with_residue(clean)
    stabiliser = TemporalStabiliser()
    out = [stabiliser(frame) for frame in per_frame]
    assert np.array_equal(out[0], per_frame[0])  # the first frame has nothing to filter with
    before = np.mean([luma_error(f, c) for f, c in zip(per_frame[15:], clean[15:], strict=True)])
    after = np.mean([luma_error(f, c) for f, c in zip(out[15:], clean[15:], strict=True)])
    # a recursive filter keeping 0.85 of the estimate leaves sqrt(0.15 / 1.85) = 0.28 of a white residue
    assert after < 0.4 * before, (after, before)
    scores, reference = score_sequence(rgb(out), rgb(clean)), score_sequence(rgb(per_frame), rgb(clean))
    assert scores.flicker_y < 0.4 * reference.flicker_y and scores.psnr_y > reference.psnr_y + 5
    # a still camera is tracked on the 4 frames after the first, then on every 4th (frames 9, 13, .., 29; counting
    # from 1), unless the mismatch jumps: here it never does
    assert stabiliser.counters() == {"frames": 30, "resets": {"start": 1}, "camera_moved_frames": 0,
                                     "tracked_frames": 4 + 6}


def moving_square(n: int = 16, step: int = 3, level: int = 235) -> list[np.ndarray]:
    background = (photo() // 2).astype(np.uint8)  # levels 0..127: the bright square differs by 100 or more
    frames = []
    for t in range(n):
        frame = background.copy()
        frame[40:72, 10 + step * t : 42 + step * t] = level
        frames.append(frame)
    return frames


# A bright square stands out of the residue: its moving edges pass unfiltered (moving-region PSNR-Y within 0.3 dB
# of per-frame). A square closer to the background has edges whose contrast is partly within the residue's range:
# there one frame cannot tell motion from residue, and the filter's change stays within its bound (asserted on
# every pixel of every frame) - a faint trail at most, never the square's full contrast.
@pytest.mark.parametrize(("level", "moving_drop_db"), [(235, 0.3), (100, None)])
def test_a_moving_square_is_not_ghosted(level: int, moving_drop_db: float | None) -> None:
    clean = moving_square(level=level)
    per_frame = with_residue(clean, seed=1)
    stabiliser = TemporalStabiliser()
    out = []
    for frame in per_frame:
        result = stabiliser(frame)
        if stabiliser.last_level is not None:  # the filter never moves a pixel further than strength x its bound
            s = stabiliser.settings
            bound = s.strength * max(s.clamp_levels, s.clamp_per_level * stabiliser.last_level)
            assert np.abs(luma_of_bgr(result) - luma_of_bgr(frame)).max() <= bound + 1.0
        out.append(result)
    scores, reference = score_sequence(rgb(out), rgb(clean)), score_sequence(rgb(per_frame), rgb(clean))
    if moving_drop_db is not None:
        assert scores.moving_psnr_y >= reference.moving_psnr_y - moving_drop_db, (scores, reference)
    assert scores.flicker_y < 0.6 * reference.flicker_y
    # where the square was two frames ago the background shows again: no trail of the square there
    trail = (slice(40, 72), slice(10 + 3 * 13, 10 + 3 * 15))
    assert np.abs(out[15][trail].astype(float) - clean[15][trail]).mean() < 6.0


def test_a_scene_cut_restarts_the_filter() -> None:
    clean = [photo("astronaut")] * 12 + [photo("coffee")] * 6
    per_frame = with_residue(clean, seed=2)
    stabiliser = TemporalStabiliser()
    out = [stabiliser(frame) for frame in per_frame]
    assert stabiliser.resets == {"start": 1, "cut": 1}
    assert np.array_equal(out[12], per_frame[12])  # the first frame of the new scene passes unchanged
    assert luma_error(out[17], clean[17]) < 0.7 * luma_error(per_frame[17], clean[17])  # filtering the new scene


def test_reconnect_size_change_and_reset_restart_it() -> None:
    stabiliser = TemporalStabiliser()
    frames = with_residue([photo()] * 4, seed=3)
    for frame in frames:
        stabiliser(frame)
    assert np.array_equal(stabiliser(frames[0], restart=True), frames[0])
    small = photo(width=96, height=72)
    assert np.array_equal(stabiliser(small), small)
    stabiliser.reset()
    assert stabiliser.correction(luma_of_bgr(frames[1])) is None
    assert stabiliser.resets == {"start": 2, "restart": 1, "size": 1}


def panning(n: int, step_px: float, width: int = 160, height: int = 120) -> list[np.ndarray]:
    """A camera panning right over a photograph by `step_px` per frame (sub-pixel, bicubic)."""
    big = photo("astronaut", 320, 240)
    return [cv2.warpAffine(big, np.float32([[1, 0, -40 - step_px * t], [0, 1, -60]]), (width, height),
                           flags=cv2.INTER_CUBIC) for t in range(n)]


def test_camera_motion_measures_a_pan_and_sees_a_still_camera() -> None:
    motion = CameraMotion()
    frames = with_residue(panning(6, 1.5), sigma=2.0, seed=4)
    assert motion.update(luma_of_bgr(frames[0])) is None  # nothing to compare with yet
    for frame in frames[1:]:
        matrix = motion.update(luma_of_bgr(frame))
        # a scene point at x now was at x + 1.5 in the previous frame
        np.testing.assert_allclose(matrix, [[1, 0, 1.5], [0, 1, 0]], atol=0.1)
    still = CameraMotion()
    for frame in with_residue([photo()] * 4, sigma=2.0, seed=5):
        assert still.update(luma_of_bgr(frame)) is None


@pytest.mark.parametrize("step_px", [1.5, 0.75])
def test_a_still_camera_that_starts_to_pan_is_tracked_at_once(step_px: float) -> None:
    # still for 10 frames (so the tracker runs on every 4th frame only), then a pan: the pan's first frame raises the
    # mismatch, the tracker runs on it and the estimate is warped from then on
    clean = panning(10, 0.0) + [panning(21, step_px)[t] for t in range(1, 21)]
    per_frame = with_residue(clean, seed=8)
    stabiliser = TemporalStabiliser()
    tracked = []
    for frame in per_frame:
        before = stabiliser.tracked_frames
        stabiliser(frame)
        tracked.append(stabiliser.tracked_frames > before)
    assert not all(tracked[:10]) and tracked[10], tracked
    # then on every 3rd frame (`moving_track_every`), the last motion standing in between
    assert all(tracked[10::3]) and not any(tracked[11::3] + tracked[12::3]), tracked
    assert stabiliser.camera_moved_frames == 20
    every_frame = TemporalStabiliser(TemporalSettings(still_track_every=1, moving_track_every=1))
    for frame in per_frame:
        every_frame(frame)
    assert every_frame.tracked_frames == len(per_frame) - 1 and every_frame.camera_moved_frames == 20


def test_a_moving_camera_that_turns_is_tracked_at_once() -> None:
    # a pan to the right, then back to the left: on the turn the last motion is wrong, the frame's mismatch rises
    # and the tracker runs on it at once instead of waiting for its turn
    right = panning(11, 1.5)
    clean = right + right[-2::-1][:10]
    per_frame = with_residue(clean, seed=9)
    stabiliser = TemporalStabiliser()
    tracked, out = [], []
    for frame in per_frame:
        before = stabiliser.tracked_frames
        out.append(stabiliser(frame))
        tracked.append(stabiliser.tracked_frames > before)
    # tracked on frames 1, 4, 7, 10 (every 3rd) and on the turn: frame 11 shows frame 9's view, not frame 10's moved on
    assert [i for i, was in enumerate(tracked) if was][:5] == [1, 4, 7, 10, 11], tracked
    assert stabiliser.camera_moved_frames == 20
    inner = (slice(4, -4), slice(8, -8))
    cleaned = score_sequence(rgb([f[inner] for f in out]), rgb([c[inner] for c in clean]))
    reference = score_sequence(rgb([f[inner] for f in per_frame]), rgb([c[inner] for c in clean]))
    assert cleaned.psnr_y > reference.psnr_y + 1.0 and cleaned.flicker_y < 0.7 * reference.flicker_y


def test_a_moving_camera_keeps_quality_and_loses_flicker() -> None:
    clean = panning(24, 1.5)
    per_frame = with_residue(clean, seed=6)
    stabiliser = TemporalStabiliser()
    out = [stabiliser(frame) for frame in per_frame]
    assert stabiliser.camera_moved_frames == 23
    # the warped estimate is blank where the view enters new ground (the right edge): compare the rest
    inner = (slice(4, -4), slice(4, -8))
    scores = score_sequence(rgb([f[inner] for f in out]), rgb([c[inner] for c in clean]))
    reference = score_sequence(rgb([f[inner] for f in per_frame]), rgb([c[inner] for c in clean]))
    assert scores.flicker_y < 0.8 * reference.flicker_y
    assert scores.psnr_y > reference.psnr_y - 0.1


def test_settings_and_arguments_are_checked() -> None:
    with pytest.raises(JRGRError, match="strength"):
        TemporalSettings(strength=1.0)
    with pytest.raises(JRGRError, match="clamp_levels"):
        TemporalSettings(clamp_levels=0)
    with pytest.raises(JRGRError, match="analysis_scale"):
        TemporalSettings(analysis_scale=0)
    with pytest.raises(JRGRError, match="temporal must be"):
        make_stabiliser("yes")
    assert make_stabiliser(False) is None and make_stabiliser(None) is None
    assert isinstance(make_stabiliser(True), TemporalStabiliser)
    assert make_stabiliser(TemporalSettings(strength=0.5)).settings.strength == 0.5
    with pytest.raises(JRGRError, match="uint8 BGR"):
        TemporalStabiliser()(np.zeros((4, 4), np.uint8))
    with pytest.raises(JRGRError, match="luma"):
        TemporalStabiliser().correction(np.zeros((4, 4, 3), np.float32))


def smooth_pan(n: int, step_px: float, still: bool = False) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(clean, per-frame) lumas 0..255 of a smooth 320x240 scene panning by `step_px` per frame (or still), with a
    smooth residue (sigma 3 px) that changes every frame: what half resolution represents as well as full."""
    big = cv2.GaussianBlur(luma_of_bgr(photo("astronaut", 640, 480)), (0, 0), 2.0)
    rng = np.random.default_rng(7)
    clean, per_frame = [], []
    for t in range(n):
        shift = 0.0 if still else step_px * t
        frame = cv2.warpAffine(big, np.float32([[1, 0, -100 - shift], [0, 1, -120]]), (320, 240),
                               flags=cv2.INTER_CUBIC)
        residue = cv2.GaussianBlur(rng.normal(0, 1, frame.shape).astype(np.float32), (0, 0), 3.0)
        clean.append(frame)
        per_frame.append(frame + residue * np.float32(4.0 / residue.std()))
    return clean, per_frame


@pytest.mark.parametrize("still", [True, False])
def test_half_resolution_work_matches_full_resolution_on_a_smooth_clip(still: bool) -> None:
    """The gate (and a moving camera's warp and correction) at half resolution, against the same filter run at full
    resolution (work_scale=1), over the first steps from the same start (the two estimates drift apart slowly
    afterwards: half resolution carries over less of the residue): on a scene with little detail finer than half
    resolution they must agree. A quarter-pixel error in placing the warp at half resolution shows as 0.6."""
    _, per_frame = smooth_pan(4, 1.5, still=still)
    half, full = TemporalStabiliser(TemporalSettings(work_scale=2)), TemporalStabiliser(TemporalSettings(work_scale=1))
    inner = (slice(16, -16), slice(16, -16))  # the warp's replicated border differs by construction
    relative = []
    for luma in per_frame:
        delta_half, delta_full = half.correction(luma), full.correction(luma)
        assert (delta_half is None) == (delta_full is None)
        if delta_full is not None:
            size = np.abs(delta_full[inner]).mean()
            assert size > 0.5  # the filter is doing something to compare
            relative.append(np.abs(delta_half[inner] - delta_full[inner]).mean() / size)
    assert len(relative) == 3 and np.mean(relative) < 0.2, relative
    # the tracker sees the same frames either way; a smooth still scene with a changing residue sometimes fools it,
    # so the still clip must only mostly take the still path
    assert half.camera_moved_frames == full.camera_moved_frames
    assert half.camera_moved_frames == 3 if not still else half.camera_moved_frames < 3


def test_the_correction_in_the_nets_units_is_the_correction_in_levels() -> None:
    """FrameProcessor passes the luma of the net's [-1, 1] output (unit_levels=127.5, offset=127.5) and adds the
    correction as it comes: the same filter as on 0..255 levels, scaled."""
    _, per_frame = smooth_pan(6, 1.5)
    levels, units = TemporalStabiliser(), TemporalStabiliser()
    for luma in per_frame:
        delta_levels = levels.correction(luma)
        delta_units = units.correction((luma - np.float32(127.5)) / np.float32(127.5), offset=127.5, unit_levels=127.5)
        if delta_levels is None:
            assert delta_units is None
            continue
        # (the tracker rounds its image to whole levels: a rare level apart moves the fitted camera a hair)
        np.testing.assert_allclose(delta_units * 127.5, delta_levels, atol=0.02)
    assert levels.camera_moved_frames == units.camera_moved_frames == 5
