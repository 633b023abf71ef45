"""Metrics against hand-computed values and scikit-image's Wang-settings SSIM (docs/ARCHITECTURE.md, "Metrics")."""

import math

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from jrgr_deploy.errors import JRGRError
from jrgr_deploy.metrics import mean_scores, psnr, psnr_y, rgb_to_y, score, ssim, ssim_y


def _pair(seed: int = 0, shape=(48, 64, 3)) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    clean = rng.integers(0, 256, size=shape, dtype=np.uint8)
    noise = rng.normal(0, 12, size=shape)
    noisy = np.clip(clean + noise, 0, 255).round().astype(np.uint8)
    return noisy, clean


def test_psnr_hand_computed():
    a = np.zeros((4, 4), np.uint8)
    b = a.copy()
    b[0, 0] = 16  # MSE = 256 / 16 = 16 -> PSNR = 20 log10(255 / 4)
    assert psnr(a, b) == pytest.approx(20 * math.log10(255 / 4), abs=1e-12)
    assert psnr(a, a) == math.inf


def test_y_channel_formula():
    white = np.full((2, 2, 3), 255, np.uint8)
    black = np.zeros((2, 2, 3), np.uint8)
    assert rgb_to_y(white) == pytest.approx(np.full((2, 2), 235.0), abs=1e-3)
    assert rgb_to_y(black) == pytest.approx(np.full((2, 2), 16.0))
    red = np.zeros((1, 1, 3), np.uint8)
    red[..., 0] = 255
    assert rgb_to_y(red)[0, 0] == pytest.approx(16 + 65.481)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_psnr_matches_skimage(seed):
    noisy, clean = _pair(seed)
    assert psnr(noisy, clean) == pytest.approx(peak_signal_noise_ratio(clean, noisy, data_range=255), abs=1e-6)
    y_ref = peak_signal_noise_ratio(rgb_to_y(clean), rgb_to_y(noisy), data_range=255)
    assert psnr_y(noisy, clean) == pytest.approx(y_ref, abs=1e-6)


@pytest.mark.parametrize("seed", [0, 3])
def test_ssim_matches_skimage_wang_settings(seed):
    noisy, clean = _pair(seed, shape=(57, 83, 3))
    wang = {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False, "data_range": 255}
    y_ref = structural_similarity(rgb_to_y(clean), rgb_to_y(noisy), **wang)
    assert ssim_y(noisy, clean) == pytest.approx(y_ref, abs=1e-6)
    rgb_ref = structural_similarity(clean, noisy, channel_axis=2, **wang)
    assert ssim(noisy, clean) == pytest.approx(rgb_ref, abs=1e-6)


def test_ssim_identity_and_degradation():
    # a smooth image: noise of sigma 12 destroys much of its structure
    ramp = np.linspace(60, 190, 64)[None, :, None].repeat(48, axis=0).repeat(3, axis=2)
    clean = ramp.round().astype(np.uint8)
    noisy = np.clip(ramp + np.random.default_rng(5).normal(0, 12, ramp.shape), 0, 255).round().astype(np.uint8)
    assert ssim(clean, clean) == pytest.approx(1.0)
    assert ssim(noisy, clean) < 0.5


def test_score_and_mean():
    noisy, clean = _pair(7)
    s = score(noisy, clean)
    assert s.psnr_rgb == pytest.approx(psnr(noisy, clean))
    assert s.ssim_y == pytest.approx(ssim_y(noisy, clean))
    means = mean_scores([s, s])
    assert means["psnr_y"] == pytest.approx(s.psnr_y)
    with pytest.raises(JRGRError, match="no images"):
        mean_scores([])


def test_shape_mismatch_is_clear():
    with pytest.raises(JRGRError, match="differ in shape"):
        psnr(np.zeros((4, 4, 3)), np.zeros((4, 5, 3)))
    with pytest.raises(JRGRError, match="11x11"):
        ssim(np.zeros((8, 8)), np.zeros((8, 8)))
