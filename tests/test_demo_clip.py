"""The demo's dash-camera clip (`jrgr_deploy.clips`), its bundled photograph, and the labels of its figure."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from jrgr_deploy.app.demo import _labelled
from jrgr_deploy.clips import STREET_PHOTO, STREET_VANISHING_POINT, ClipSpec, camera_path, render_clip, street_photo
from jrgr_deploy.image_files import list_images
from jrgr_deploy.video_files import read_video


def _marked_photo(height: int = 480, width: int = 640, point: tuple[float, float] = (0.4, 0.6)) -> np.ndarray:
    """A textured photograph with a red dot at `point` (fractions of width, height)."""
    rng = np.random.default_rng(0)
    photo = cv2.GaussianBlur(rng.integers(0, 200, (height, width, 3), np.uint8), (0, 0), 3)
    cv2.circle(photo, (round(point[0] * width), round(point[1] * height)), 4, (255, 0, 0), -1)
    return photo


def _dot(frame: np.ndarray) -> np.ndarray:
    """(x, y) centre of the red dot (RGB)."""
    red = (frame[..., 0].astype(int) - frame[..., 1] > 150) & (frame[..., 2] < 100)
    ys, xs = np.nonzero(red)
    assert len(xs), "the dot left the view"
    return np.array([xs.mean(), ys.mean()])


def test_the_camera_drives_towards_the_vanishing_point() -> None:
    """Forward motion: the view expands about the vanishing point, which stays where it is in the frame (no
    sway, no roll), while everything else moves away from it; the frames fill the view (no border)."""
    point = (0.4, 0.6)
    spec = ClipSpec(width=320, height=180, n_frames=12, vanishing_point=point, sway=0.0, roll_deg=0.0, zoom_end=1.6)
    frames = list(camera_path(_marked_photo(point=point), spec))
    assert len(frames) == 12 and all(f.shape == (180, 320, 3) and f.dtype == np.uint8 for f in frames)
    dots = np.array([_dot(f) for f in frames])
    assert np.abs(dots - dots[0]).max() < 1.0  # the focus of expansion does not move
    # the dot itself grows: the view narrows by zoom_end over the clip
    area = [((f[..., 0].astype(int) - f[..., 1]) > 150).sum() for f in (frames[0], frames[-1])]
    assert area[1] / area[0] == pytest.approx(1.6**2, rel=0.35)
    assert not np.array_equal(frames[0], frames[-1])


def test_sway_and_roll_move_the_view_a_little_and_never_show_a_border() -> None:
    point = (0.5, 0.5)
    photo = _marked_photo(point=point)
    spec = ClipSpec(width=320, height=180, n_frames=48, vanishing_point=point, zoom_end=1.0)
    dots = np.array([_dot(f) for f in camera_path(photo, spec)])
    wobble = np.abs(dots - dots.mean(axis=0)).max(axis=0)
    assert 0.5 < wobble[0] < 0.03 * 320 and wobble[1] < 0.03 * 180  # slight, like a car on a road
    # the largest sway and roll stay inside the photograph: its bright rim never enters the view
    flat = np.full((480, 640, 3), 90, np.uint8)
    flat[:3], flat[-3:], flat[:, :3], flat[:, -3:] = 250, 250, 250, 250
    for frame in camera_path(flat, dataclasses.replace(spec, sway=0.006, roll_deg=0.5)):
        assert np.abs(frame.astype(int) - 90).max() <= 2


def test_a_large_photograph_is_shrunk_once_without_aliasing() -> None:
    stripes = np.zeros((2000, 3000, 3), np.uint8)
    stripes[:, ::2] = 255  # one-pixel stripes: sampled without averaging, they would alias
    frame = next(camera_path(stripes, ClipSpec(width=320, height=180, n_frames=1)))
    assert abs(float(frame.mean()) - 127.5) < 8 and frame.std() < 20


def test_the_bundled_street_photograph() -> None:
    assert STREET_PHOTO.parent.name == "assets" and STREET_PHOTO.stat().st_size < 300 * 1024
    photo = street_photo()
    assert photo.shape == (1024, 680, 3) and photo.dtype == np.uint8
    assert "img_050" in (STREET_PHOTO.parent / "README.md").read_text()
    assert all(0 < v < 1 for v in STREET_VANISHING_POINT)


def test_render_clip_writes_a_rainy_video_and_lossless_ground_truth(tmp_path: Path) -> None:
    spec = ClipSpec(width=160, height=96, n_frames=4, vanishing_point=STREET_VANISHING_POINT)
    clip = render_clip(street_photo(), tmp_path, spec)
    rainy = read_video(clip.rainy_video)
    clean = list_images(clip.clean_dir)
    assert len(rainy) == len(clean) == 4 and rainy[0].shape == (96, 160, 3)


def test_labels_sit_on_a_box_with_nothing_drawn_past_it() -> None:
    """The figure's labels: white text on a dark box; no dark glyph after the text (the old outline, drawn
    thicker, advanced further than the white text and left its last letter beside it)."""
    image = np.full((360, 640, 3), 90, np.uint8)
    for label in ("ground truth", "rainy #47", "derained #0"):
        out = _labelled(image, label, 480)
        assert out.shape == (270, 480, 3)
        (text_w, text_h), baseline = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.6, 1)
        box = out[: text_h + baseline + 10, : text_w + 12]
        assert (box == 255).any(axis=-1).sum() > 20  # the text is there, white
        assert (box.max(axis=-1) < 90).mean() > 0.5  # on a dark box
        rest = np.concatenate([out[: text_h + baseline + 12, text_w + 14:].reshape(-1, 3),
                               out[text_h + baseline + 12:].reshape(-1, 3)])
        assert (rest == 90).all(), f"'{label}': something is drawn outside its box"


def test_realtime_infer_size_is_the_demo_scale_in_multiples_of_8() -> None:
    from jrgr_deploy.app.demo import DEMO_INFER_SCALE, realtime_infer_hw

    assert DEMO_INFER_SCALE == 0.3
    assert realtime_infer_hw((720, 1280)) == (216, 384)
    assert realtime_infer_hw((192, 320)) == (56, 96)
    assert realtime_infer_hw((10, 12)) == (8, 8)  # never below one block of 8
