"""Smoke run of benchmarks/veil.py (one small camera, a few proxy patches) so the script cannot rot; the Markdown
section is rewritten from its JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from benchmark_scripts import load_benchmark

BACKGROUNDS = Path(__file__).resolve().parents[2] / "shared" / "data" / "backgrounds"


@pytest.mark.slow  # renders a 40-frame camera clip and derains it 9 times over
@pytest.mark.skipif(not BACKGROUNDS.is_dir(), reason=f"needs the offline photographs in {BACKGROUNDS}")
def test_veil_quick_smoke(tmp_path: Path) -> None:
    veil = load_benchmark("veil")
    markdown = tmp_path / "BENCHMARKS.md"
    assert veil.main(["--quick", "--backgrounds", str(BACKGROUNDS), "--out", str(tmp_path), "--work",
                      str(tmp_path / "work"), "--markdown", str(markdown), "--strengths", "0.2", "0.4"]) == 0
    results = json.loads((tmp_path / "veil.json").read_text())
    assert results["strengths"] == [0.0, 0.2, 0.4] and results["chosen_strength"] in (0.0, 0.2, 0.4)
    (camera,) = results["cameras"].values()
    assert camera["frames"] == 12 and camera["frame_hw"] == [96, 160]
    assert set(camera["psnr_y_db"]) == set(camera["ssim_y"]) == {"0.0", "0.2", "0.4"} and camera["stage_ms_p50"] > 0
    # the test frames are a clip in order: its flicker per strength (a real measurement, not a copy of PSNR)
    assert set(camera["flicker_y"]) == {"0.0", "0.2", "0.4"} and all(v > 0 for v in camera["flicker_y"].values())
    text = markdown.read_text()
    assert "## Veil removal" in text and "| urban100/img_050 | 12 |" in text and "flicker-Y" in text
    assert (tmp_path / "veil.png").read_bytes()[:4] == b"\x89PNG"
    markdown.write_text("# Benchmarks\n")
    assert veil.main(["--from-json", str(tmp_path / "veil.json"), "--out", str(tmp_path), "--markdown",
                      str(markdown)]) == 0  # fmt: skip
    assert "## Veil removal" in markdown.read_text()
    # --no-net: the stage alone on the rainy frames, so strength 0 scores the rainy input itself
    assert veil.main(["--quick", "--no-net", "--backgrounds", str(BACKGROUNDS), "--out", str(tmp_path), "--work",
                      str(tmp_path / "work"), "--name", "alone", "--markdown", "none", "--strengths", "0.4"]) == 0
    alone = json.loads((tmp_path / "alone.json").read_text())
    (camera,) = alone["cameras"].values()
    assert alone["weights"].startswith("none") and camera["psnr_y_db"]["0.0"] == camera["rainy_db"]
    assert camera["psnr_y_db"]["0.4"] != camera["rainy_db"]


def test_the_best_strengths_sentence_is_read_from_the_results() -> None:
    veil = load_benchmark("veil")

    def results(best_by_camera: dict[str, float]) -> dict:
        strengths = [0.0, 0.2, 0.4]
        cameras = {photo: {"psnr_y_db": {str(s): 30.0 - abs(s - best) for s in strengths}}
                   for photo, best in best_by_camera.items()}
        return {"chosen_strength": 0.2, "strengths": strengths, "cameras": cameras}

    assert "were at or above it." in veil._best_strengths_sentence(results({"a": 0.2, "b": 0.4}))
    below = veil._best_strengths_sentence(results({"a": 0.4, "b": 0.0}))
    assert "not all at or above it" in below and "below it on b," in below and " a," not in below
