"""Veil removal after the net (jrgr_deploy/veil_removal.py): on an image veiled by the model it inverts,
O = T B + (1 - T) A, the stage brings the image back towards B, more with more strength; strength 0 is the identity;
bad values are clear errors; `Deraining(veil=...)` and `jrgr derain --veil` apply it to the derained frame and time
it."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data
from runtime_fixtures import export_fixture_net, index_frame, write_video

from jrgr_deploy.app.cli import main
from jrgr_deploy.errors import JRGRError
from jrgr_deploy.metrics import psnr
from jrgr_deploy.runtime import Deraining
from jrgr_deploy.veil_removal import remove_row_veil, remove_veil


def veiled(clean: np.ndarray, airlight_bgr: tuple[float, float, float]) -> np.ndarray:
    """The veil model on a uint8 BGR image: transmission 0.35 at the top to 0.9 at the bottom."""
    height = clean.shape[0]
    transmission = np.linspace(0.35, 0.9, height, dtype=np.float32)[:, None, None]
    hazy = transmission * clean.astype(np.float32) + (1 - transmission) * np.array(airlight_bgr, np.float32)
    return np.clip(np.rint(hazy), 0, 255).astype(np.uint8)


def test_a_veiled_photograph_comes_back_towards_the_clean_one() -> None:
    clean = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)  # an outdoor-like photograph, dark shadows
    clean = cv2.resize(clean, (384, 384), interpolation=cv2.INTER_AREA)
    hazy = veiled(clean, (215.0, 205.0, 195.0))
    scores = {strength: psnr(remove_veil(hazy, strength), clean) for strength in (0.0, 0.3, 0.6, 0.85)}
    assert scores[0.0] == pytest.approx(psnr(hazy, clean))
    assert scores[0.0] < scores[0.3] < scores[0.6] < scores[0.85], scores
    assert scores[0.85] > scores[0.0] + 4.0, scores
    out = remove_veil(hazy, 0.6)
    assert out.dtype == np.uint8 and out.shape == hazy.shape
    # the top (thickest veil) gains contrast most: the clean image's spread comes back
    top = slice(0, 96)
    assert out[top].std() > hazy[top].std() * 1.3


def test_strength_zero_is_the_identity_and_bad_input_is_refused() -> None:
    frame = index_frame(3)
    assert remove_veil(frame, 0.0) is frame
    for strength in (1.0, -0.1, float("nan"), "much"):
        with pytest.raises(JRGRError, match="veil strength .*: expected a number from 0 .off. to below 1"):
            remove_veil(frame, strength)  # type: ignore[arg-type]
    with pytest.raises(JRGRError, match="expected an .H, W, 3. uint8 image"):
        remove_veil(frame.astype(np.float32), 0.4)


@pytest.fixture(scope="module")
def f_r(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_fixture_net(tmp_path_factory.mktemp("nets") / "f_r.onnx")


def test_the_labels_patch_and_airlight_share_closed_form() -> None:
    """``loss.pl_veil_patch`` / ``loss.pl_airlight_fraction``: with the patch the whole image and the airlight the
    mean of every pixel, the transmission is one number, t = 1 − S · min(I / A), and B̂ = (I − A) / t + A."""
    rng = np.random.default_rng(0)
    frame = rng.integers(60, 220, (48, 64, 3)).astype(np.uint8)
    strength = 0.4
    airlight = frame.reshape(-1, 3).astype(np.float64).mean(axis=0) / 255.0
    t = 1.0 - strength * float((frame.astype(np.float64) / 255.0 / airlight).min())
    want = (frame.astype(np.float64) - 255.0 * airlight) / t + 255.0 * airlight
    out = remove_veil(frame, strength, patch_fraction=1.0, airlight_fraction=1.0)
    assert np.abs(out.astype(np.float64) - np.clip(want, 0, 255)).max() <= 1.0
    assert not np.array_equal(out, remove_veil(frame, strength))  # the runtime's patch and airlight differ
    # the labels' defaults are the runtime's (config cannot import OpenCV's module; a labels folder made with them
    # keeps the keys it had before the switches existed)
    from jrgr_deploy.config import LossConfig
    from jrgr_deploy.veil_removal import AIRLIGHT_FRACTION, PATCH_FRACTION

    assert (LossConfig().pl_veil_patch, LossConfig().pl_airlight_fraction) == (PATCH_FRACTION, AIRLIGHT_FRACTION)
    for patch, share in ((0.0, 0.001), (0.1, 0.0), (1.5, 0.001)):
        with pytest.raises(JRGRError, match="must both be in"):
            remove_veil(frame, strength, patch, share)


def test_deraining_removes_the_veil_from_the_derained_frame(f_r: Path, tmp_path: Path) -> None:
    frame = veiled(cv2.resize(index_frame(5), (192, 128)), (200.0, 200.0, 200.0))
    with Deraining(f_r, infer_hw=None) as plain, Deraining(f_r, infer_hw=None, veil=0.4) as with_veil:
        derained = plain(frame)
        got = with_veil(frame)
        assert with_veil.run_info()["veil_strength"] == 0.4
    np.testing.assert_array_equal(got, remove_veil(derained, 0.4))
    assert np.abs(got.astype(int) - derained.astype(int)).mean() > 2  # the stage did change the frame
    with pytest.raises(JRGRError, match="veil strength 1.2"):
        Deraining(f_r, veil=1.2)
    # the stream runs it on every frame and reports its time as a stage of its own
    video = write_video(tmp_path / "in.avi", [frame] * 6, fps=10)
    stats = tmp_path / "stats.json"
    assert main(["derain", str(video), "--weights", str(f_r), "-o", "null", "--veil", "0.4", "--no-progress",
                 "--stats", str(stats)]) == 0  # fmt: skip
    stages = json.loads(stats.read_text())["stages_ms"]
    assert stages["veil"]["count"] == 6 and stages["veil"]["p50"] > 0


def test_derain_refuses_a_bad_veil_strength(f_r: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    video = write_video(tmp_path / "in.avi", [index_frame(i) for i in range(3)], fps=10)
    assert main(["derain", str(video), "--weights", str(f_r), "-o", "null", "--veil", "1.5", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "veil strength 1.5: expected a number from 0 (off) to below 1" in err and "Traceback" not in err


def test_the_sidecar_strength_is_the_default_and_an_explicit_one_wins(f_r: Path, tmp_path: Path) -> None:
    import dataclasses
    import shutil

    from jrgr_deploy.artifact import read_sidecar, sidecar_path, write_sidecar

    adapted = tmp_path / "f_r.onnx"  # what `jrgr adapt` writes: the net plus the strength it chose
    shutil.copy(f_r, adapted)
    write_sidecar(adapted, dataclasses.replace(read_sidecar(f_r), veil_strength=0.4))
    frame = veiled(cv2.resize(index_frame(5), (192, 128)), (200.0, 200.0, 200.0))
    with Deraining(f_r, infer_hw=None) as plain, Deraining(adapted, infer_hw=None) as own, \
            Deraining(adapted, infer_hw=None, veil=0.0) as off:
        assert plain.run_info()["veil_strength"] == 0.0  # a plain export: off
        assert own.run_info()["veil_strength"] == 0.4 and off.run_info()["veil_strength"] == 0.0
        derained = plain(frame)
        np.testing.assert_array_equal(own(frame), remove_veil(derained, 0.4))
        np.testing.assert_array_equal(off(frame), derained)
    # a sidecar with a strength out of range is refused when the artefact is opened, naming the file
    data = json.loads(sidecar_path(adapted).read_text())
    data["veil_strength"] = 1.5
    sidecar_path(adapted).write_text(json.dumps(data))
    with pytest.raises(JRGRError, match=r"f_r.onnx.json.*veil_strength must be a number from 0 .off. to below 1"):
        Deraining(adapted)


def test_the_row_by_row_dark_channel_inverts_a_veil_that_follows_the_rows() -> None:
    """``loss.pl_veil_removal=row_dark_channel``: on a picture whose every row holds black pixels, veiled in linear
    light by a transmission that falls row by row towards the top, O² = T · B² + (1 − T) · A², the row's dark level
    (its 1st percentile) reads (1 − T) · A² / Â² on the airlight estimate Â: the closed form
    B̂² = (O² − Â²) / (1 − S · that) + Â² (smoothed down the rows) is what the result must match."""
    rng = np.random.default_rng(1)
    height, width = 96, 128
    clean = rng.integers(40, 230, (height, width, 3)).astype(np.float64) / 255.0
    clean[:, ::8] = 0.0  # every row's darkest channel reaches 0: the dark-channel prior holds row by row
    transmission = np.linspace(0.4, 0.95, height)[:, None, None]
    airlight = np.array([0.9, 0.88, 0.85])
    hazy_linear = transmission * clean**2 + (1 - transmission) * airlight**2
    hazy = np.clip(np.rint(np.sqrt(hazy_linear) * 255.0), 0, 255).astype(np.uint8)
    strength = 0.8
    # one band row, the whole image as the airlight's rows: A is the mean colour, t follows each row
    out = remove_row_veil(hazy, strength, band_fraction=1 / height, airlight_fraction=1.0)
    linear = (hazy.astype(np.float64) / 255.0) ** 2
    a_hat = linear.reshape(-1, 3).mean(axis=0)
    dark = np.percentile((linear / a_hat).min(axis=2), 1.0, axis=1)
    t_hat = cv2.GaussianBlur((1.0 - strength * dark).astype(np.float32)[:, None], (0, 0), sigmaX=0.5,
                             sigmaY=8 / 360 * height)[:, 0]
    want = np.sqrt(np.clip((linear - a_hat) / np.maximum(t_hat, 0.1)[:, None, None] + a_hat, 0, 1)) * 255.0
    assert np.abs(out.astype(np.float64) - want).max() <= 1.0
    # with the airlight from the brightest rows (the most veiled): towards the clean picture
    clean_u8 = np.rint(clean * 255.0).astype(np.uint8)
    assert psnr(remove_row_veil(hazy, strength, 0.1, 0.05), clean_u8) > psnr(hazy, clean_u8) + 2.5
    assert remove_row_veil(hazy, 0.0) is hazy
    with pytest.raises(JRGRError, match="must both be in"):
        remove_row_veil(hazy, strength, 0.0, 0.05)
    with pytest.raises(JRGRError, match="veil strength"):
        remove_row_veil(hazy, 1.0)


def test_the_sky_tolerance_keeps_a_sky_the_rows_take_for_veil() -> None:
    """``loss.pl_veil_sky_tolerance`` K: a clear blue sky over a dark street. The sky rows have no dark pixel, so
    the row-by-row prior reads them as dense veil and their small t multiplies the sky's difference from the
    airlight (the brightest rows' mean colour); with K each pixel within K grey levels of the airlight keeps its t
    times K / |I − A| (at most 1), so the sky stays as it was while the street, far from the airlight, is treated
    exactly as without K. The closed form on the same airlight and row transmission as the function's own."""
    rng = np.random.default_rng(2)
    height, width = 96, 128
    frame = np.empty((height, width, 3), np.uint8)
    frame[:40] = (200, 215, 235)  # sky: light blue, the airlight's rows
    frame[:40, ::3] = (230, 235, 240)  # thin clouds: the sky is not one colour
    frame[40:] = rng.integers(20, 120, (height - 40, width, 3))  # the street: dark pixels in every row
    strength, tolerance = 0.9, 40.0
    plain = remove_row_veil(frame, strength, 0.1, 0.2)
    kept = remove_row_veil(frame, strength, 0.1, 0.2, sky_tolerance=tolerance)
    sky, street = (slice(0, 30), slice(None)), (slice(56, None), slice(None))

    def error(image: np.ndarray, where: tuple[slice, slice]) -> float:
        return float(np.abs(image[where].astype(np.float64) - frame[where]).mean())

    assert error(plain, sky) > 20.0  # the prior fails on the sky: its colours pushed far from what they were
    assert error(kept, sky) < error(plain, sky) / 4
    np.testing.assert_array_equal(kept[street], plain[street])  # far from the airlight: untouched by K
    # the closed form: A and the rows' t as without K, then t' = min(t * max(K / d, 1), 1) per pixel
    linear = np.square(frame.astype(np.float32) / 255.0)
    band = np.ones((max(1, round(0.1 * height)) | 1, 1), np.uint8)
    dark = lambda image: cv2.erode(np.percentile(image.min(axis=2), 1.0, axis=1).astype(np.float32)[:, None], band)  # noqa: E731
    rows = max(1, round(height * 0.2))
    airlight = linear[np.argpartition(dark(linear)[:, 0], height - rows)[-rows:]].reshape(-1, 3).mean(axis=0)
    t = cv2.GaussianBlur(1.0 - strength * dark(linear / airlight), (0, 0), sigmaX=0.5, sigmaY=8 / 360 * height)
    t = np.maximum(t, 0.1)
    distance = cv2.GaussianBlur(np.abs(np.sqrt(linear) - np.sqrt(airlight)).max(axis=2) * 255.0, (0, 0), 2.0)
    t = np.minimum(t * np.maximum(tolerance / np.maximum(distance, 1e-3), 1.0), 1.0)
    want = np.sqrt(np.clip((linear - airlight) / t[:, :, None] + airlight, 0, 1)) * 255.0
    assert np.abs(kept.astype(np.float64) - want).max() <= 1.0
    with pytest.raises(JRGRError, match="sky tolerance"):
        remove_row_veil(frame, strength, 0.1, 0.2, sky_tolerance=-1.0)
