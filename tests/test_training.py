"""Training loop: schedule, pools, stage-1 learning, logs/pictures/checkpoints, bit-exact kill-and-resume."""

from __future__ import annotations

import json

import pytest
import torch

from jrgr_deploy.checkpoint import load_checkpoint, load_train_state, state_path
from jrgr_deploy.config import JRGRConfig
from jrgr_deploy.errors import JRGRError
from jrgr_deploy.training.pool import ImagePool
from jrgr_deploy.training.run_log import read_log
from jrgr_deploy.training.schedule import lr_factor, stage2_lrs
from jrgr_deploy.training.trainer import train

SMALL_NETS = [
    "model.removal.base_channels=4", "model.removal.max_channels=16", "model.removal.depth=2",
    "model.removal.convs_per_level=0", "model.generation.base_channels=4", "model.generation.max_channels=16",
    "model.generation.depth=2", "model.generation.convs_per_level=0", "model.discriminator.base_channels=4",
    "model.discriminator.n_layers=2",
]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A real (small) data set written by the project's own `jrgr data synth` code."""
    from jrgr_deploy.data_synth import synthesize_dataset

    root = tmp_path_factory.mktemp("ds")
    synthesize_dataset(root, n_synthetic=8, n_real=8, n_test=4, n_val=2, size=48, workers=1, progress=False,
                       preview=False, force=True)
    return root


def small_config(root, *extra: str) -> JRGRConfig:
    return JRGRConfig.from_preset("tiny").with_overrides(
        [*SMALL_NETS, f"data.root={root}", "train.crop_size=32", "train.batch_size=2", "train.log_every=2",
         "train.image_every=0", "train.device=cpu", "loss.pool_size=2", *extra]
    )


def test_lr_schedule() -> None:
    factors = [lr_factor(step, 10, 0.5) for step in range(10)]
    assert factors[:5] == [1.0] * 5
    assert all(a > b for a, b in zip(factors[4:], factors[5:], strict=False))  # strictly decreasing
    assert factors[-1] == pytest.approx(1 / 6)  # the authors' linear rule: 1 - 5/(5+1) at the last step
    assert [lr_factor(s, 10, 0.0) for s in range(10)] == [1.0] * 10


def test_stage2_lr_ratios() -> None:
    train_cfg = JRGRConfig.from_preset("official").train
    pre = stage2_lrs(train_cfg, pretrained=True)
    assert pre["g_r"] == pytest.approx(1e-4) and pre["f_r"] == pytest.approx(1e-5)
    assert pre["f_s"] == pytest.approx(1e-6) and pre["d_b"] == pytest.approx(1e-4)
    scratch = stage2_lrs(train_cfg, pretrained=False)
    assert scratch["f_r"] == scratch["f_s"] == pytest.approx(1e-4)


def test_image_pool() -> None:
    pool = ImagePool(3, seed=0)
    first = torch.arange(3, dtype=torch.float32).view(3, 1, 1, 1)
    assert torch.equal(pool.query(first), first)  # filling: the new images come back
    returned = torch.cat([pool.query(torch.full((1, 1, 1, 1), 10.0 + i)) for i in range(200)])
    old = (returned < 10).sum().item()
    assert 50 < old < 150 or returned.unique().numel() > 100  # about half the time an older image
    assert len(pool) == 3
    # state round trip continues identically
    twin = ImagePool(3, seed=99)
    twin.load_state_tensors("p", pool.state_tensors("p"), torch.device("cpu"))
    x = torch.rand(8, 1, 1, 1)
    assert torch.equal(pool.query(x), twin.query(x))
    assert torch.equal(ImagePool(0).query(x), x)


def test_stage1_reduces_loss_and_writes_outputs(dataset, tmp_path) -> None:
    config = small_config(dataset, "train.stage1_iters=24", "train.lr=2e-3", "train.decay_fraction=0.0",
                          "train.image_every=24", "train.checkpoint_every=10")
    result = train(config, tmp_path, stages=("stage1",), progress=False)
    assert result.complete and result.stages[0].step == 24
    records = [r for r in read_log(tmp_path / "log.jsonl") if r["stage"] == "stage1"]
    assert len(records) == 12 and all("mse" in r and "lr_f_s" in r and r["images_per_s"] > 0 for r in records)
    first, last = records[0]["mse"], sum(r["mse"] for r in records[-3:]) / 3
    assert last < 0.8 * first, (first, last)
    checkpoint = load_checkpoint(tmp_path / "stage1.safetensors")
    assert checkpoint.stage == "stage1" and checkpoint.step == 24
    assert checkpoint.net_names == ("f_s", "f_r")
    for key, value in checkpoint.state_dicts["f_s"].items():
        assert torch.equal(value, checkpoint.state_dicts["f_r"][key])
    assert (tmp_path / "images" / "stage1_step0000024.png").is_file()
    assert JRGRConfig.from_yaml(tmp_path / "config.yaml") == config


def test_stage2_logs_every_term_and_changes_g_r(dataset, tmp_path) -> None:
    config = small_config(dataset, "train.stage1_iters=2", "train.stage2_iters=4", "train.image_every=4")
    result = train(config, tmp_path, progress=False)
    assert result.complete
    records = [r for r in read_log(tmp_path / "log.jsonl") if r["stage"] == "stage2"]
    expected = {"adv_b_fs_os", "adv_b_fr_otr", "adv_b_fr_or", "adv_b_fs_ots", "adv_or", "adv_os", "cyc_os",
                "cyc_or", "cyc_b_s", "cyc_b_r", "mse_s", "mse_r", "g_total", "d_b", "d_or", "d_os",
                "lr_g_r", "lr_f_r", "lr_f_s", "lr_d_b", "images_per_s"}
    assert expected <= set(records[-1])
    assert records[0]["lr_f_r"] == pytest.approx(config.train.lr / 10)  # pre-trained: F_r at lr/10
    assert records[0]["lr_f_s"] == pytest.approx(config.train.lr / 100)
    stage2 = load_checkpoint(tmp_path / "stage2.safetensors")
    assert set(stage2.net_names) == {"f_s", "f_r", "g_s", "g_r", "d_b", "d_or", "d_os"}
    # G_r starts as the identity (zero-initialised head); joint training must move it.
    head = [k for k in stage2.state_dicts["g_r"] if k.startswith("dec.0.")][0]
    assert stage2.state_dicts["g_r"][head].abs().sum() > 0
    assert (tmp_path / "images" / "stage2_step0000004.png").is_file()
    info = load_train_state(tmp_path / "stage2.safetensors").info
    assert info["step"] == 4 and info["pretrained"] is True


def test_kill_and_resume_is_bit_exact(dataset, tmp_path) -> None:
    """Stopping in stage 1 and again in stage 2 and resuming gives the uninterrupted run's weights exactly."""
    config = small_config(dataset, "train.stage1_iters=4", "train.stage2_iters=4", "train.checkpoint_every=100")
    straight, pieces = tmp_path / "straight", tmp_path / "pieces"
    train(config, straight, progress=False)
    first = train(config, pieces, max_steps=2, progress=False)
    assert not first.complete and first.stages[-1].step == 2
    second = train(config, pieces, resume=True, max_steps=2, progress=False)
    assert [s.step for s in second.stages] == [4, 2]
    third = train(config, pieces, resume=True, progress=False)
    assert third.complete
    a, b = load_checkpoint(straight / "stage2.safetensors"), load_checkpoint(pieces / "stage2.safetensors")
    for name in a.net_names:
        for key, value in a.state_dicts[name].items():
            assert torch.equal(value, b.state_dicts[name][key]), f"{name}.{key}"
    state_a = load_train_state(straight / "stage2.safetensors")
    state_b = load_train_state(pieces / "stage2.safetensors")
    for key, value in state_a.tensors.items():
        if not key.startswith("rng."):
            assert torch.equal(value, state_b.tensors[key]), key


def test_resume_refuses_other_model(dataset, tmp_path) -> None:
    config = small_config(dataset, "train.stage1_iters=4")
    train(config, tmp_path, stages=("stage1",), max_steps=1, progress=False)
    other = config.with_overrides(["model.removal.base_channels=8"])
    with pytest.raises(JRGRError, match="model.removal"):
        train(other, tmp_path, stages=("stage2",), progress=False)
    with pytest.raises(JRGRError, match="another model config"):
        train(other, tmp_path, stages=("stage1",), resume=True, progress=False)


def _as_version_1(path) -> None:
    """Rewrite a checkpoint as the version-1 pair (weights file + <name>.state.safetensors beside it)."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(path), framework="pt") as handle:
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}
        meta = dict(handle.metadata())
    state = {k.removeprefix("__state__."): v for k, v in tensors.items() if k.startswith("__state__.")}
    save_file(state, str(state_path(path)), metadata={"format": "jrgr-train-state", "format_version": "1",
                                                      "state": meta.pop("state")})
    del meta["tensor_sha256"]
    save_file({k: v for k, v in tensors.items() if not k.startswith("__state__.")}, str(path),
              metadata={**meta, "format_version": "1"})


def test_resume_refuses_mismatched_state(dataset, tmp_path) -> None:
    """Version 1 kept weights and state in two files (a kill between their renames mixed steps): such a pair
    still resumes when consistent and is refused when not; version 2 holds both in one file."""
    import shutil

    config = small_config(dataset, "train.stage1_iters=4")
    train(config, tmp_path / "a", stages=("stage1",), max_steps=1, progress=False)
    train(config, tmp_path / "b", stages=("stage1",), max_steps=2, progress=False)
    for run in ("a", "b"):
        _as_version_1(tmp_path / run / "stage1.safetensors")
    shutil.copytree(tmp_path / "b", tmp_path / "c")
    assert train(config, tmp_path / "c", stages=("stage1",), resume=True, progress=False).complete
    shutil.copy(state_path(tmp_path / "b" / "stage1.safetensors"), state_path(tmp_path / "a" / "stage1.safetensors"))
    with pytest.raises(JRGRError, match="holds step 1 but its resume state step 2"):
        train(config, tmp_path / "a", stages=("stage1",), resume=True, progress=False)


def test_fresh_run_refuses_to_overwrite(dataset, tmp_path) -> None:
    config = small_config(dataset, "train.stage1_iters=1")
    train(config, tmp_path, stages=("stage1",), progress=False)
    with pytest.raises(JRGRError, match="pass --resume"):
        train(config, tmp_path, stages=("stage1",), progress=False)


def test_stage2_refuses_unfinished_stage1(dataset, tmp_path) -> None:
    config = small_config(dataset, "train.stage1_iters=4", "train.stage2_iters=2")
    train(config, tmp_path, stages=("stage1",), max_steps=1, progress=False)
    with pytest.raises(JRGRError, match="stopped at step 1 of 4"):
        train(config, tmp_path, stages=("stage2",), progress=False)


def test_amp_on_cpu_is_refused(dataset, tmp_path) -> None:
    config = small_config(dataset, "train.amp=bf16")
    with pytest.raises(JRGRError, match="needs a CUDA device"):
        train(config, tmp_path, progress=False)


def test_missing_real_data(dataset, tmp_path) -> None:
    config = small_config(dataset, "data.root=null", f"data.paired_rainy={dataset}/train/synthetic/rainy",
                          f"data.paired_clean={dataset}/train/synthetic/clean", "train.stage1_iters=1")
    with pytest.raises(JRGRError, match="unpaired real rainy images"):
        train(config, tmp_path, stages=("stage2",), progress=False)


def test_cli_train_and_module_entry(dataset, tmp_path) -> None:
    from jrgr_deploy.app.cli import main

    out = tmp_path / "run"
    code = main(["train", "--config", "tiny", "--data", str(dataset), "--out", str(out), "--stage", "1",
                 "--no-progress", *sum((["--set", s] for s in SMALL_NETS), []),
                 "--set", "train.stage1_iters=2", "--set", "train.crop_size=32", "--set", "train.batch_size=2",
                 "--set", "train.device=cpu"])
    assert code == 0
    saved = json.loads(load_checkpoint(out / "stage1.safetensors").metadata["config"])
    assert saved["data"]["root"] == str(dataset.resolve())
    assert main(["train", "--config", "huge", "--out", str(out)]) == 2
    assert main(["train", "--config", "tiny"]) == 2  # no --out


def test_print_config_round_trips(tmp_path, capsys) -> None:
    from jrgr_deploy.app.cli import main

    assert main(["train", "--config", "official", "--set", "train.batch_size=4", "--print-config"]) == 0
    path = tmp_path / "run.yaml"
    path.write_text(capsys.readouterr().out)
    config = JRGRConfig.from_yaml(path)
    assert config.train.batch_size == 4 and config.model.generation.arch == "resnet"


def test_init_from_starts_both_stages_from_a_checkpoint(dataset, tmp_path) -> None:
    """train.init_from: stage 1 takes the checkpoint's F_r, stage 2 every net it holds (lr 0 keeps them)."""
    source = tmp_path / "source"
    train(small_config(dataset, "train.stage1_iters=2", "train.stage2_iters=2"), source, progress=False)
    trained = load_checkpoint(source / "stage2.safetensors")
    frozen = ("train.lr=0", f"train.init_from={source / 'stage2.safetensors'}")
    train(small_config(dataset, "train.stage1_iters=2", *frozen), tmp_path / "s1", stages=("stage1",),
          progress=False)
    stage1 = load_checkpoint(tmp_path / "s1" / "stage1.safetensors")
    for key, value in trained.state_dicts["f_r"].items():
        assert torch.equal(stage1.state_dicts["f_s"][key], value), key
    train(small_config(dataset, "train.stage2_iters=2", *frozen), tmp_path / "s2", stages=("stage2",),
          progress=False)
    stage2 = load_checkpoint(tmp_path / "s2" / "stage2.safetensors")
    for name in ("f_s", "f_r", "g_s", "g_r"):
        for key, value in trained.state_dicts[name].items():
            assert torch.equal(stage2.state_dicts[name][key], value), f"{name}.{key}"
    info = load_train_state(tmp_path / "s2" / "stage2.safetensors").info
    assert info["pretrained"] is True
    other = small_config(dataset, "train.stage2_iters=2", "model.generation.base_channels=6",
                         f"train.init_from={source / 'stage2.safetensors'}")
    with pytest.raises(JRGRError, match="net g_s was trained with another model.generation"):
        train(other, tmp_path / "s3", stages=("stage2",), progress=False)


def test_ema_checkpoint_holds_the_average_and_resumes_bit_exactly(dataset, tmp_path) -> None:
    """EMA of F_r and the moment-matching term's running means both travel in the resume state."""
    config = small_config(dataset, "train.stage1_iters=2", "train.stage2_iters=4", "train.checkpoint_every=100",
                          "train.ema_decay=0.5", "model.rain_form=physics", "model.veil.input_px=16",
                          "model.veil.channels=4", "loss.weights.mom_or=5", "loss.moment_pool=3")
    straight, pieces = tmp_path / "straight", tmp_path / "pieces"
    train(config, straight, progress=False)
    train(config, pieces, max_steps=2, progress=False)
    train(config, pieces, resume=True, max_steps=1, progress=False)
    train(config, pieces, resume=True, progress=False)
    a, b = load_checkpoint(straight / "stage2.safetensors"), load_checkpoint(pieces / "stage2.safetensors")
    for name in a.net_names:
        for key, value in a.state_dicts[name].items():
            assert torch.equal(value, b.state_dicts[name][key]), f"{name}.{key}"
    state = load_train_state(straight / "stage2.safetensors")
    raw = {k[len("raw_f_r."):]: v for k, v in state.tensors.items() if k.startswith("raw_f_r.")}
    assert raw and set(raw) == set(a.state_dicts["f_r"])
    assert any(not torch.equal(raw[k], a.state_dicts["f_r"][k]) for k in raw)  # the average lags the raw net
    assert int(state.tensors["moments.clean_count"]) == 8 and int(state.tensors["moments.real_count"]) == 8
    record = [r for r in read_log(straight / "log.jsonl") if r["stage"] == "stage2"][-1]
    assert record["mom_or"] >= 0


def test_f_r_anchor_holds_f_r_to_its_start_and_resumes_bit_exactly(dataset, tmp_path) -> None:
    """train.f_r_anchor: a pull of lr * rate = 1 puts F_r back on its stage-1 weights after every step (the other
    nets still learn); a weaker one leaves it between; its start travels in the resume state."""
    base = ("train.stage1_iters=2", "train.stage2_iters=4", "train.checkpoint_every=100", "train.decay_fraction=0",
            "train.f_r_lr_ratio=1", "train.lr=1e-3")
    train(small_config(dataset, *base, "train.f_r_anchor=1000"), tmp_path / "held", progress=False)
    stage1 = load_checkpoint(tmp_path / "held" / "stage1.safetensors").state_dicts
    start = stage1["f_r"]
    held = load_checkpoint(tmp_path / "held" / "stage2.safetensors").state_dicts
    assert all(torch.equal(held["f_r"][k], start[k]) for k in start)
    assert any(not torch.equal(held["f_s"][k], stage1["f_s"][k]) for k in stage1["f_s"])
    loose = small_config(dataset, *base, "train.f_r_anchor=200")
    straight, pieces = tmp_path / "straight", tmp_path / "pieces"
    train(loose, straight, progress=False)
    train(loose, pieces, max_steps=2, progress=False)
    train(loose, pieces, resume=True, progress=False)
    a, b = load_checkpoint(straight / "stage2.safetensors"), load_checkpoint(pieces / "stage2.safetensors")
    assert all(torch.equal(v, b.state_dicts["f_r"][k]) for k, v in a.state_dicts["f_r"].items())
    assert any(not torch.equal(v, start[k]) for k, v in a.state_dicts["f_r"].items())
    saved = load_train_state(straight / "stage2.safetensors").tensors
    anchor = {k.removeprefix("anchor_f_r."): v for k, v in saved.items() if k.startswith("anchor_f_r.")}
    assert anchor and all(torch.equal(v, start[k]) for k, v in anchor.items())
    plain = small_config(dataset, *base)
    train(plain, tmp_path / "plain", max_steps=2, progress=False)
    with pytest.raises(JRGRError, match="f_r_anchor"):
        train(loose, tmp_path / "plain", resume=True, progress=False)


def test_f_r_anchor_step_lets_f_r_learn_then_holds_it_there(dataset, tmp_path) -> None:
    """train.f_r_anchor_step: no pull before step N; at N the anchor is the net evaluation uses (the EMA when
    there is one) and a pull of lr * rate = 1 holds F_r there; resumed before and after N, the run equals an
    unbroken one."""
    base = ("train.stage1_iters=2", "train.stage2_iters=4", "train.checkpoint_every=100", "train.decay_fraction=0",
            "train.f_r_lr_ratio=1", "train.lr=1e-3", "train.f_r_anchor=1000", "train.f_r_anchor_step=2")
    config = small_config(dataset, *base)
    run = tmp_path / "pieces"
    train(config, run, stages=("stage1",), progress=False)
    start = load_checkpoint(run / "stage1.safetensors").state_dicts["f_r"]
    assert train(config, run, resume=True, progress=False, max_steps=1).complete is False  # step 1: no anchor yet
    assert not any(k.startswith("anchor_f_r.") for k in load_train_state(run / "stage2.safetensors").tensors)
    assert train(config, run, resume=True, progress=False, max_steps=1).complete is False  # step 2: taken
    at_2 = load_checkpoint(run / "stage2.safetensors").state_dicts["f_r"]
    assert any(not torch.equal(v, start[k]) for k, v in at_2.items())  # it learnt freely until then
    saved = load_train_state(run / "stage2.safetensors").tensors
    assert all(torch.equal(saved[f"anchor_f_r.{k}"], v) for k, v in at_2.items())
    assert train(config, run, resume=True, progress=False).complete
    end = load_checkpoint(run / "stage2.safetensors").state_dicts["f_r"]
    assert all(torch.equal(v, at_2[k]) for k, v in end.items())  # held at its step-2 weights
    train(config, tmp_path / "straight", progress=False)
    straight = load_checkpoint(tmp_path / "straight" / "stage2.safetensors").state_dicts["f_r"]
    assert all(torch.equal(v, end[k]) for k, v in straight.items())
    averaged = small_config(dataset, *base, "train.ema_decay=0.5")
    train(averaged, tmp_path / "ema", progress=False, max_steps=2)
    train(averaged, tmp_path / "ema", resume=True, progress=False, max_steps=2)
    ema_at_2 = load_checkpoint(tmp_path / "ema" / "stage2.safetensors").state_dicts["f_r"]  # the average
    saved = load_train_state(tmp_path / "ema" / "stage2.safetensors").tensors
    assert all(torch.equal(saved[f"anchor_f_r.{k}"], v) for k, v in ema_at_2.items())
    with pytest.raises(JRGRError, match="f_r_anchor_step=4 is never reached: stage 2 has 4 steps"):
        train(small_config(dataset, *base, "train.f_r_anchor_step=4"), tmp_path / "never", progress=False)


def test_real_clean_feeds_d_b_and_resumes_bit_exactly(dataset, tmp_path) -> None:
    """data.real_clean: D_B's real samples hold real-domain clean images too; the extra stream resumes exactly."""
    import numpy as np

    from jrgr_deploy.image_files import write_rgb
    from jrgr_deploy.training.data import resolve_sources

    real_clean = tmp_path / "dry"  # white frames: easy to recognise in D_B's pool of real samples
    for k in range(3):
        write_rgb(real_clean / f"{k}.png", np.full((48, 48, 3), 255, np.uint8))
    config = small_config(dataset, "train.stage1_iters=2", "train.stage2_iters=4", "train.checkpoint_every=100",
                          "loss.pool_size=8", f"data.real_clean={real_clean}")
    sources = resolve_sources(config.data, need_real=True)
    assert sources.real_clean and "real-domain clean" in sources.description
    assert resolve_sources(config.data, need_real=False).real_clean is None  # stage 1 never reads it
    straight, pieces = tmp_path / "straight", tmp_path / "pieces"
    train(config, straight, progress=False)
    train(config, pieces, max_steps=2, progress=False)
    train(config, pieces, resume=True, progress=False)
    a, b = load_checkpoint(straight / "stage2.safetensors"), load_checkpoint(pieces / "stage2.safetensors")
    for key, value in a.state_dicts["d_b"].items():
        assert torch.equal(value, b.state_dicts["d_b"][key]), key
    # A pool of 8 keeps the first 8 real samples: 2 steps x (2 synthetic backgrounds + 2 white frames).
    pool = load_train_state(straight / "stage2.safetensors").tensors["pool.b_s.images"]
    white = [bool(torch.all(image == 1.0)) for image in pool]
    assert len(white) == 8 and sum(white) == 4
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(JRGRError, match="empty|no image"):
        resolve_sources(small_config(dataset, f"data.real_clean={empty}").data, need_real=True)


def test_veil_warmup_fits_the_veil_net_before_joint_training(dataset, tmp_path) -> None:
    # every joint-training lr is 0 (ratios 0), so only the warm-up (at train.lr) can move a net
    physics = ("model.rain_form=physics", "model.veil.input_px=16", "model.veil.channels=4", "loss.weights.mom_or=5",
               "loss.moment_pool=4", "train.stage1_iters=2", "train.stage2_iters=2", "train.g_lr_ratio=0",
               "train.f_r_lr_ratio=0", "train.f_s_lr_ratio=0", "train.d_lr_ratio=0")
    train(small_config(dataset, *physics), tmp_path / "plain", progress=False)
    warm = small_config(dataset, *physics, "train.veil_warmup_iters=4")
    train(warm, tmp_path / "warm", progress=False)
    plain = load_checkpoint(tmp_path / "plain" / "stage2.safetensors").state_dicts["g_r"]
    fitted = load_checkpoint(tmp_path / "warm" / "stage2.safetensors").state_dicts["g_r"]
    assert all(torch.equal(fitted[k], plain[k]) for k in plain if k.startswith("streak."))
    assert any(not torch.equal(fitted[k], plain[k]) for k in plain if k.startswith("veil."))
    records = [r for r in read_log(tmp_path / "warm" / "log.jsonl") if r["stage"] == "veil_warmup"]
    assert records and records[-1]["step"] == 4 and records[-1]["mom_or"] >= 0
    with pytest.raises(JRGRError, match="veil_warmup_iters needs"):
        train(small_config(dataset, "train.stage1_iters=2", "train.stage2_iters=2", "train.veil_warmup_iters=2"),
              tmp_path / "additive", progress=False)


def test_stage1_ema_holds_the_average_and_resumes_bit_exactly(dataset, tmp_path) -> None:
    config = small_config(dataset, "train.stage1_iters=4", "train.checkpoint_every=100", "train.ema_decay=0.5")
    straight, pieces = tmp_path / "straight", tmp_path / "pieces"
    train(config, straight, stages=("stage1",), progress=False)
    train(config, pieces, stages=("stage1",), max_steps=2, progress=False)
    train(config, pieces, stages=("stage1",), resume=True, progress=False)
    a, b = load_checkpoint(straight / "stage1.safetensors"), load_checkpoint(pieces / "stage1.safetensors")
    for key, value in a.state_dicts["f_s"].items():
        assert torch.equal(value, b.state_dicts["f_s"][key]), key
        assert torch.equal(value, a.state_dicts["f_r"][key]), key
    state = load_train_state(straight / "stage1.safetensors")
    raw = {k[len("raw_f_s."):]: v for k, v in state.tensors.items() if k.startswith("raw_f_s.")}
    assert any(not torch.equal(raw[k], a.state_dicts["f_s"][k]) for k in raw)


def test_a_net_reading_its_rows_trains_on_square_crops_and_starts_from_a_net_without_them(dataset, tmp_path,
                                                                                          monkeypatch) -> None:
    """model.removal.row_coord with 32² crops of 48² images: both stages take the crops' rows from the data sets
    (`frame_rows`, (N, 1, 32, 1)), and the first conv's weights on the row channel move off zero. train.init_from
    a checkpoint without the row channel starts the removal nets as saved (lr 0 keeps them: zero row weights);
    the other way round is refused (the checkpoint's row weights would be dropped)."""
    from jrgr_deploy.nn.unet import UNet, frame_rows

    seen: list[torch.Tensor | None] = []
    read_rows = UNet._rows

    def recording(net: UNet, x: torch.Tensor, given: torch.Tensor | None) -> torch.Tensor:
        seen.append(given)
        return read_rows(net, x, given)

    monkeypatch.setattr(UNet, "_rows", recording)
    rows = ("model.removal.row_coord=true", "train.stage1_iters=4", "train.stage2_iters=2")
    assert train(small_config(dataset, *rows, "train.lr=2e-3"), tmp_path / "rows", progress=False).complete
    monkeypatch.undo()
    crops = [given for given in seen if given is not None and given.shape[2] == 32]
    assert len(crops) >= 4 + 2 * 4  # every stage-1 step, and F_s / F_r's passes of every joint step
    tops = {round((float(given[i, 0, 0, 0]) * 48 + 47) / 2) for given in crops for i in range(len(given))}
    assert all(torch.allclose(given[i], frame_rows(48, round((float(given[i, 0, 0, 0]) * 48 + 47) / 2), 32))
               for given in crops for i in range(len(given)))
    assert len(tops) > 1  # crops from several places in the frame, not the crop read as a frame
    for stage in ("stage1", "stage2"):
        f_r = load_checkpoint(tmp_path / "rows" / f"{stage}.safetensors").state_dicts["f_r"]["enc.0.0.weight"]
        assert f_r.shape[1] == 4 and f_r[:, 3].abs().sum() > 0
    train(small_config(dataset, "train.stage1_iters=2", "train.stage2_iters=2"), tmp_path / "plain", progress=False)
    plain = load_checkpoint(tmp_path / "plain" / "stage2.safetensors")
    frozen = ("train.lr=0", f"train.init_from={tmp_path / 'plain' / 'stage2.safetensors'}")
    train(small_config(dataset, *rows, "model.removal.row_context=true", *frozen), tmp_path / "gained",
          stages=("stage2",), progress=False)
    gained = load_checkpoint(tmp_path / "gained" / "stage2.safetensors")
    assert gained.config.model.removal.row_coord and gained.config.model.removal.row_context
    for name in ("f_s", "f_r"):
        context = {key: value for key, value in gained.state_dicts[name].items() if key.startswith("context.")}
        assert context and all(torch.equal(value, torch.zeros_like(value)) for value in context.values())
        for key, value in plain.state_dicts[name].items():
            got = gained.state_dicts[name][key]
            if key == "enc.0.0.weight":
                assert torch.equal(got[:, 3], torch.zeros_like(got[:, 3]))
                got = got[:, :3]
            assert torch.equal(got, value), f"{name}.{key}"
    back = small_config(dataset, "train.stage2_iters=2", f"train.init_from={tmp_path / 'rows' / 'stage2.safetensors'}")
    with pytest.raises(JRGRError, match="net f_s was trained with another model.removal"):
        train(back, tmp_path / "back", stages=("stage2",), progress=False)


def test_generation_nets_reading_rows_load_their_own_checkpoint(dataset, tmp_path) -> None:
    """model.generation.row_coord alone: only removal nets gain a row channel from a checkpoint without one."""
    from jrgr_deploy.checkpoint import load_net

    config = small_config(dataset, "model.generation.row_coord=true", "train.stage1_iters=1", "train.stage2_iters=1")
    train(config, tmp_path, progress=False)
    assert load_net(tmp_path / "stage2.safetensors", "g_s").enc[0][0].weight.shape[1] == 4
