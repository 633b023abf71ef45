"""`jrgr adapt`: bad input is a clear error (exit 2) before any training; a tiny adaptation end to end (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tiny_checkpoints import perturbed_tiny_nets, save_tiny_checkpoint

from jrgr_deploy.app.cli import main
from jrgr_deploy.artifact import read_sidecar
from jrgr_deploy.image_files import write_rgb
from jrgr_deploy.names import GENERATORS


def _frames(folder: Path, count: int, height: int = 96, width: int = 160) -> Path:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    for k in range(count):
        streaks = (rng.random((height, width, 1)) < 0.02) * 120
        write_rgb(folder / f"{k:04d}.png", np.clip(base.astype(int) + streaks, 0, 255).astype(np.uint8))
    return folder


def _tiny_run(tmp_path: Path, *extra: str) -> tuple[Path, list[str]]:
    """(OUT, the `jrgr adapt` argv) of a 6-step adaptation of 60 small frames from a tiny checkpoint."""
    footage = _frames(tmp_path / "footage", 60)
    weights = save_tiny_checkpoint(tmp_path / "start.safetensors")
    out = tmp_path / "out"
    return out, ["adapt", str(footage), "--out", str(out), "--weights", str(weights), "--iterations", "6",
                 "--frame-width", "160", "--set", "train.crop_size=64", *extra]


def test_missing_footage_is_a_clear_error(tmp_path: Path, capsys) -> None:
    code = main(["adapt", str(tmp_path / "nowhere.mp4"), "--out", str(tmp_path / "out")])
    assert code == 2
    err = capsys.readouterr().err
    assert "nowhere.mp4" in err and "does not exist" in err and "Traceback" not in err


def test_too_few_frames_is_a_clear_error(tmp_path: Path, capsys) -> None:
    footage = _frames(tmp_path / "few", 12)
    code = main(["adapt", str(footage), "--out", str(tmp_path / "out"), "--weights",
                 str(save_tiny_checkpoint(tmp_path / "start.safetensors"))])
    assert code == 2
    err = capsys.readouterr().err
    assert "12 usable frames" in err and "at least 50" in err


def test_bad_budget_and_options(tmp_path: Path, capsys) -> None:
    footage = _frames(tmp_path / "footage", 60)
    assert main(["adapt", str(footage), "--out", str(tmp_path / "a"), "--minutes", "0"]) == 2
    assert "--minutes must be positive" in capsys.readouterr().err
    assert main(["adapt", str(footage), "--out", str(tmp_path / "i"), "--iterations", "2"]) == 2
    assert "--iterations must be at least 6" in capsys.readouterr().err
    assert main(["adapt", str(footage), "--out", str(tmp_path / "b"), "--frame-width", "8"]) == 2
    assert "--frame-width must be at least 16" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert main(["adapt", str(footage), "--out", str(tmp_path / "file")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_a_tone_map_needs_dry_footage(tmp_path: Path, capsys) -> None:
    footage = _frames(tmp_path / "footage", 60)
    assert main(["adapt", str(footage), "--out", str(tmp_path / "out"), "--tone", "0.5"]) == 2
    err = capsys.readouterr().err
    assert "--tone needs --dry" in err and "Traceback" not in err
    assert main(["adapt", str(footage), "--dry", str(footage), "--out", str(tmp_path / "out"), "--tone", "2"]) == 2
    assert "--tone 2: expected a number from 0 (off) to 1" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # refused before any work


def test_the_start_share_is_the_self_training_recipes_and_checked_before_any_work(tmp_path: Path, capsys) -> None:
    from jrgr_deploy.app.adapt import SELF_TRAINING_START_SHARE, AdaptRequest

    assert AdaptRequest(footage="f", out_dir=tmp_path).resolved_start_share == SELF_TRAINING_START_SHARE > 0
    assert AdaptRequest(footage="f", out_dir=tmp_path, recipe="joint").resolved_start_share == 0.0
    assert AdaptRequest(footage="f", out_dir=tmp_path, start_share=0.0).resolved_start_share == 0.0
    footage = _frames(tmp_path / "footage", 60)
    assert main(["adapt", str(footage), "--out", str(tmp_path / "out"), "--recipe", "joint", "--start-share",
                 "0.3"]) == 2
    assert "--start-share needs --recipe self-training" in capsys.readouterr().err
    assert main(["adapt", str(footage), "--out", str(tmp_path / "out"), "--start-share", "1"]) == 2
    err = capsys.readouterr().err
    assert "--start-share must be at least 0 and below 1, got 1" in err and "Traceback" not in err
    assert main(["adapt", str(footage), "--out", str(tmp_path / "out"), "--dry", str(footage), "--snapshot",
                 "last"]) == 2  # with --dry the recipe is joint, whose rule picks the snapshot and the veil together
    err = capsys.readouterr().err
    assert "--snapshot last needs --recipe self-training" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()  # refused before any work


def _proxy_pairs(tmp_path: Path) -> list[tuple[Path, Path]]:
    """Two 64² (rainy, clean) pairs under TMP/val: a stand-in proxy validation (the rain a uniform lift)."""
    rng = np.random.default_rng(2)
    pairs = []
    for k in range(2):
        clean = rng.integers(40, 200, (64, 64, 3), dtype=np.uint8)
        write_rgb(tmp_path / "val" / "clean" / f"{k}.png", clean)
        write_rgb(tmp_path / "val" / "rainy" / f"{k}.png", np.clip(clean.astype(int) + 30, 0, 255).astype(np.uint8))
        pairs.append((tmp_path / "val" / "rainy" / f"{k}.png", tmp_path / "val" / "clean" / f"{k}.png"))
    return pairs


def test_the_mix_with_the_start_is_deployed_only_when_not_worse_on_the_proxy(tmp_path: Path) -> None:
    """`mix_with_start` scores the mix on the proxy pairs: taken at or above the start's score, else the snapshot
    as it is (share 0), never a net below the start."""
    from jrgr_deploy.app.adapt import mix_with_start
    from jrgr_deploy.checkpoint import load_checkpoint, save_checkpoint

    start = save_tiny_checkpoint(tmp_path / "start.safetensors")
    config, nets = perturbed_tiny_nets(GENERATORS, seed=3)
    snapshot = save_checkpoint(tmp_path / "snapshot.safetensors", config=config, nets=nets, stage="stage2", step=6)
    pairs = _proxy_pairs(tmp_path)
    target = tmp_path / "mixed.safetensors"
    weights, score, share = mix_with_start(snapshot, start, 0.3, pairs, float("-inf"), target)
    assert (weights, share) == (target, 0.3) and np.isfinite(score)
    assert json.loads(load_checkpoint(target).metadata["mixed_with"])["start_share"] == 0.3
    # the same mix against a start it does not reach: the snapshot as it is
    assert mix_with_start(snapshot, start, 0.3, pairs, score + 0.01, target) == (snapshot, score, 0.0)


def test_a_kept_start_gives_way_to_the_least_mix_that_reaches_it_on_the_proxy(tmp_path: Path) -> None:
    """`mix_to_pass`: the last snapshot mixed with the start at 0.4, 0.5, ... 0.9 of the start's weights (above
    the default share 0.3), the first whose proxy score reaches the start's deployed; none when none does. Each
    share's score is the mix's real proxy PSNR-Y, so the threshold picks which share passes."""
    from jrgr_deploy.app.adapt import mix_to_pass
    from jrgr_deploy.checkpoint import load_checkpoint, save_checkpoint
    from jrgr_deploy.training.tracing import score_checkpoint

    start = save_tiny_checkpoint(tmp_path / "start.safetensors")
    config, nets = perturbed_tiny_nets(GENERATORS, seed=3)
    (tmp_path / "run").mkdir()
    snapshot = save_checkpoint(tmp_path / "run" / "step000006.safetensors", config=config, nets=nets,
                               stage="stage2", step=6)
    pairs = _proxy_pairs(tmp_path)
    run_dir = tmp_path / "run"
    assert mix_to_pass(snapshot, start, 0.3, pairs, float("inf"), run_dir) is None  # nothing reaches it
    shares = [0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    scores = [score_checkpoint(run_dir / f"step000006_start{share:g}.safetensors", pairs)["psnr_y"]
              for share in shares]
    # a threshold that the 0.4 mix misses and a later one reaches: that later share, the least one that passes
    later = next((k for k in range(1, len(shares)) if scores[k] > scores[0]), None)
    threshold = scores[0] + 1e-6 if later is not None else scores[0]
    weights, score, share = mix_to_pass(snapshot, start, 0.3, pairs, threshold, run_dir)
    expected = later if later is not None else 0
    assert share == shares[expected] and score == scores[expected] and score >= threshold
    assert all(scores[k] < threshold for k in range(expected))
    assert json.loads(load_checkpoint(weights).metadata["mixed_with"])["start_share"] == share


def test_budget_too_short_for_one_evaluation(tmp_path: Path, capsys) -> None:
    footage = _frames(tmp_path / "footage", 60)
    weights = save_tiny_checkpoint(tmp_path / "start.safetensors")
    code = main(["adapt", str(footage), "--out", str(tmp_path / "out"), "--weights", str(weights),
                 "--minutes", "0.05", "--frame-width", "160"])
    assert code == 2
    err = capsys.readouterr().err
    assert "leaves time for" in err and "give at least --minutes" in err
    # the prepared data are kept: a second call with a bigger budget does not rebuild them
    assert json.loads((tmp_path / "out" / "work" / "data.json").read_text())["footage_frames"] == 60


def test_the_timing_probe_hands_its_labels_to_the_run(tmp_path: Path) -> None:
    """The run's first pseudo-labels are the timing probe's (the same net, footage and settings): the plan counts
    one labelling pass fewer, and the run starts on them without labelling the footage again."""
    from jrgr_deploy.app.adapt import (
        RUN_DIR,
        SELF_TRAINING_REFRESHES,
        AdaptRequest,
        _config,
        plan_iterations,
        prepare_data,
    )
    from jrgr_deploy.training.data import PSEUDO_LABELS_FILE
    from jrgr_deploy.training.trainer import PSEUDO_LABELS_DIR, train

    weights = save_tiny_checkpoint(tmp_path / "start.safetensors")
    request = AdaptRequest(footage=str(_frames(tmp_path / "footage", 60)), out_dir=tmp_path / "out",
                           weights=weights, frame_width=160, overrides=("train.crop_size=64",))
    work = request.out_dir / "work"
    work.mkdir(parents=True)
    prepare_data(request, work)
    plan = plan_iterations(request, work, weights, 600.0, [])
    assert plan["labels_passes"] == SELF_TRAINING_REFRESHES - 1 and not (work / "timing_probe").exists()
    labels = work / RUN_DIR / PSEUDO_LABELS_DIR
    assert (labels / PSEUDO_LABELS_FILE).is_file()
    written = {p: p.stat().st_mtime_ns for p in sorted((labels / "label").iterdir())}
    assert len(written) == 60
    config = _config(request, work, weights, plan["iterations"], plan["iterations"])
    train(config, work / RUN_DIR, stages=("stage2",), max_steps=1, progress=False)
    assert {p: p.stat().st_mtime_ns for p in sorted((labels / "label").iterdir())} == written  # none made again


@pytest.mark.slow
def test_tiny_adaptation_end_to_end_and_resume(tmp_path: Path, capsys) -> None:
    footage = _frames(tmp_path / "footage", 60)
    dry = _frames(tmp_path / "dry", 60)
    weights = save_tiny_checkpoint(tmp_path / "start.safetensors")
    # small crops and batches keep a joint step short on a loaded 2-core machine
    argv = ["adapt", str(footage), "--dry", str(dry), "--out", str(tmp_path / "out"), "--weights", str(weights),
            "--minutes", "6", "--frame-width", "160", "--set", "train.crop_size=64", "--set", "train.batch_size=2"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    out = tmp_path / "out"
    for name in ("f_r.onnx", "f_r.onnx.json", "before_after.png", "adapt.json"):
        assert (out / name).is_file(), name
    report = json.loads((out / "adapt.json").read_text())
    trace = {p["step"]: p["psnr_y"] for p in report["val_trajectory"]}
    veil = {row["step"]: row["psnr_y"] for row in report["veil_scores"]}
    step, strength = report["selected_step"], report["veil_strength"]
    assert set(veil) == set(trace)
    assert veil[0]["0.0"] == pytest.approx(trace[0], abs=1e-3)
    # with dry footage the tone map fitted on it takes the veil the net leaves: the net by the never-worse rule,
    # no veil stage on top, the map in the sidecar (the runtime applies it) at its default strength, or at the
    # lower one where the dry footage's light could not be brought to the footage's (`jrgr export --tone-light`)
    from jrgr_deploy.app.adapt import DRY_TONE_STRENGTH, DRY_TONE_STRENGTH_UNMATCHED
    from jrgr_deploy.training.tracing import select_not_worse

    info = read_sidecar(out / "f_r.onnx")
    matched = info.tone["light_gain"] is not None
    tone = DRY_TONE_STRENGTH if matched else DRY_TONE_STRENGTH_UNMATCHED
    assert report["tone_strength"] == tone and strength == 0.0
    assert step == select_not_worse(report["val_trajectory"])
    assert info.veil_strength == 0.0 and info.tone_map()[1] == tone
    assert info.tone["light"] == ("match" if matched else "as-is")
    assert f"tone map {tone:g} in the sidecar" in printed
    assert f"--weights {out / 'f_r.onnx'}" in printed and "jrgr derain" in printed
    # the same command again finds everything done and gives the same selection
    assert main(argv) == 0
    assert json.loads((out / "adapt.json").read_text())["selected_step"] == report["selected_step"]


def test_dry_footage_adds_the_moment_transfer_to_the_recipe(tmp_path: Path) -> None:
    from jrgr_deploy.app.adapt import AdaptRequest, _config

    weights = save_tiny_checkpoint(tmp_path / "start.safetensors")

    def mt_weight(**request: object) -> float:
        config = _config(AdaptRequest(footage="f", out_dir=tmp_path, weights=weights, **request), tmp_path,
                         weights, 10, 5)
        return config.loss.weights.mse_fr_mt

    assert mt_weight() == 0.0  # the footage's moments alone mix scene and rain
    assert mt_weight(dry="d") == 1.0
    assert mt_weight(dry="d", overrides=("loss.weights.mse_fr_mt=0",)) == 0.0  # the user's --set wins


def test_the_self_training_recipe_trains_f_r_on_the_pseudo_labels_alone(tmp_path: Path) -> None:
    from jrgr_deploy.app.adapt import AdaptRequest, _config
    from jrgr_deploy.errors import JRGRError
    from jrgr_deploy.training.losses import removal_only

    weights = save_tiny_checkpoint(tmp_path / "start.safetensors")

    def loss(**request: object):
        return _config(AdaptRequest(footage="f", out_dir=tmp_path, weights=weights, **request), tmp_path, weights,
                       10, 5).loss

    self_trained, joint = loss(), loss(recipe="joint")
    assert loss(recipe="self-training") == self_trained  # the default without dry footage
    assert removal_only(self_trained) and self_trained.weights.mse_fr_pl == 1.0  # F_r on the pseudo-labels
    assert self_trained.weights.mse_fr_keep == 4.0  # ... held to the starting net on the synthetic rainy images
    assert self_trained.weights.mse_fr_os == 1.0  # ... and taught their clean photographs
    assert self_trained.pl_veil_strength == 0.9
    assert self_trained.pl_veil_removal == "row_dark_channel" and self_trained.pl_veil_first
    assert self_trained.pl_refresh_detail_px == 8
    assert not removal_only(joint) and joint.weights.mse_fr_pl == 0.0 and joint.lambda_adv > 0
    assert joint.weights.mse_fr_keep == 0.0
    assert not removal_only(loss(dry="d")) and removal_only(loss(dry="d", recipe="self-training"))  # joint with dry
    assert loss(dry="d", recipe="self-training").weights.mse_fr_mt == 0.0  # the dry recipe is the joint one's
    override = ("loss.pl_veil_strength=0.5", "loss.pl_refresh_iters=7")
    assert loss(overrides=override).pl_veil_strength == 0.5  # the user's --set wins
    assert loss(overrides=override).pl_refresh_iters == 7
    with pytest.raises(JRGRError, match="--recipe 'cycle' is not one of"):
        loss(recipe="cycle")


def test_the_recipes_start_from_the_plus_losses_not_the_starting_checkpoints(tmp_path: Path) -> None:
    """A shipped model continued with self-training losses keeps its net, but `--recipe joint` still trains
    jointly: the losses come from the JRGR+ preset, the model section from the checkpoint. A checkpoint trained
    jointly keeps its own losses."""
    from jrgr_deploy.app.adapt import AdaptRequest, _config
    from jrgr_deploy.checkpoint import save_checkpoint
    from jrgr_deploy.config import JRGRConfig

    tiny, nets = perturbed_tiny_nets(GENERATORS, 0)
    self_trained = tiny.with_overrides(
        ["loss.weights.mse_fr_pl=1", "loss.lambda_adv=0", "loss.lambda_cyc=0", "loss.weights.mse_r=0",
         "loss.weights.mse_s=0", "loss.weights.mse_fr_os=0", "loss.pl_refresh_iters=250",
         "loss.pl_refresh_detail_px=8", "loss.pl_veil_first=true", "model.removal.residual=false"])
    continued = save_checkpoint(tmp_path / "continued.safetensors", config=self_trained, nets=nets,
                                stage="stage2", step=5)

    def config(**request: object) -> JRGRConfig:
        return _config(AdaptRequest(footage="f", out_dir=tmp_path, weights=continued, **request), tmp_path,
                       continued, 10, 5)

    plus = JRGRConfig.from_preset("plus").loss
    joint, self_training = config(recipe="joint"), config()
    assert joint.loss == plus and joint.model == self_trained.model  # the net is the checkpoint's
    # the recipe's own label switches, not the checkpoint's (refreshed every 250 steps there)
    assert self_training.loss.weights.mse_fr_pl == 1.0 and self_training.loss.pl_refresh_iters == 10
    assert self_training.loss.lambda_adv == 0 and self_training.loss.pl_veil_removal == "row_dark_channel"
    jointly_trained = save_tiny_checkpoint(tmp_path / "joint.safetensors")
    tiny_joint = _config(AdaptRequest(footage="f", out_dir=tmp_path, weights=jointly_trained, recipe="joint"),
                         tmp_path, jointly_trained, 10, 5)
    assert tiny_joint.loss == tiny.loss and tiny_joint.loss != plus  # its own losses: nothing to undo


def test_the_adaptation_does_not_inherit_the_starting_models_crops_or_its_streak_reference(tmp_path: Path) -> None:
    """A start trained on 384² crops with a streak reference on its training machine (as the shipped v4): the
    adaptation trains on its own 192² crops and reads no reference nor first labels' net (`loss.pl_label_net`), by
    either recipe, the user's --set still winning;
    the shipped model itself adapts the same way."""
    from jrgr_deploy.app.adapt import ADAPT_CROP_SIZE, AdaptRequest, _config
    from jrgr_deploy.checkpoint import save_checkpoint
    from jrgr_deploy.default_model import default_checkpoint

    tiny, nets = perturbed_tiny_nets(GENERATORS, 0)
    trained = tiny.with_overrides(["train.crop_size=384", "train.crop_width=512", "loss.weights.mse_fr_pl=1",
                                   f"loss.pl_streak_reference={tmp_path / 'gone.safetensors'}",
                                   "loss.pl_streak_carving=lines", "loss.pl_streak_gain=2",
                                   "loss.pl_streak_keep=proxy_*", "loss.pl_streak_reference_passes=2",
                                   f"loss.pl_label_net={tmp_path / 'gone_too.safetensors'}"])
    start = save_checkpoint(tmp_path / "start.safetensors", config=trained, nets=nets, stage="stage2", step=5)
    for weights in (start, default_checkpoint()):
        for recipe in ("self-training", "joint"):
            config = _config(AdaptRequest(footage="f", out_dir=tmp_path, weights=weights, recipe=recipe), tmp_path,
                             weights, 10, 5)
            assert (config.train.crop_size, config.train.crop_width) == (ADAPT_CROP_SIZE, 0)
            assert config.loss.pl_streak_reference == config.loss.pl_label_net == ""
            assert (config.loss.pl_streak_carving, config.loss.pl_streak_gain, config.loss.pl_streak_keep,
                    config.loss.pl_streak_reference_passes) == ("residue", 1.0, "", 1)
    mine = _config(AdaptRequest(footage="f", out_dir=tmp_path, weights=start, overrides=("train.crop_size=256",)),
                   tmp_path, start, 10, 5)
    assert mine.train.crop_size == 256


def test_after_self_training_the_latest_snapshot_not_worse_than_the_start_is_taken() -> None:
    from jrgr_deploy.app.adapt import _choose_self_trained

    def trace(*scores: float) -> list[dict[str, object]]:
        return [{"step": 100 * k, "psnr_y": v} for k, v in enumerate(scores)]

    assert _choose_self_trained(trace(24.0, 24.5, 24.2, 24.1)) == (300, 24.1)
    # the last step lost on the proxy validation: the latest one that did not (not the best: 100)
    assert _choose_self_trained(trace(24.0, 24.5, 24.0, 23.9)) == (200, 24.0)
    # none kept up: the starting net as it is, no veil stage (one chosen on other scenes cost 1 dB from v4)
    assert _choose_self_trained(trace(24.0, 23.5, 23.9)) == (0, 24.0)


@pytest.mark.slow
def test_tiny_self_training_adaptation(tmp_path: Path) -> None:
    from jrgr_deploy.app.adapt import SELF_TRAINING_START_SHARE
    from jrgr_deploy.training.run_log import read_log

    out, argv = _tiny_run(tmp_path, "--recipe", "self-training")
    assert main(argv) == 0
    report = json.loads((out / "adapt.json").read_text())
    trace = {p["step"]: p["psnr_y"] for p in report["val_trajectory"]}
    step = report["selected_step"]
    assert report["scene_guard_db"] is None and report["scene_trajectory"] == []
    last = max(trace)
    assert report["veil_strength"] == 0.0 and read_sidecar(out / "f_r.onnx").veil_strength == 0.0  # never a veil
    if step and report["start_share"] > SELF_TRAINING_START_SHARE:  # no snapshot reached the start: the last one
        # mixed at the least larger share that reaches it on the proxy validation
        assert step == last and all(v < trace[0] for s, v in trace.items() if s)
        assert report["mixed_psnr_y"] >= trace[0]
        assert report["last_step_shown"] == last  # the sheet shows it as it is, for --snapshot last
    elif step:  # the latest snapshot at least as good as the start, deployed without the veil stage
        assert trace[step] >= trace[0] and all(trace[s] < trace[0] for s in trace if s > step)
        assert report["last_step_shown"] == 0
        if report["start_share"]:  # deployed mixed with the start, not below the start on the proxy
            assert report["start_share"] == SELF_TRAINING_START_SHARE and report["mixed_psnr_y"] >= trace[0]
        else:
            assert report["mixed_psnr_y"] < trace[0]
    else:  # the start kept as it is (no mix reached it either): the sheet shows the last snapshot beside it
        assert all(v < trace[0] for s, v in trace.items() if s)
        assert report["last_step_shown"] == last and report["start_share"] == 0.0
    assert report["net_only_step"] == step
    assert not (out / "work" / "run" / "pseudo_labels").exists()  # the labels go when stage 2 completes
    records = [r for r in read_log(out / "work" / "run" / "log.jsonl") if r["stage"] == "stage2"]
    assert records and all(r["mse_fr_pl"] > 0 and "d_total" not in r for r in records)
    # held to the starting net on the synthetic rainy images, and taught their clean photographs
    assert all("mse_fr_keep" in r and "mse_fr_os" in r for r in records)
    # the default without --dry is this recipe: the same job, found done
    assert main(argv[:-2]) == 0
    # another --start-share on the finished job mixes again and trains no step: a share is chosen after the run
    assert main([*argv[:-2], "--start-share", "0"]) == 0
    assert json.loads((out / "adapt.json").read_text())["start_share"] == 0.0
    # --snapshot last deploys the last snapshot whatever the proxy says, mixed at the share asked, and trains no step
    assert main([*argv[:-2], "--snapshot", "last"]) == 0
    report = json.loads((out / "adapt.json").read_text())
    assert (report["snapshot"], report["selected_step"], report["veil_strength"]) == ("last", last, 0.0)
    assert report["start_share"] == SELF_TRAINING_START_SHARE and report["last_step_shown"] == 0
    assert len([r for r in read_log(out / "work" / "run" / "log.jsonl") if r["stage"] == "stage2"]) == len(records)
    # another recipe in the same folder is refused, not mixed in
    assert main([*argv[:-2], "--recipe", "joint"]) == 2


def test_scene_guard_keeps_out_snapshots_that_change_the_scene() -> None:
    from jrgr_deploy.training.tracing import select_within_guard

    proxy = [{"step": s, "psnr_y": v} for s, v in ((0, 24.0), (100, 24.5), (200, 25.0), (300, 25.5))]
    scene = [{"step": s, "psnr_y": v} for s, v in ((0, 30.0), (100, 28.0), (200, 25.5), (300, 21.0))]
    assert select_within_guard(proxy, scene, 5.0) == 200  # 300 is best on the proxy but lost 9 dB on the scene
    assert select_within_guard(proxy, scene, 1.0) == 0  # nothing within 1 dB beats the start... 100 lost 2
    assert select_within_guard(proxy, scene, 2.0) == 100
    assert select_within_guard(proxy, scene, 100.0) == 300  # no guard: the proxy's choice
    worse = [{"step": 0, "psnr_y": 26.0}, *proxy[1:]]
    assert select_within_guard(worse, scene, 5.0) == 0  # within the guard but not better on the proxy


def test_the_veil_strength_is_chosen_with_the_snapshot_among_the_candidates(tmp_path: Path) -> None:
    from jrgr_deploy.app.adapt import VEIL_FILE, choose_with_veil

    def row(step: int, *scores: float) -> dict[str, object]:
        return {"step": step, "psnr_y": {str(k / 10): v for k, v in enumerate(scores)}}

    # scores already kept in the run folder: nothing is scored again (no net is loaded)
    table = [row(0, 24.0, 24.6, 24.9, 24.7), row(100, 24.5, 24.8, 24.8, 24.6), row(200, 25.2, 25.3, 25.0, 24.0)]
    (tmp_path / VEIL_FILE).write_text(json.dumps(table))
    missing = tmp_path / "no-such-start.safetensors"
    assert choose_with_veil(tmp_path, [0, 100, 200], missing, [])[:3] == (200, 0.1, 25.3)
    # step 200 outside the guard: the starting net with veil removal beats the adapted one without
    assert choose_with_veil(tmp_path, [0, 100], missing, [])[:3] == (0, 0.2, 24.9)
    # nothing strictly better than the start without veil removal: keep it as it is
    flat = [row(0, 24.0, 23.0), row(100, 24.0, 23.5)]
    (tmp_path / VEIL_FILE).write_text(json.dumps(flat))
    assert choose_with_veil(tmp_path, [0, 100], missing, [])[:3] == (0, 0.0, 24.0)


def test_the_scene_guard_is_model_b_rain_on_temporal_medians_of_the_footage(tmp_path: Path) -> None:
    from jrgr_deploy.app.adapt import SCENE_WINDOWS, prepare_scene_guard
    from jrgr_deploy.image_files import list_images, read_rgb

    footage = _frames(tmp_path / "work" / "footage", 60)
    pairs = prepare_scene_guard(tmp_path / "work", seed=0)
    assert len(pairs) == 3 * SCENE_WINDOWS  # each rain preset on each window's median
    # the streaks only brighten, so the scene is the darkest value every pixel takes; the medians keep it
    scene = np.min([read_rgb(path) for path in list_images(footage)], axis=0).astype(int)
    for rainy_path, clean_path in pairs[::3]:
        median, rainy = read_rgb(clean_path).astype(int), read_rgb(rainy_path).astype(int)
        assert (median != scene).mean() < 0.002
        assert np.abs(rainy - median).mean() > 2.0  # model-B rain on it
    stamp = (tmp_path / "work" / "scene" / "done").stat().st_mtime_ns
    assert prepare_scene_guard(tmp_path / "work", seed=0) == pairs  # kept, not rebuilt
    assert (tmp_path / "work" / "scene" / "done").stat().st_mtime_ns == stamp


@pytest.mark.slow
def test_without_dry_footage_the_scene_guard_is_scored_and_used(tmp_path: Path) -> None:
    out, argv = _tiny_run(tmp_path, "--recipe", "joint")
    assert main(argv) == 0
    report = json.loads((out / "adapt.json").read_text())
    assert report["scene_guard_db"] == 5.0
    assert [p["step"] for p in report["scene_trajectory"]] == [p["step"] for p in report["val_trajectory"]]
    trace = {p["step"]: p["psnr_y"] for p in report["val_trajectory"]}
    scene = {p["step"]: p["psnr_y"] for p in report["scene_trajectory"]}
    step = report["selected_step"]
    assert step == 0 or scene[step] >= scene[0] - 5.0
    # only snapshots within the guard were scored with the veil strengths
    assert {row["step"] for row in report["veil_scores"]} == {s for s in trace if scene[s] >= scene[0] - 5.0}
    # the snapshots hold the nets only; the run's own checkpoint keeps the resume state
    from jrgr_deploy.checkpoint import load_checkpoint

    snapshots = sorted((out / "work" / "run" / "snapshots").iterdir())
    assert [int(p.stem.removeprefix("step")) for p in snapshots] == sorted(set(trace) - {0})
    assert not any(load_checkpoint(p).has_train_state for p in snapshots)
    assert load_checkpoint(out / "work" / "run" / "stage2.safetensors").has_train_state


def test_a_run_traced_at_other_steps_is_refused_not_mislabelled(tmp_path: Path) -> None:
    from jrgr_deploy.checkpoint import load_checkpoint
    from jrgr_deploy.errors import JRGRError
    from jrgr_deploy.training.tracing import train_traced
    from jrgr_deploy.training.trainer import STAGE2_FILE

    run_dir = tmp_path / "run"
    start = save_tiny_checkpoint(tmp_path / "start.safetensors")
    save_tiny_checkpoint(run_dir / STAGE2_FILE, step=300)  # a run traced at 100, 200, 300 (say), snapshots gone
    rainy, clean = _frames(tmp_path / "rainy", 1), _frames(tmp_path / "clean", 1)
    pairs = [(rainy / "0000.png", clean / "0000.png")]
    config = load_checkpoint(start).config
    with pytest.raises(JRGRError, match="without a snapshot at step 150"):
        train_traced(config, run_dir, "stage2", pairs, [150, 300], start)
    assert not (run_dir / "snapshots" / "step000150.safetensors").exists()


def test_the_default_recipe_follows_the_dry_footage_and_refreshes_twice(tmp_path: Path) -> None:
    """No --recipe: self-training without dry footage, joint with it (what the plan keeps, so a resumed run is
    the same job); the self-training labels are made again at N/3 and 2N/3, none in a run too short for that."""
    from jrgr_deploy.app.adapt import AdaptRequest, _refresh_every, _request_record

    assert AdaptRequest(footage="f", out_dir=tmp_path).resolved_recipe == "self-training"
    assert AdaptRequest(footage="f", out_dir=tmp_path, dry="d").resolved_recipe == "joint"
    assert AdaptRequest(footage="f", out_dir=tmp_path, dry="d", recipe="self-training").self_training
    assert _request_record(AdaptRequest(footage="f", out_dir=tmp_path))["recipe"] == "self-training"
    assert [_refresh_every(n) for n in (600, 2127, 6155, 30, 29, 10)] == [200, 709, 2052, 10, 10, 10]
    for iterations in (600, 2127, 6155, 10812, 30, 29):  # two refreshes within the run, none in its last third
        every = _refresh_every(iterations)
        assert [s for s in range(every, iterations, every)] == [every, 2 * every]
        assert 2 * every <= 2 * iterations / 3 + 1


def test_the_pairs_rain_model_is_a_request_switch(tmp_path: Path) -> None:
    """`pair_rain`: model A, model B, or the two alternating with the same draws (so "mixed" is pair by pair one of
    the other two); the proxy validation is the same whatever it is."""
    from jrgr_deploy.app.adapt import PAIRS, AdaptRequest, prepare_data
    from jrgr_deploy.errors import JRGRError
    from jrgr_deploy.image_files import list_images, read_rgb

    footage = _frames(tmp_path / "footage", 60)
    photos = tmp_path / "photos"
    rng = np.random.default_rng(1)
    for k in range(3):
        write_rgb(photos / f"{k}.png", rng.integers(40, 200, (72, 96, 3), dtype=np.uint8))

    def prepared(rain: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
        work = tmp_path / rain
        prepare_data(AdaptRequest(footage=str(footage), out_dir=tmp_path, clean_photos=photos, frame_width=160,
                                  pair_rain=rain), work)
        return ([read_rgb(path) for path in list_images(work / "pairs" / "rainy")],
                [read_rgb(path) for path in list_images(work / "val" / "rainy")])

    (model_a, val_a), (model_b, val_b), (mixed, val_mixed) = (prepared(rain)
                                                              for rain in ("synthetic", "realistic", "mixed"))
    assert len(model_a) == len(model_b) == len(mixed) == PAIRS
    for k in range(0, 40):
        assert np.array_equal(mixed[k], (model_a, model_b)[k % 2][k])
    assert not np.array_equal(model_a[1], model_b[1])
    assert all(np.array_equal(a, b) and np.array_equal(a, c) for a, b, c in zip(val_a, val_b, val_mixed, strict=True))
    # the default: both models for self-training (the pairs only hold F_r), model A for joint training
    assert AdaptRequest(footage="f", out_dir=tmp_path).resolved_pair_rain == "mixed"
    assert AdaptRequest(footage="f", out_dir=tmp_path, recipe="joint").resolved_pair_rain == "synthetic"
    assert AdaptRequest(footage="f", out_dir=tmp_path, dry="d").resolved_pair_rain == "synthetic"
    with pytest.raises(JRGRError, match="pair rain 'model-c' is not one of synthetic, realistic, mixed"):
        prepare_data(AdaptRequest(footage=str(footage), out_dir=tmp_path, clean_photos=photos, frame_width=160,
                                  pair_rain="model-c"), tmp_path / "bad")
