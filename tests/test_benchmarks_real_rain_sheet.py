"""`benchmarks/real_rain_sheet.py`: the centre crops that make streaks visible on the model card's sheet, the
measures kept on whole photographs, and clear errors for bad arguments."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from benchmark_scripts import load_benchmark

SHIPPED = Path(__file__).resolve().parents[1] / "jrgr_deploy" / "weights" / "jrgr_tiny.safetensors"


def test_centre_crop_takes_the_middle_and_clips_to_the_image() -> None:
    script = load_benchmark("real_rain_sheet")
    image = np.arange(10 * 20).reshape(10, 20)
    crop = script.centre_crop(image, (4, 6))
    assert crop.shape == (4, 6) and crop[0, 0] == image[3, 7]
    assert script.centre_crop(image, (40, 8)).shape == (10, 8)  # taller than the image: its whole height


def test_crop_sheet_keeps_the_whole_photographs_measures(tmp_path: Path, capsys) -> None:
    script = load_benchmark("real_rain_sheet")
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        cv2.imwrite(str(photos / f"{i}.png"), rng.integers(0, 256, (96, 128, 3), dtype=np.uint8))
    whole, crops = tmp_path / "whole.png", tmp_path / "crops.png"
    assert script.main(["--photos", str(photos), "--model", f"v={SHIPPED}", "--out", str(whole)]) == 0
    assert script.main(["--photos", str(photos), "--model", f"v={SHIPPED}", "--out", str(crops), "--crop", "64x32",
                        "--columns", "1"]) == 0
    report_whole = json.loads(whole.with_suffix(".json").read_text())
    report_crops = json.loads(crops.with_suffix(".json").read_text())
    assert report_crops["crop_wh"] == [64, 32] and "crop_wh" not in report_whole
    assert report_crops["models"] == report_whole["models"]  # measured on the whole photographs either way
    assert set(report_whole["models"]["v"]) == {"mean_abs_change", "local_contrast", "streak_energy"}
    assert report_whole["rainy_streak_energy"] >= 0
    assert cv2.imread(str(crops)) is not None
    capsys.readouterr()
    assert script.main(["--photos", str(photos), "--model", f"v={SHIPPED}", "--crop", "64"]) == 2
    assert "--crop '64' is not WIDTHxHEIGHT" in capsys.readouterr().err
    assert script.main(["--photos", str(photos), "--model", f"v={SHIPPED}", "--columns", "0"]) == 2


def test_the_veil_stage_alone_is_a_column_of_its_own(tmp_path: Path, capsys) -> None:
    """``--veil-alone S``: the runtime's veil stage on the rainy photographs, no net, measured like a model."""
    from jrgr_deploy.image_files import read_rgb
    from jrgr_deploy.veil_removal import remove_veil

    script = load_benchmark("real_rain_sheet")
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(1)
    cv2.imwrite(str(photos / "0.png"), rng.integers(60, 256, (96, 128, 3), dtype=np.uint8))
    out = tmp_path / "sheet.png"
    assert script.main(["--photos", str(photos), "--model", f"v={SHIPPED}", "--veil-alone", "0.5", "--out",
                        str(out)]) == 0
    models = json.loads(out.with_suffix(".json").read_text())["models"]
    rainy = read_rgb(photos / "0.png")
    change = np.abs(remove_veil(rainy, 0.5).astype(int) - rainy).mean()
    assert models["veil stage alone, S 0.5 (no net)"]["mean_abs_change"] == round(float(change), 3) > 0
    assert list(models) == ["veil stage alone, S 0.5 (no net)", "v"]
    capsys.readouterr()
    assert script.main(["--photos", str(photos), "--model", f"v={SHIPPED}", "--veil-alone", "1"]) == 2
    assert "--veil-alone must be in [0, 1)" in capsys.readouterr().err
