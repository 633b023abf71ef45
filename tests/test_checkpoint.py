"""Checkpoint format: round trip, self-description, resume-state file, clear errors on bad files."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file
from tiny_checkpoints import perturbed_tiny_nets

from jrgr_deploy.checkpoint import (
    CHECKPOINT_FORMAT_VERSION,
    TrainState,
    checkpoint_sha256,
    load_checkpoint,
    load_net,
    load_train_state,
    save_checkpoint,
    state_path,
)
from jrgr_deploy.config import JRGRConfig
from jrgr_deploy.errors import JRGRError
from jrgr_deploy.nn.build import build_net


@pytest.fixture()
def tiny_ckpt(tmp_path):
    config, nets = perturbed_tiny_nets(("f_s", "f_r", "g_r"))
    path = save_checkpoint(tmp_path / "run" / "stage2.safetensors", config=config, nets=nets, stage="stage2",
                           step=7)
    return path, config, nets


def test_round_trip(tiny_ckpt) -> None:
    path, config, nets = tiny_ckpt
    ckpt = load_checkpoint(path)
    assert ckpt.config == config
    assert ckpt.stage == "stage2" and ckpt.step == 7
    assert ckpt.net_names == ("f_s", "f_r", "g_r")
    assert ckpt.sha256 == checkpoint_sha256(path) and len(ckpt.sha256) == 64
    for name, net in nets.items():
        for key, value in net.state_dict().items():
            assert torch.equal(ckpt.state_dicts[name][key], value)
    f_r = load_net(path, "f_r")
    assert not f_r.training
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    nets["f_r"].eval()
    with torch.no_grad():
        assert torch.equal(f_r(x), nets["f_r"](x))
    # no stray temporary files from the atomic write, and not the temp file's private 0600 mode
    assert sorted(p.name for p in path.parent.iterdir()) == ["stage2.safetensors"]
    import os

    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_keys_are_prefixed_and_metadata_self_describing(tiny_ckpt) -> None:
    from safetensors import safe_open

    path, config, _ = tiny_ckpt
    with safe_open(str(path), framework="pt") as handle:
        keys = list(handle.keys())
        meta = handle.metadata()
    assert all(k.split(".")[0] in ("f_s", "f_r", "g_r") for k in keys)
    assert "f_r.enc.0.0.weight" in keys
    assert meta["format_version"] == CHECKPOINT_FORMAT_VERSION
    assert json.loads(meta["config"]) == config.to_dict()
    assert json.loads(meta["nets"]) == ["f_s", "f_r", "g_r"]


def test_missing_net(tiny_ckpt) -> None:
    path, _, _ = tiny_ckpt
    with pytest.raises(JRGRError, match="no net 'g_s'; it holds f_s, f_r, g_r"):
        load_net(path, "g_s")


def test_missing_file(tmp_path) -> None:
    with pytest.raises(JRGRError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.safetensors")


def test_truncated_file(tiny_ckpt, tmp_path) -> None:
    path, _, _ = tiny_ckpt
    data = path.read_bytes()
    for cut in (len(data) // 2, 40, 5):
        bad = tmp_path / f"cut{cut}.safetensors"
        bad.write_bytes(data[:cut])
        with pytest.raises(JRGRError, match="not a readable .safetensors file"):
            load_checkpoint(bad)


def test_not_safetensors(tmp_path) -> None:
    bad = tmp_path / "junk.safetensors"
    bad.write_bytes(b"PK\x03\x04 this is a zip / pickle, not safetensors" * 10)
    with pytest.raises(JRGRError, match="junk.safetensors"):
        load_checkpoint(bad)


def test_foreign_safetensors_and_wrong_version(tmp_path) -> None:
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(JRGRError, match="not a JRGR checkpoint"):
        load_checkpoint(foreign)
    old = tmp_path / "old.safetensors"
    save_file({"f_r.w": torch.zeros(2)}, str(old), metadata={"format": "jrgr-checkpoint", "format_version": "0"})
    expected = f"format_version 0, this jrgr-deploy reads version {CHECKPOINT_FORMAT_VERSION}"
    with pytest.raises(JRGRError, match=expected):
        load_checkpoint(old)


def test_weights_do_not_fit_config(tiny_ckpt, tmp_path) -> None:
    path, config, nets = tiny_ckpt
    other = config.with_overrides(["model.removal.base_channels=8"])
    wrong = save_checkpoint(tmp_path / "wrong.safetensors", config=other, nets={"f_r": nets["f_r"]},
                            stage="stage1", step=0)
    with pytest.raises(JRGRError, match="does not fit its config"):
        load_net(wrong, "f_r")


def test_train_state_file(tiny_ckpt) -> None:
    path, config, nets = tiny_ckpt
    state = TrainState(tensors={"rng.torch": torch.get_rng_state(), "pool.d_or": torch.rand(3, 3, 8, 8)},
                       info={"step": 7, "lrs": [1e-4, 1e-5]})
    save_checkpoint(path, config=config, nets=nets, stage="stage2", step=7, train_state=state)
    assert state_path(path).name == "stage2.state.safetensors"
    loaded = load_train_state(state_path(path))
    assert loaded.info == state.info
    assert torch.equal(loaded.tensors["pool.d_or"], state.tensors["pool.d_or"])
    assert torch.equal(loaded.tensors["rng.torch"], state.tensors["rng.torch"])


def test_bad_stage(tmp_path) -> None:
    config = JRGRConfig.from_preset("tiny")
    with pytest.raises(JRGRError, match="stage 'stage3'"):
        save_checkpoint(tmp_path / "x.safetensors", config=config, nets={"f_r": build_net(config, "f_r")},
                        stage="stage3", step=0)
