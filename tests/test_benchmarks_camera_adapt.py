"""`benchmarks/camera_adapt.py` on tiny settings: the clip, its adaptation / test split, every row through the
real `jrgr adapt`, the goals and the markdown (slow: three adaptations)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from benchmark_scripts import load_benchmark
from tiny_checkpoints import save_tiny_checkpoint

BACKGROUNDS = Path(__file__).resolve().parents[2] / "shared" / "data" / "backgrounds"


def test_paper_switches_undo_the_shipped_recipe() -> None:
    from jrgr_deploy.config import PLUS_SWITCHES, JRGRConfig

    camera_adapt = load_benchmark("camera_adapt")
    undo = camera_adapt.paper_switches()
    assert [s.split("=")[0] for s in undo] == [s.split("=")[0] for s in PLUS_SWITCHES]
    plus_then_paper = JRGRConfig.from_preset("plus").with_overrides(undo)
    tiny = JRGRConfig.from_preset("tiny")
    assert plus_then_paper.model.discriminator == tiny.model.discriminator
    assert plus_then_paper.loss.weights == tiny.loss.weights
    assert plus_then_paper.train.ema_decay == tiny.train.ema_decay


def test_rows_measured_before_the_keep_term_still_train_the_recipe_they_were_measured_with(tmp_path: Path) -> None:
    """`SELF_TRAINING_BEFORE_KEEP` after today's `--recipe self-training` gives the losses of the recipe as it was
    (the quality benchmark keeps that recipe's switches); a row's own switches then apply on top."""
    from jrgr_deploy.app.adapt import AdaptRequest, _config
    from jrgr_deploy.config import JRGRConfig

    camera_adapt = load_benchmark("camera_adapt")
    quality = load_benchmark("quality")
    weights = save_tiny_checkpoint(tmp_path / "start.safetensors")

    def loss(*overrides: str):
        return _config(AdaptRequest(footage="f", out_dir=tmp_path, weights=weights, recipe="self-training",
                                    overrides=overrides), tmp_path, weights, 600, 100).loss

    before = JRGRConfig.from_preset("tiny").with_overrides(quality.SELF_TRAINING_RECIPE).loss
    assert loss(*camera_adapt.row_overrides(camera_adapt.ROWS["adapt_self"])) == before
    assert loss() != before and loss().weights.mse_fr_keep == 4
    row = camera_adapt.ROWS["adapt_self_rows_first_detail_keep4"]
    assert row["before_keep"]
    kept = loss(*camera_adapt.row_overrides(row))
    # at 600 steps the default recipe's losses are this row's, but for the labels' scale (since 2026-12-06 12:17 UTC)
    # and F_r taught the synthetic pairs (since 2026-12-06 23:30 UTC): the rows measured before keep them as they were
    untaught = loss("loss.weights.mse_fr_os=0")
    assert kept == loss("loss.pl_label_scale=1", "loss.weights.mse_fr_os=0") and loss().pl_label_scale == 2.5
    assert untaught != loss() and loss(*camera_adapt.row_overrides(camera_adapt.ROWS["adapt_default"])) == loss()
    assert loss(*camera_adapt.row_overrides(camera_adapt.ROWS["adapt_default_label_scale2.5"])) == untaught
    assert loss(*camera_adapt.row_overrides(camera_adapt.ROWS["adapt_default_pairs_taught"])) == loss()
    assert loss(*camera_adapt.row_overrides(camera_adapt.ROWS["adapt_default_sky40"])) == loss(
        "loss.pl_veil_sky_tolerance=40")  # today's default and the tolerance, nothing else
    assert loss(*camera_adapt.row_overrides(camera_adapt.ROWS["adapt_default_veil_after"])) == loss(
        "loss.pl_veil_first=false")
    assert loss(*camera_adapt.row_overrides(camera_adapt.ROWS["adapt_default_keep8"])) == loss(
        "loss.weights.mse_fr_os=0", "loss.weights.mse_fr_keep=8")
    assert "mse_fr_os=0" not in " ".join(camera_adapt.row_overrides(camera_adapt.ROWS["adapt_plus"]))  # joint rows
    # ... on the pairs it was measured with: model A, the default's until the pairs alternated models A and B
    assert "pair_rain" not in row and camera_adapt.ROWS["adapt_default_pairs_synthetic"]["pair_rain"] == "synthetic"
    assert AdaptRequest(footage="f", out_dir=tmp_path).resolved_pair_rain == "mixed"
    # ... and deployed as the snapshot it selected, where the default now mixes it with the start: only the
    # default row asks for the command's share
    assert [name for name, r in camera_adapt.ROWS.items() if "start_share" in r] == [
        "adapt_default", "adapt_default_label_scale2.5", "adapt_default_label_scale2.5_veil0.5",
        "adapt_default_label_scale1", "adapt_default_label_scale2.5_veil0", "adapt_default_keep8",
        "adapt_default_pairs_taught", "adapt_default_sky40",
        "adapt_default_veil_after"]
    assert all(camera_adapt.ROWS[name]["start_share"] is None for name in camera_adapt.ROWS if name.startswith(
        "adapt_default_label_scale"))
    assert camera_adapt.ROWS["adapt_default"]["start_share"] is None
    # ... and with labels made at the footage's own size: only the default row takes the command's label scale
    assert [name for name, r in camera_adapt.ROWS.items() if "label_scale" in r] == [
        "adapt_default", "adapt_default_keep8", "adapt_default_pairs_taught", "adapt_default_sky40",
        "adapt_default_veil_after"]
    assert AdaptRequest(footage="f", out_dir=tmp_path, start_share=0.0).resolved_start_share == 0.0


def test_seed_summary_is_the_mean_and_sd_over_seeds_with_the_worst_snapshot() -> None:
    camera_adapt = load_benchmark("camera_adapt")
    runs = [{"seed": 0, "psnr_y": 25.0, "ssim_y": 0.9, "selected_step": 600, "last": {"psnr_y": 25.0, "ssim_y": 0.9}},
            {"seed": 1, "psnr_y": 27.0, "ssim_y": 0.8, "selected_step": 300, "last": {"psnr_y": 22.0, "ssim_y": 0.7}}]
    row = camera_adapt.seed_summary("r", runs)
    assert row["psnr_y"] == 26.0 and row["psnr_y_sd"] == pytest.approx(2 ** 0.5, abs=1e-4)
    assert row["ssim_y"] == 0.85 and row["last"]["psnr_y"] == 23.5
    assert row["worst_psnr_y"] == 22.0 and row["selected_step"] == [600, 300]
    goals = camera_adapt.goals({"stage1": {"psnr_y": 23.0}, "adapt_plus_dry": row})
    assert goals["adapt_plus_dry >= stage 1 + 2.0 dB"] == {"met": True, "value": "+3.00 dB"}
    assert goals["adapt_plus_dry: selected and last step never below stage 1"] == {"met": False, "value": "-1.00 dB"}


def test_guard_summary_splits_the_snapshots_by_the_scene_guard() -> None:
    camera_adapt = load_benchmark("camera_adapt")
    entries = [{"seed": 0, "step": 0, "camera_psnr_y": 23.0, "scene_psnr_y": 30.0},
               {"seed": 0, "step": 100, "camera_psnr_y": 24.0, "scene_psnr_y": 27.0},
               {"seed": 0, "step": 200, "camera_psnr_y": 20.0, "scene_psnr_y": 22.0},
               {"seed": 1, "step": 0, "camera_psnr_y": 23.0, "scene_psnr_y": 29.0},
               {"seed": 1, "step": 100, "camera_psnr_y": 23.5, "scene_psnr_y": 24.0}]
    assert camera_adapt.guard_summary(entries, 5.0) == (
        "2 snapshots within 5 dB of the start on the scene guard: camera PSNR-Y change +0.50 to +1.00 dB; "
        "1 beyond it: -3.00 to -3.00 dB")
    assert camera_adapt.guard_summary([{**e, "scene_psnr_y": None} for e in entries], 5.0) is None


@pytest.mark.slow
@pytest.mark.skipif(not BACKGROUNDS.is_dir(), reason=f"needs the offline photographs in {BACKGROUNDS}")
def test_camera_adapt_end_to_end(tmp_path: Path) -> None:
    from jrgr_deploy.app.adapt import VEIL_STRENGTHS

    camera_adapt = load_benchmark("camera_adapt")
    weights = save_tiny_checkpoint(tmp_path / "start.safetensors")
    markdown = tmp_path / "BENCHMARKS.md"
    markdown.write_text("# Benchmarks\n\n## Camera adaptation\n\nOLD\n")
    argv = ["--work", str(tmp_path / "work"), "--results", str(tmp_path / "results"), "--markdown", str(markdown),
            "--weights", str(weights), "--iterations", "6", "--val-points", "2", "--size", "160x96",
            "--frames", "66", "--adapt-frames", "54", "--dry-frames", "44", "--backgrounds", str(BACKGROUNDS),
            "--every-snapshot", "--start-shares", "0", "0.5"]
    assert camera_adapt.main(argv) == 0
    results = json.loads((tmp_path / "results" / "camera_adapt.json").read_text())
    assert list(results["rows"]) == ["input", "shipped", "shipped_veil", *camera_adapt.ROWS]
    # what each adaptation deployed: its ONNX with the veil strength `jrgr adapt` wrote into the sidecar
    for name in ("adapt_plus", "adapt_plus_dry"):
        deployed = results["rows"][name]["deployed"]
        assert 5 < deployed["psnr_y"] < 60 and deployed["veil_strength"][0] in VEIL_STRENGTHS
    assert "deployed" not in results["rows"]["adapt_plus_proxy_only"]
    # adaptation saw only the first frames; the test frames are the rest
    assert len(list((tmp_path / "work" / "footage").iterdir())) == 54
    assert len(list((tmp_path / "work" / "test" / "clean").iterdir())) == 12
    for name in camera_adapt.ROWS:
        row = results["rows"][name]
        assert 5 < row["psnr_y"] < 60 and 5 < row["last"]["psnr_y"] < 60
        assert [p["step"] for p in row["seeds"][0]["proxy_val"]] == [0, 3, 6]
    assert "OLD" not in markdown.read_text() and "| `jrgr adapt --dry`" in markdown.read_text()
    assert "adapt_plus, deployed (ONNX + its veil strength) >= shipped model + 1.0 dB" in markdown.read_text()
    # the proxy-only row reads the same trainings as adapt_plus; every snapshot of every training row is scored
    assert results["rows"]["adapt_plus_proxy_only"]["last"] == results["rows"]["adapt_plus"]["last"]
    assert set(results["snapshots"]) == {name for name in camera_adapt.ROWS if name != "adapt_plus_proxy_only"}
    assert [e["step"] for e in results["snapshots"]["adapt_plus"]] == [0, 3, 6]
    assert all(e["scene_psnr_y"] is not None for e in results["snapshots"]["adapt_plus"])
    assert "Every snapshot of `adapt_plus` scored on the camera" in markdown.read_text()
    # each self-training run's selected snapshot mixed with the start: share 0 is the snapshot itself
    assert "adapt_plus" not in results["start_shares"] and "adapt_default" in results["start_shares"]
    for name, entries in results["start_shares"].items():
        for run in results["rows"][name]["seeds"]:
            shares = {e["start_share"]: e for e in entries if e["seed"] == run["seed"]}
            assert sorted(shares) == ([0.0, 0.5] if run["selected_step"] else [])
            if shares:
                assert shares[0.0]["camera_psnr_y"] == pytest.approx(run["psnr_y"], abs=1e-3)
                assert shares[0.5]["camera_psnr_y"] != shares[0.0]["camera_psnr_y"]


def test_the_start_share_table_has_a_row_per_seed_and_a_column_per_share() -> None:
    camera_adapt = load_benchmark("camera_adapt")
    entries = [{"seed": seed, "step": 600, "start_share": share, "camera_psnr_y": 24 + seed + share,
                "proxy_psnr_y": 25 + share} for seed in (0, 1) for share in (0.0, 0.3)]
    assert camera_adapt.start_share_table(entries) == [
        "| seed, step | share 0 | share 0.3 |", "|---|---:|---:|",
        "| 0, 600 | 24.00 (25.00) | 24.30 (25.30) |", "| 1, 600 | 25.00 (25.00) | 25.30 (25.30) |"]


def test_the_markdown_says_the_budget_and_what_was_deployed() -> None:
    camera_adapt = load_benchmark("camera_adapt")
    run = {"seed": 0, "psnr_y": 24.0, "ssim_y": 0.9, "selected_step": 94, "iterations": 412,
           "last": {"psnr_y": 23.0, "ssim_y": 0.8},
           "deployed": {"psnr_y": 25.1, "ssim_y": 0.91, "step": 0, "veil_strength": 0.3}}
    row = camera_adapt.seed_summary("`jrgr adapt` (shipped recipe, JRGR+)", [run])
    rows = {"shipped": {"label": "shipped model", "psnr_y": 23.4, "ssim_y": 0.87}, "adapt_plus": row}
    results = {"machine": {"cpu": "cpu", "cores": 2, "gpu": None, "date_utc": "2026-12-02 06:00"},
               "clip": {"photo": "urban100/img_050", "frames": 300, "size_wh": [640, 360], "fps": 10.0,
                        "rain_preset": "medium", "adapt_frames": 200, "dry_frames": 120},
               "command": "python benchmarks/camera_adapt.py --minutes 20", "rows": rows, "minutes": 20.0,
               "iterations": 600, "seeds": [0], "goals": camera_adapt.goals(rows), "scene_guard_db": 5.0}
    text = camera_adapt.markdown(results)
    assert "runs `jrgr adapt --minutes 20`" in text and "adapt_plus seed 0: 412" in text
    assert "| 25.10 | 0, 0.3 |" in text  # the deployed ONNX's score, its step and veil strength
    assert "- MET: adapt_plus, deployed (ONNX + its veil strength) >= shipped model + 1.0 dB (+1.70 dB)" in text
    assert "- MET: adapt_plus, deployed: no seed below the shipped model (+1.70 dB)" in text
    results.pop("minutes")
    assert "trains the same 600 iterations" in camera_adapt.markdown(results)


def test_the_flicker_line_reads_the_shipped_model_and_each_trained_row() -> None:
    camera_adapt = load_benchmark("camera_adapt")
    runs = [{"seed": seed, "psnr_y": 24.0, "ssim_y": 0.9, "selected_step": 94, "iterations": 600,
             "last": {"psnr_y": 23.0, "ssim_y": 0.8, "flicker_y": flicker},
             "deployed": {"psnr_y": 25.0, "ssim_y": 0.9, "flicker_y": flicker + 0.2, "step": 0, "veil_strength": 0.3}}
            for seed, flicker in ((0, 3.0), (1, 3.2))]
    rows = {"shipped": {"label": "shipped", "psnr_y": 23.4, "ssim_y": 0.87, "flicker_y": 3.25},
            "shipped_veil": {"label": "veil", "psnr_y": 25.0, "ssim_y": 0.89, "flicker_y": 3.375},
            "adapt_pl_only": camera_adapt.seed_summary("pseudo-labels alone", runs)}
    line = camera_adapt.flicker_line(rows)
    assert "shipped model 3.250; with `--veil 0.3` 3.375; adapt_pl_only: last step 3.100, deployed 3.300." in line
    rows["shipped"].pop("flicker_y")
    assert camera_adapt.flicker_line(rows) is None  # results written before flicker was measured


def test_a_self_training_row_is_also_read_with_the_veil_stage_on_top() -> None:
    camera_adapt = load_benchmark("camera_adapt")
    runs = [{"seed": seed, "psnr_y": 24.0, "ssim_y": 0.9, "selected_step": 600, "iterations": 600,
             "last": {"psnr_y": 24.0, "ssim_y": 0.9},
             "deployed": {"psnr_y": 24.0, "ssim_y": 0.9, "step": 600, "veil_strength": 0.0,
                          "psnr_y_with_shipped_veil": veiled}} for seed, veiled in ((0, 25.0), (1, 26.0))]
    row = camera_adapt.seed_summary("self", runs)
    assert row["deployed"]["psnr_y_with_shipped_veil"] == 25.5
    assert row["deployed"]["psnr_y_with_shipped_veil_sd"] == pytest.approx(2 ** -0.5, abs=1e-4)
    results = {"machine": {"cpu": "cpu", "cores": 2, "gpu": None, "date_utc": "2026-12-02 06:00"},
               "clip": {"photo": "urban100/img_050", "frames": 300, "size_wh": [640, 360], "fps": 10.0,
                        "rain_preset": "medium", "adapt_frames": 200, "dry_frames": 120},
               "command": "python benchmarks/camera_adapt.py", "iterations": 600, "seeds": [0, 1],
               "rows": {"shipped": {"label": "shipped", "psnr_y": 23.4, "ssim_y": 0.87}, "adapt_self": row},
               "goals": {}, "scene_guard_db": 5.0}
    assert "`adapt_self`'s model run with `jrgr derain --veil 0.3` (the veil stage on top of the self-trained net): " \
           "25.50 ± 0.71 dB PSNR-Y." in camera_adapt.markdown(results)
    # only self-training rows are read again with the stage (the joint recipe chose its strength already)
    assert camera_adapt._with_shipped_veil("adapt_plus", Path("unused.onnx"), Path("unused")) == {}
