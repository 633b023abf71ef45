"""CI smoke run of `benchmarks/quality.py --quick`: the whole pipeline (data with its four photograph parts, oracle
ground truth, stage 1 per seed, every method traced on val and read at its val-selected and last step, mean ± sd
table, goals, figures, JSON, BENCHMARKS.md section) on tiny settings."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from benchmark_scripts import load_benchmark

from jrgr_deploy.default_model import default_checkpoint
from jrgr_deploy.errors import JRGRError
from jrgr_deploy.training.tracing import even_marks, halving_marks, select_not_worse, val_selected_step


def test_gap_share_selection_and_collapse_report() -> None:
    quality = load_benchmark("quality")
    assert quality.gap_share(30.0, 28.0, 32.0) == pytest.approx(0.5)
    assert quality.gap_share(27.0, 28.0, 32.0) == pytest.approx(-0.25)
    assert quality.gap_share(30.0, 28.0, 28.0) is None
    trace = [{"step": 0, "psnr_y": 25.0}, {"step": 10, "psnr_y": 24.5}, {"step": 20, "psnr_y": 26.0},
             {"step": 30, "psnr_y": 25.8}]
    assert val_selected_step(trace) == 20 and select_not_worse(trace) == 20
    # step 0 (the starting net) is never selected, even when it is the best ...
    assert val_selected_step([{"step": 0, "psnr_y": 30.0}, *trace[1:]]) == 20
    # ... but the never-worse rule then keeps it
    assert select_not_worse([{"step": 0, "psnr_y": 30.0}, *trace[1:]]) == 0
    assert even_marks(10, 2) == [5, 10] and even_marks(3, 5) == [1, 2, 3]
    assert halving_marks(600, 6) == [19, 38, 75, 150, 300, 600] and halving_marks(4, 6) == [1, 2, 4]
    report = quality.collapse_report(trace)
    assert report["worst_drop_below_start_db"] == pytest.approx(0.5)
    assert report["last_below_best_db"] == pytest.approx(0.2)


# Not marked slow on purpose: it is CI's smoke run of the benchmark (~1 min on 2 cores), so it cannot rot.
def test_quick_run_end_to_end(tmp_path: Path, monkeypatch) -> None:
    quality = load_benchmark("quality")
    markdown = tmp_path / "BENCHMARKS.md"
    markdown.write_text("# Benchmarks\n\n## Quality\n\nOLD-QUALITY-BODY\n\n## Latency\n\nlatency table kept\n")
    work, results_dir = tmp_path / "work", tmp_path / "results"
    methods = ["supervised_continued", "jrgr_paper"]
    argv = ["--quick", "--work", str(work), "--results", str(results_dir), "--markdown", str(markdown),
            "--seeds", "0", "--methods", *methods, "--best", "jrgr_paper"]
    assert quality.main(argv) == 0

    results = json.loads((results_dir / "quality_quick.json").read_text())
    plan = results["plan"]
    rows = {"input", "supervised", "oracle"} | {f"{m}@{w}" for m in methods for w in ("val", "last")}
    assert set(results["table"]) == rows
    for row in rows:
        for split in quality.SPLITS:
            stats = results["table"][row][split]["psnr_y"]
            assert 5.0 < stats["mean"] < 60.0 and len(stats["per_seed"]) == 1
    # The oracle is trained on model-B pairs: it must beat the rainy input on model-B test rain.
    table = results["table"]
    assert table["oracle"]["realistic"]["psnr_y"]["mean"] > table["input"]["realistic"]["psnr_y"]["mean"]
    assert table["supervised"]["gap_share_realistic"] == pytest.approx(0.0)
    assert table["oracle"]["gap_share_realistic"] == pytest.approx(1.0)
    # Photographs are split disjointly between the four parts; val never shares a training photograph.
    split = results["backgrounds"]
    parts = {name: set(split[name]) for name in ("synthetic", "real", "val", "test")}
    assert all(parts.values())
    for a, b in itertools.combinations(parts, 2):
        assert not parts[a] & parts[b], (a, b)
    # Every method was traced on val at step 0 and at each slice's end, with the same selection rule.
    for method in methods:
        trace = results["val_trajectories"][method]["0"]
        assert [p["step"] for p in trace] == [0, plan["iters"] // 2, plan["iters"]]
        assert table[f"{method}@val"]["selected_steps"] == [val_selected_step(trace)]
    assert set(results["goals"]) and all("met" in g for g in results["goals"].values())

    # The oracle's ground truth is the exact clean patch of each unpaired model-B image.
    from jrgr_deploy.image_files import list_images, read_rgb

    oracle_clean = list_images(work / "oracle_clean")
    assert len(oracle_clean) == plan["n_real"]
    rainy = read_rgb(work / "data" / "train" / "real" / "rainy" / oracle_clean[0].name)
    clean = read_rgb(oracle_clean[0])
    assert rainy.shape == clean.shape and not np.array_equal(rainy, clean)

    figure = results_dir / "quality_quick.png"
    assert figure.stat().st_size < 1_500_000 and read_rgb(figure).shape[1] > 5 * plan["size"]
    assert (results_dir / "quality_quick_curves.png").is_file()
    text = markdown.read_text()
    assert "latency table kept" in text and "OLD-QUALITY-BODY" not in text.split("## Latency")[0]
    assert f"| {quality.row_label('supervised_continued@val')} | 1 |" in text

    # Re-running finds every step done: no retraining, same numbers; `--markdown none` writes no Markdown at all
    # (not a file called "none" in the working folder).
    stage2 = work / "seed0" / "jrgr_paper" / "stage2.safetensors"
    before = stage2.stat().st_mtime_ns
    monkeypatch.chdir(tmp_path)
    markdown.write_text("unchanged")
    assert quality.main([*argv[:argv.index("--markdown")], "--markdown", "none", *argv[argv.index("--seeds"):]]) == 0
    assert markdown.read_text() == "unchanged" and not (tmp_path / "none").exists()
    assert stage2.stat().st_mtime_ns == before
    again = json.loads((results_dir / "quality_quick.json").read_text())
    assert again["table"] == results["table"]

    # benchmarks/population_tone.py on the trained rows: strength 0 is F_r alone, as the table scored it
    tone = load_benchmark("population_tone")
    assert tone.main(["--work", str(work), "--methods", "jrgr_paper", "--seeds", "0", "--strengths", "0.3",
                      "--grid", "2", "--real-images", "8", "--results", str(results_dir)]) == 0
    report = json.loads((results_dir / "population_tone.json").read_text())["rows"]["jrgr_paper"]
    selected = report["per_seed"][0]["selected"]
    assert selected["step"] == table["jrgr_paper@val"]["selected_steps"][0]
    assert selected["test"]["0.0"] == pytest.approx(table["jrgr_paper@val"]["realistic"]["psnr_y"]["mean"], abs=0.01)
    assert selected["test"]["0.3"] != selected["test"]["0.0"]  # the map changed the outputs
    assert report["selected"]["strength"] in (0.0, 0.3)
    assert tone.main(["--work", str(tmp_path), "--methods", "jrgr_paper"]) == 2  # not a work folder

    # benchmarks/snapshot_scores.py: test scores of every snapshot beside the val curve; the last step's is the
    # table's (the same cache), step 0's the supervised net's
    snapshots = load_benchmark("snapshot_scores")
    assert snapshots.main(["--work", str(work), "--methods", "jrgr_paper", "--results", str(results_dir),
                           "--name", "snap"]) == 0
    curve = json.loads((results_dir / "snap.json").read_text())["curves"]["jrgr_paper"]["0"]
    assert [p["step"] for p in curve] == [p["step"] for p in results["val_trajectories"]["jrgr_paper"]["0"]]
    assert [p["val_psnr_y"] for p in curve] == [p["psnr_y"] for p in results["val_trajectories"]["jrgr_paper"]["0"]]
    assert curve[-1]["test_psnr_y"] == table["jrgr_paper@last"]["realistic"]["psnr_y"]["mean"]
    assert curve[0]["test_psnr_y"] == table["supervised"]["realistic"]["psnr_y"]["mean"]
    assert (results_dir / "snap.png").is_file()
    assert snapshots.main(["--work", str(work), "--methods", "cyclegan", "--results", str(results_dir)]) == 2

    # benchmarks/error_anatomy.py: the input's own offset line is the identity; a row's PSNR-Y is the table's
    anatomy = load_benchmark("error_anatomy")
    assert anatomy.main(["--work", str(work), "--methods", "jrgr_paper", "--results", str(results_dir),
                         "--name", "anat"]) == 0
    anat = json.loads((results_dir / "anat.json").read_text())
    rows = anat["rows"]
    assert set(anat["rain"]) == {"model A (synthetic pairs)", "model B (real split)"}
    assert all(r["streak_energy_mean"] > 0 and -1 <= r["correlation"] <= 1 for r in anat["rain"].values())
    assert rows["rainy input"]["offset_slope"] == pytest.approx(1.0) and rows["rainy input"]["offset_intercept"] == \
        pytest.approx(0.0, abs=1e-6)
    assert rows["jrgr_paper (val-selected)"]["psnr_y_db"]["mean"] == pytest.approx(
        table["jrgr_paper@val"]["realistic"]["psnr_y"]["mean"], abs=0.01)
    assert rows["rainy input"]["psnr_y_db"] == pytest.approx(table["input"]["realistic"]["psnr_y"]["mean"], abs=0.01)
    assert anatomy.main(["--work", str(tmp_path), "--methods", "jrgr_paper", "--results", str(results_dir)]) == 2

    # benchmarks/label_veil.py: at strength 0 the labels are the net's output (the first row), as scored
    veil = load_benchmark("label_veil")
    assert veil.main(["--work", str(work), "--split", "test/realistic", "--strengths", "0", "0.5", "--patches", "0.3",
                      "--results", str(results_dir), "--name", "veil"]) == 0
    scored = json.loads((results_dir / "veil.json").read_text())["rows"]
    assert scored[1]["strength"] == 0 and scored[1]["psnr_y_db"] == scored[0]["psnr_y_db"]
    assert scored[2]["psnr_y_db"] != scored[0]["psnr_y_db"]
    # first: strength 0 removes nothing before the net either, so the labels are again the net's output
    assert veil.main(["--work", str(work), "--split", "test/realistic", "--strengths", "0", "0.5", "--removals",
                      "row_dark_channel", "--orders", "first", "--results", str(results_dir), "--name", "veil"]) == 0
    scored = json.loads((results_dir / "veil.json").read_text())["rows"]
    assert [(r["removal"], r["order"]) for r in scored[1:]] == [("row_dark_channel", "first")] * 2
    assert scored[1]["psnr_y_db"] == scored[0]["psnr_y_db"] != scored[2]["psnr_y_db"]
    # alone: no net, so strength 0 leaves the rainy image itself, scored as the benchmark scores the input row
    assert veil.main(["--work", str(work), "--split", "test/realistic", "--strengths", "0", "0.5", "--orders",
                      "alone", "--results", str(results_dir), "--name", "veil"]) == 0
    scored = json.loads((results_dir / "veil.json").read_text())["rows"]
    assert scored[1]["psnr_y_db"] == pytest.approx(table["input"]["realistic"]["psnr_y"]["mean"], abs=0.01)
    assert scored[2]["psnr_y_db"] != scored[1]["psnr_y_db"]
    # first_blur keeps the net's blur over the unveiled image's detail: with a blur of no width, the net's output
    assert veil.main(["--work", str(work), "--split", "test/realistic", "--strengths", "0.5", "--orders", "first",
                      "first_blur", "--detail-px", "0.1", "--results", str(results_dir), "--name", "veil"]) == 0
    first, blurred = json.loads((results_dir / "veil.json").read_text())["rows"][1:]
    assert blurred["order"] == "first_blur" and blurred["psnr_y_db"] == pytest.approx(first["psnr_y_db"], abs=1e-6)
    assert veil.main(["--work", str(work), "--split", "test/realistic", "--strengths", "0.5", "--orders",
                      "first_blur", "--results", str(results_dir), "--name", "veil"]) == 0
    assert json.loads((results_dir / "veil.json").read_text())["rows"][1]["psnr_y_db"] != first["psnr_y_db"]
    # tiles: one tile larger than the image is the whole image; smaller ones read each tile's veil on its own
    assert veil.main(["--work", str(work), "--split", "test/realistic", "--strengths", "0.5", "--removals",
                      "row_dark_channel", "dark_channel", "--orders", "alone", "--tiles", "4096x4096", "32x16",
                      "--results", str(results_dir), "--name", "veil"]) == 0
    tiled = json.loads((results_dir / "veil.json").read_text())["rows"][1:]
    for whole, large, small in (tiled[:3], tiled[3:]):
        assert "tile_wh" not in whole and large["tile_wh"] == [4096, 4096] and small["tile_wh"] == [32, 16]
        assert large["psnr_y_db"] == whole["psnr_y_db"] != small["psnr_y_db"]
    with pytest.raises(SystemExit, match="2"):
        veil.main(["--work", str(work), "--orders", "first", "--tiles", "32x16"])
    with pytest.raises(SystemExit, match="2"):
        veil.main(["--work", str(work), "--orders", "alone", "--tiles", "32"])
    assert veil.main(["--work", str(tmp_path / "nowhere")]) == 2
    # carvings: against the labels' own net as the reference nothing is carved; against the default model, the
    # lines taken twice move the labels
    stage1 = load_benchmark("quality").Work(work).run(0, "supervised") / "stage1.safetensors"
    for reference, same in ((stage1, True), (default_checkpoint(), False)):
        assert veil.main(["--work", str(work), "--split", "test/realistic", "--net", str(stage1), "--strengths", "0.5",
                          "--orders", "first", "--streak-reference", str(reference), "--carvings", "residue:1",
                          "lines:2", "--results", str(results_dir), "--name", "veil"]) == 0
        plain, residue, lines = json.loads((results_dir / "veil.json").read_text())["rows"][1:]
        assert (residue["carving"], residue["gain"], lines["carving"], lines["gain"]) == ("residue", 1, "lines", 2)
        assert (lines["psnr_y_db"] == plain["psnr_y_db"]) is same
    details = []  # the detail carving against the default model run once and twice on its own output
    for passes in ("1", "2"):
        assert veil.main(["--work", str(work), "--split", "test/realistic", "--net", str(stage1), "--strengths", "0.5",
                          "--orders", "first", "--streak-reference", str(default_checkpoint()), "--reference-passes",
                          passes, "--carvings", "detail:1", "--results", str(results_dir), "--name", "veil"]) == 0
        details.append(json.loads((results_dir / "veil.json").read_text())["rows"][2])
    assert details[0]["carving"] == "detail" and details[0]["psnr_y_db"] != details[1]["psnr_y_db"]
    for bad in (["--carvings", "lines:2"], ["--streak-reference", str(stage1), "--carvings", "lines:4"],
                ["--reference-passes", "2"], ["--streak-reference", str(stage1), "--carvings", "detail:1",
                                              "--reference-passes", "4"],
                ["--streak-reference", str(stage1), "--carvings", "lines:2", "--orders", "alone"]):
        with pytest.raises(SystemExit, match="2"):
            veil.main(["--work", str(work), *bad])

    # benchmarks/label_ceiling.py: the self-training row trained on the real split's clean images as its labels
    ceiling = load_benchmark("label_ceiling")
    out = tmp_path / "ceiling"
    assert ceiling.main(["--quick", "--work", str(work), "--out", str(out), "--labels", "clean", "--methods",
                         "self_training", "--results", str(results_dir), "--name", "ceiling"]) == 0
    report = json.loads((results_dir / "ceiling.json").read_text())
    assert report["labels"] == "clean" and "self_training@val" in report["table"]
    assert report["table"]["supervised"] == table["supervised"]  # the borrowed stage 1, not retrained
    assert ceiling.main(["--quick", "--work", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x"), "--labels",
                         "clean"]) == 2


def test_label_ceiling_labels_closed_form() -> None:
    """benchmarks/label_ceiling.py's labels: each kind against its closed form."""
    ceiling = load_benchmark("label_ceiling")
    rng = np.random.default_rng(0)
    clean = rng.integers(40, 200, (32, 24, 3)).astype(np.uint8)
    np.testing.assert_array_equal(ceiling.corrected_label(clean // 2 + 7, clean, "clean"), clean)
    affine = (clean.astype(np.float64) * 0.5 + 20).round().astype(np.uint8)  # a label of the wrong tone
    assert np.abs(ceiling.corrected_label(affine, clean, "affine").astype(int) - clean).max() <= 1
    lifted = clean + np.uint8(15)
    np.testing.assert_array_equal(ceiling.corrected_label(lifted, clean, "mean"), clean)
    np.testing.assert_array_equal(ceiling.corrected_label(lifted, clean, "lowpass"), clean)  # the lift is low-pass
    np.testing.assert_array_equal(ceiling.corrected_label(lifted, clean, "highpass"), lifted)  # detail was right
    with pytest.raises(JRGRError, match="--labels"):
        ceiling.corrected_label(clean, clean, "median")


def test_missing_backgrounds_is_a_clear_error(tmp_path: Path, capsys) -> None:
    quality = load_benchmark("quality")
    code = quality.main(["--backgrounds", str(tmp_path / "nowhere"), "--work", str(tmp_path / "w"),
                         "--results", str(tmp_path / "r"), "--markdown", ""])
    assert code == 2
    assert "backgrounds folder" in capsys.readouterr().err


def test_shared_stage1_starts_every_seed_from_one_net(tmp_path: Path) -> None:
    """`--shared-stage1 S`: stage 1 is trained for seed S only; every seed's methods start from, and are compared
    with, that net (the config's init_from says so)."""
    quality = load_benchmark("quality")
    work = quality.Work(tmp_path)
    own, shared = quality.QUICK, replace(quality.QUICK, stage1_seed=0)
    assert quality.stage1_seeds(own, [0, 1, 2]) == [0, 1, 2]
    assert quality.stage1_seeds(shared, [0, 1, 2]) == [0]
    assert work.stage1(own, 2) == tmp_path / "seed2" / "supervised" / "stage1.safetensors"
    assert work.stage1(shared, 2, "oracle") == tmp_path / "seed0" / "oracle" / "stage1.safetensors"
    config = quality._task_config(shared, work, 2, "jrgr_plus")
    assert Path(config.train.init_from) == tmp_path / "seed0" / "supervised" / "stage1.safetensors"
    assert config.train.seed == 2


def test_every_method_is_a_valid_config_and_self_training_rows_take_the_lean_step() -> None:
    """Each row is `--set` switches on the `tiny` preset (a typo would only fail hours into a run); the
    self-training rows weight removal-net terms only, so stage 2 skips the joint graph, and label as they say."""
    from jrgr_deploy.config import JRGRConfig
    from jrgr_deploy.training.losses import removal_only

    quality = load_benchmark("quality")
    configs = {name: JRGRConfig.from_preset("tiny").with_overrides(list(method.overrides))
               for name, method in quality.METHODS.items()}
    lean = {name for name, config in configs.items() if removal_only(config.loss)}
    assert {"self_training", "self_training_mt", "self_training_moments", "self_training_moments_mt"} <= lean
    assert "transfer_alone" in lean and "jrgr_plus_mt" not in lean and "jrgr_paper" not in lean
    assert configs["self_training"].loss.pl_veil_removal == "dark_channel"
    assert configs["self_training_moments"].loss.pl_veil_removal == "moments"
    assert configs["self_training_moments_mt"].loss.weights.mse_fr_mt == 1.0


def test_quick_default_rows_fit_the_quick_crops(tmp_path: Path) -> None:
    """`--quick` without --methods trains QUICK_METHODS (one row of each kind); the quick crops must fit every one
    of them, the joint rows' 3-scale discriminators included (64² crops once stopped `--quick` at jrgr_plus)."""
    from jrgr_deploy.training.trainer import _check_crop_fits_discriminators

    quality = load_benchmark("quality")
    work = quality.Work(tmp_path)
    assert set(quality.QUICK_METHODS) <= set(quality.METHODS) and "jrgr_plus" in quality.QUICK_METHODS
    for row in ("supervised", "oracle", *quality.QUICK_METHODS):
        _check_crop_fits_discriminators(quality._task_config(quality.QUICK, work, 0, row))
    small = replace(quality.QUICK, crop_size=64)
    with pytest.raises(JRGRError, match="too small for the discriminators"):
        _check_crop_fits_discriminators(quality._task_config(small, work, 0, "jrgr_plus"))


def test_set_switches_every_row_stage1_and_oracle_included(tmp_path: Path) -> None:
    """`--set KEY=VALUE` is a variant of the whole benchmark: the supervised and oracle nets and every method are
    built with it, and a method's own switches still apply after it."""
    quality = load_benchmark("quality")
    work = quality.Work(tmp_path)
    plan = replace(quality.QUICK, net_overrides=("model.removal.norm=none",))
    for row in ("supervised", "oracle", "supervised_continued", "self_training_mt"):
        config = quality._task_config(plan, work, 0, row)
        assert config.model.removal.norm == "none", row
    assert quality._task_config(quality.QUICK, work, 0, "supervised").model.removal.norm == "instance"
    # the method's own switches come after the benchmark's
    assert quality._task_config(plan, work, 0, "self_training_mt").loss.weights.mse_fr_mt == 1


def test_label_scale_scores_the_labels_as_the_trainer_makes_them(tmp_path: Path) -> None:
    """benchmarks/label_scale.py: one row per veil strength and scale, each the PSNR-Y of the labels that
    `remove_rain_at_scale` makes (after the recipe's row-by-row veil removal) against the clean frames."""
    import torch
    from tiny_checkpoints import save_tiny_checkpoint

    from jrgr_deploy.checkpoint import load_checkpoint, load_net
    from jrgr_deploy.metrics import psnr_y
    from jrgr_deploy.nn.build import size_multiple
    from jrgr_deploy.training.data import remove_rain_at_scale
    from jrgr_deploy.veil_removal import remove_row_veil

    label_scale = load_benchmark("label_scale")
    weights = save_tiny_checkpoint(tmp_path / "start.safetensors")
    rng = np.random.default_rng(0)
    clean = [rng.integers(30, 200, (36, 64, 3), dtype=np.uint8) for _ in range(2)]
    rainy = [np.clip(c.astype(int) + 40, 0, 255).astype(np.uint8) for c in clean]
    rows = label_scale.label_table(rainy, clean, weights, [1.0, 2.0], [0.0, 0.5])
    assert [(r["veil_strength"], r["scale"]) for r in rows] == [(0.0, 1.0), (0.0, 2.0), (0.5, 1.0), (0.5, 2.0)]
    checkpoint = load_checkpoint(weights)
    f_r, multiple = load_net(checkpoint, "f_r"), size_multiple(checkpoint.config, "f_r")
    with torch.no_grad():
        labels = [remove_rain_at_scale(f_r, remove_row_veil(r, 0.5, 0.1, 0.05), 2.0, multiple) for r in rainy]
    expected = float(np.mean([psnr_y(label, c) for label, c in zip(labels, clean, strict=True)]))
    assert rows[3]["psnr_y"] == round(expected, 3)
    assert rows[0]["psnr_y"] != rows[1]["psnr_y"]  # the scale changes the labels
