"""CI smoke run of `benchmarks/quality.py --quick`: the whole pipeline (backgrounds, data, oracle ground truth,
stage 1, sliced stage 2 with val trace, evaluation, figure, JSON, BENCHMARKS.md section) on tiny settings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from benchmark_scripts import load_benchmark


def test_gap_share() -> None:
    quality = load_benchmark("quality")
    assert quality.gap_share(30.0, 28.0, 32.0) == pytest.approx(0.5)
    assert quality.gap_share(27.0, 28.0, 32.0) == pytest.approx(-0.25)
    assert quality.gap_share(30.0, 28.0, 28.0) is None


# Not marked slow on purpose: it is CI's smoke run of the benchmark (~20-40 s on 2 cores), so it cannot rot.
def test_quick_run_end_to_end(tmp_path: Path) -> None:
    quality = load_benchmark("quality")
    markdown = tmp_path / "BENCHMARKS.md"
    markdown.write_text("# Benchmarks\n\n## Quality\n\nOLD-QUALITY-BODY\n\n## Latency\n\nlatency table kept\n")
    work, results_dir = tmp_path / "work", tmp_path / "results"
    argv = ["--quick", "--work", str(work), "--results", str(results_dir), "--markdown", str(markdown),
            "--ablations", "init1"]
    assert quality.main(argv) == 0

    results = json.loads((results_dir / "quality_quick.json").read_text())
    plan = results["plan"]
    assert set(results["table"]) == set(quality.ROWS)
    # Init-1 trains stage 2 alone: its trace has no step 0 (there is no stage-1 net to score).
    assert results["ablations"]["init1"]["val_trajectory"][0]["step"] == plan["stage2_iters"] // 2
    assert not (work / "ablation_init1" / "stage1.safetensors").exists()
    assert results["val_selected_step"] in (plan["stage2_iters"] // 2, plan["stage2_iters"])
    for row in quality.ROWS:
        for split in quality.SPLITS:
            scores = results["table"][row][split]
            assert scores["n"] == plan["n_test"]
            assert 5.0 < scores["psnr_y"] < 60.0 and 0.0 < scores["ssim_y"] <= 1.0
    # The oracle is trained on model-B pairs: it must beat the rainy input on model-B test rain.
    assert results["table"]["oracle"]["realistic"]["psnr_y"] > results["table"]["input"]["realistic"]["psnr_y"]
    assert results["table"]["supervised"]["gap_share_realistic"] == pytest.approx(0.0)
    assert results["table"]["oracle"]["gap_share_realistic"] == pytest.approx(1.0)
    # Backgrounds are split disjointly between the three parts.
    split = results["backgrounds"]["split"]
    parts = [set(split[name]) for name in ("synthetic", "real", "test")]
    assert all(parts) and not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    # Stage 2 was traced on the val split at step 0 and at each slice's end.
    assert [p["step"] for p in results["val_trajectory"]] == [0, plan["stage2_iters"] // 2, plan["stage2_iters"]]
    assert results["speed"]["stage2_s_per_it"] > 0

    # The oracle's ground truth is the exact clean patch of each unpaired model-B image.
    from jrgr_deploy.image_files import list_images, read_rgb

    oracle_clean = list_images(work / "oracle_clean")
    assert len(oracle_clean) == plan["n_real"]
    rainy = read_rgb(work / "data" / "train" / "real" / "rainy" / oracle_clean[0].name)
    clean = read_rgb(oracle_clean[0])
    assert rainy.shape == clean.shape and not np.array_equal(rainy, clean)

    figure = results_dir / "quality_quick.png"
    assert figure.stat().st_size < 1_500_000 and read_rgb(figure).shape[1] > 5 * plan["size"]
    text = markdown.read_text()
    assert "latency table kept" in text and "OLD-QUALITY-BODY" not in text.split("## Latency")[0]
    assert "| JRGR F_r (joint training, val-selected step) |" in text

    # Re-running finds every step done: no retraining, same numbers.
    before = (work / "jrgr" / "stage2.safetensors").stat().st_mtime_ns
    assert quality.main(argv) == 0
    assert (work / "jrgr" / "stage2.safetensors").stat().st_mtime_ns == before
    again = json.loads((results_dir / "quality_quick.json").read_text())
    assert again["table"] == results["table"]
