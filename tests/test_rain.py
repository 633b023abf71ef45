"""Rain synthesis (jrgr_deploy.rain): determinism, shapes, the photometric signature of each model,
depth-dependent streak length, temporal consistency and a statistic that separates the two domains."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import cv2
import numpy as np
import pytest
import skimage.data

from jrgr_deploy.errors import JRGRError
from jrgr_deploy.rain import MODELS, PRESETS, RainSample, RainSequence, render_rain, streak_geometry

LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def _photo(name: str, height: int = 120, width: int = 160) -> np.ndarray:
    return cv2.resize(getattr(skimage.data, name)(), (width, height), interpolation=cv2.INTER_AREA)


def _flat(height: int, width: int, value: int) -> np.ndarray:
    return np.full((height, width, 3), value, np.uint8)


def _luma(layer: np.ndarray) -> np.ndarray:
    return layer @ LUMA


def _high_pass(y: np.ndarray) -> np.ndarray:
    """Drop haze/fog/veil (smooth) so only the streak texture is compared."""
    return y - cv2.GaussianBlur(y, (0, 0), 8)


@pytest.mark.parametrize("model", MODELS)
def test_same_seed_same_bytes_other_seed_other_rain(model: str) -> None:
    img = _photo("astronaut")
    a = render_rain(img, model, "medium", seed=7)
    b = render_rain(img, model, "medium", seed=7)
    c = render_rain(img, model, "medium", seed=8)
    assert a.rainy.tobytes() == b.rainy.tobytes()
    assert np.array_equal(a.rain_layer, b.rain_layer)
    assert a.params == b.params
    assert np.mean(a.rainy != c.rainy) > 0.05


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("preset", PRESETS)
def test_shapes_dtypes_params_on_odd_size(model: str, preset: str) -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (97, 131, 3), dtype=np.uint8)
    s = render_rain(img, model, preset, seed=3, channel_order="bgr")
    assert isinstance(s, RainSample)
    assert s.rainy.shape == (97, 131, 3) and s.rainy.dtype == np.uint8
    assert s.rain_layer.shape == (97, 131, 3) and s.rain_layer.dtype == np.float32
    assert np.array_equal(s.clean, img)
    assert s.rain_layer.min() >= -1.0 and s.rain_layer.max() <= 1.0
    # rain_layer is the unrounded difference: rounding moves it by at most half a level
    rounded = s.rainy.astype(np.float32) / 255 - img.astype(np.float32) / 255
    assert np.abs(rounded - s.rain_layer).max() <= 0.5 / 255 + 1e-6
    assert np.abs(s.rain_layer).max() > 10 / 255  # there is rain
    params = json.loads(json.dumps(s.params))
    assert (params["model"], params["preset"], params["seed"]) == (model, preset, 3)


@pytest.mark.parametrize("model", MODELS)
def test_channel_order_mirrors_the_channels(model: str) -> None:
    rgb = _photo("coffee")
    a = render_rain(rgb, model, "medium", seed=2, channel_order="rgb")
    b = render_rain(np.ascontiguousarray(rgb[..., ::-1]), model, "medium", seed=2, channel_order="bgr")
    diff = np.abs(a.rainy.astype(int) - b.rainy[..., ::-1].astype(int))
    assert diff.max() <= 1  # same rain, only float summation order differs


@pytest.mark.parametrize("preset", PRESETS)
def test_synthetic_model_only_brightens(preset: str) -> None:
    for seed, name in enumerate(("astronaut", "chelsea", "coffee")):
        s = render_rain(_photo(name), "synthetic", preset, seed=seed)
        assert np.all(s.rainy >= s.clean), f"{name}: model A darkened a pixel"
        assert s.rain_layer.min() >= -1e-6
        assert (s.rainy > s.clean).mean() > 0.05


def _sky_over_ground(height: int = 256, width: int = 320) -> np.ndarray:
    rng = np.random.default_rng(1)
    img = np.empty((height, width, 3), np.uint8)
    img[: height // 2] = rng.integers(236, 248, (height // 2, width, 1))  # overcast, near-white sky
    img[height // 2:] = rng.integers(30, 70, (height - height // 2, width, 3))  # dark ground
    return img


@pytest.mark.parametrize("preset", PRESETS)
def test_realistic_streaks_darken_bright_sky_and_brighten_dark_ground(preset: str) -> None:
    img = _sky_over_ground()
    h = img.shape[0]
    depth = np.full(img.shape[:2], 5.0, np.float32)  # near: fog is negligible, the streaks decide
    s = render_rain(img, "realistic", preset, seed=4, depth=depth)
    sky = _luma(s.rain_layer[4: h // 2 - 20])
    ground = _luma(s.rain_layer[h // 2 + 20:])
    # streak-shaped darkening: well below the sky's median change, and real uint8 darkening
    assert sky.min() < np.median(sky) - 3 / 255
    assert (s.rainy[4: h // 2 - 20] < s.clean[4: h // 2 - 20]).all(axis=2).mean() > 0.01
    assert ground.max() > 5 / 255  # the same drops are brighter than the dark ground


def _elongation_px(layer_y: np.ndarray, angle_deg: float) -> float:
    """Lag (px) along the fall direction at which the rain layer's autocorrelation drops below 0.5."""
    y = layer_y - layer_y.mean()
    spec = np.fft.rfft2(y)
    acf = np.fft.irfft2(np.abs(spec) ** 2, s=y.shape)
    acf /= acf[0, 0]
    th = math.radians(angle_deg)
    for lag in range(1, y.shape[0] // 2):
        dy, dx = round(lag * math.cos(th)), round(lag * math.sin(th))
        if acf[dy % y.shape[0], dx % y.shape[1]] < 0.5:
            return float(lag)
    return float(y.shape[0] // 2)


def test_realistic_streaks_are_longer_for_nearer_drops() -> None:
    """A scene at 1 m hides every drop behind 1 m; the difference to a scene at 20 m holds only the drops between
    1 m and 20 m. The near drops' streaks must be much more elongated along the fall direction."""
    img = _flat(256, 256, 60)
    for seed in range(3):
        layers = {}
        for depth_m in (1.0, 20.0):
            s = render_rain(img, "realistic", "medium", seed=seed, depth=np.full((256, 256), depth_m, np.float32))
            layers[depth_m] = _luma(s.rain_layer)
        angle = s.params["wind_deg"]
        near = _elongation_px(_high_pass(layers[1.0]), angle)
        far = _elongation_px(_high_pass(layers[20.0] - layers[1.0]), angle)
        across = _elongation_px(_high_pass(layers[1.0]), angle + 90.0)
        assert near > 1.6 * far and near > 3.0 * across, (near, far, across)


def test_streak_geometry_follows_the_camera_model() -> None:
    length, width, fraction = streak_geometry(np.array([1e-3, 1e-3]), np.array([1.0, 4.0]), 1000.0, 1 / 50)
    v = 200 * math.sqrt(1e-3)
    np.testing.assert_allclose(length, [1000 * v / 50, 1000 * v / 50 / 4])
    np.testing.assert_allclose(width, [2.0, 0.5])
    np.testing.assert_allclose(fraction, math.sqrt(1e-3) / 50 * 50)


def _normalised_correlation(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    return float((a * b).sum() / math.sqrt((a * a).sum() * (b * b).sum()))


def test_synthetic_sequence_moves_its_streaks_down() -> None:
    h, w = 200, 240
    seq = RainSequence("synthetic", "medium", 5, h, w, fps=30.0)
    img = _flat(h, w, 40)
    l0, l1 = (_high_pass(_luma(seq.render(img, i).rain_layer)) for i in (10, 11))
    assert not np.array_equal(l0, l1)
    th = math.radians(seq.params["angle_deg"])
    step = seq.params["length_px"] * 60.0 / 30.0  # one streak length per 1/60 s
    dy, dx = round(step * math.cos(th)), round(step * math.sin(th))
    assert dy > 0
    ys, xs = slice(max(dy, 0), h), slice(max(dx, 0), w + min(dx, 0))
    ys0, xs0 = slice(0, h - dy), slice(max(-dx, 0), w - max(dx, 0))
    shifted = _normalised_correlation(l1[ys, xs], l0[ys0, xs0])
    unshifted = _normalised_correlation(l1, l0)
    assert shifted > 0.7 and unshifted < 0.2, (shifted, unshifted)


def test_realistic_sequence_moves_its_drops_down() -> None:
    """Each drop falls at its own speed (nearer and bigger drops faster), so there is no single shift; but the
    best match of frame t+1 against frame t lies downwards, clearly better than no shift or any upward shift."""
    h, w = 200, 240
    img = _flat(h, w, 40)
    for seed in range(3):
        seq = RainSequence("realistic", "heavy", seed, h, w, fps=30.0)
        l0, l1 = (_high_pass(_luma(seq.render(img, i).rain_layer)) for i in (3, 4))
        assert not np.array_equal(l0, l1)
        a, b = l0 - l0.mean(), l1 - l1.mean()
        size = (2 * h, 2 * w)  # zero-padded: linear (not circular) cross-correlation
        xcorr = np.fft.irfft2(np.fft.rfft2(b, size) * np.conj(np.fft.rfft2(a, size)), s=size)
        xcorr /= math.sqrt((a * a).sum() * (b * b).sum())
        xcorr = np.roll(xcorr, (h, w), axis=(0, 1))  # lag (dy, dx) now at [h + dy, w + dx]
        down = xcorr[h + 3: h + h // 2 + h // 4].max()
        up = xcorr[h // 4: h - 2].max()
        assert down > xcorr[h, w] + 0.1 and down > up + 0.05, (seed, down, up, xcorr[h, w])


@pytest.mark.parametrize("model", MODELS)
def test_sequence_is_random_access_and_matches_render_rain(model: str) -> None:
    img = _photo("chelsea", 64, 80)
    seq = RainSequence(model, "light", 9, 64, 80)
    again = RainSequence(model, "light", 9, 64, 80)
    assert seq.render(img, 6).rainy.tobytes() == again.render(img, 6).rainy.tobytes()
    assert seq.render(img, 0).rainy.tobytes() == render_rain(img, model, "light", seed=9).rainy.tobytes()


def test_negative_fraction_separates_the_models() -> None:
    """Model A is additive; photographed (model B) rain darkens bright surfaces and fog lowers highlights."""
    neg = {m: [] for m in MODELS}
    for seed, name in enumerate(("astronaut", "chelsea", "coffee")):
        img = _photo(name)
        for preset in PRESETS:
            for model in MODELS:
                layer = _luma(render_rain(img, model, preset, seed=seed).rain_layer)
                neg[model].append(float((layer < -1 / 255).mean()))
    assert max(neg["synthetic"]) < 0.001 < 0.03 < min(neg["realistic"]), neg


def test_bad_names_and_inputs_are_clear_errors() -> None:
    img = _flat(32, 32, 100)
    with pytest.raises(JRGRError, match="synthetic, realistic"):
        render_rain(img, model="photoshop")
    with pytest.raises(JRGRError, match="light, medium, heavy"):
        render_rain(img, preset="torrential")
    with pytest.raises(JRGRError, match="rgb, bgr"):
        render_rain(img, channel_order="hsv")
    with pytest.raises(JRGRError, match="uint8"):
        render_rain(img.astype(np.float32))
    with pytest.raises(JRGRError, match="HxWx3"):
        render_rain(img[..., 0])
    with pytest.raises(JRGRError, match="depth"):
        render_rain(img, depth=np.ones((31, 32), np.float32))
    with pytest.raises(JRGRError, match="positive"):
        render_rain(img, depth=np.zeros((32, 32), np.float32))
    with pytest.raises(JRGRError, match="32x32"):
        RainSequence("synthetic", "light", 0, 32, 32).render(_flat(16, 32, 0), 0)


def test_rain_is_torch_free_and_not_imported_by_the_package() -> None:
    code = (
        "import sys, jrgr_deploy; assert 'jrgr_deploy.rain' not in sys.modules; "
        "import jrgr_deploy.rain; bad = {'torch', 'scipy', 'skimage'} & set(sys.modules); assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_street_canyon_depth_is_the_nearest_of_ground_facades_and_sky() -> None:
    """Unblurred (softness 0), every surface's closed form: ground Z = f h / (y - y_h) below the horizon, a facade
    Z = f w / |x - x_v| below its roof, the sky (max depth) above it; the nearest wins. Depth then varies along a
    row, which the ground-plane proxy never does."""
    from jrgr_deploy.rain.depth import DEFAULT_CAMERA_HEIGHT_M as H_M
    from jrgr_deploy.rain.depth import street_canyon_depth

    height, width, max_depth = 120, 160, 150.0
    depth, geo = street_canyon_depth(height, width, np.random.default_rng(3), softness=0.0, max_depth_m=max_depth)
    assert depth.shape == (height, width) and depth.dtype == np.float32
    again, geo_again = street_canyon_depth(height, width, np.random.default_rng(3), softness=0.0,
                                           max_depth_m=max_depth)
    assert geo == geo_again and np.array_equal(depth, again)
    x_v, y_h, f = geo["vanishing_x"], geo["horizon_row"], float(width)

    def expected(y: int, x: int) -> float:
        dy, dx = y + 0.5 - y_h, x + 0.5 - x_v
        side = "left" if dx < 0 else "right"
        w, roof = geo[f"half_width_{side}_m"], geo[f"roof_{side}_m"]
        disparities = [max(dy, 0.0) / (f * H_M)]
        if -dy * w <= roof * abs(dx):
            disparities.append(abs(dx) / (f * w))
        return min(1.0 / (max(disparities) + 1.0 / max_depth), max_depth)

    rng = np.random.default_rng(0)
    for y, x in zip(rng.integers(0, height, 200), rng.integers(0, width, 200), strict=True):
        assert depth[y, x] == pytest.approx(expected(int(y), int(x)), rel=1e-4), (y, x)
    above = int(y_h) - 5
    assert depth[above].max() > 2 * depth[above].min()  # along one row: far at the vanishing point, near at a side
    with pytest.raises(JRGRError, match="size must be positive"):
        street_canyon_depth(0, width, np.random.default_rng(0))
