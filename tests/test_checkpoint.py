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
    save_weights_only,
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
    expected = f"format_version 0, this jrgr-deploy reads versions 1 and {CHECKPOINT_FORMAT_VERSION}"
    with pytest.raises(JRGRError, match=expected):
        load_checkpoint(old)


def test_weights_do_not_fit_config(tiny_ckpt, tmp_path) -> None:
    path, config, nets = tiny_ckpt
    other = config.with_overrides(["model.removal.base_channels=8"])
    wrong = save_checkpoint(tmp_path / "wrong.safetensors", config=other, nets={"f_r": nets["f_r"]},
                            stage="stage1", step=0)
    with pytest.raises(JRGRError, match="does not fit its config"):
        load_net(wrong, "f_r")


def test_train_state_travels_inside_the_checkpoint(tiny_ckpt) -> None:
    """One file, one rename: the resume state is inside the weights file (reserved keys), ignored by
    load_checkpoint, returned by load_train_state; no second file, no temporary file left."""
    path, config, nets = tiny_ckpt
    state = TrainState(tensors={"rng.torch": torch.get_rng_state(), "pool.d_or": torch.rand(3, 3, 8, 8)},
                       info={"step": 7, "lrs": [1e-4, 1e-5]})
    save_checkpoint(path, config=config, nets=nets, stage="stage2", step=7, train_state=state)
    assert sorted(p.name for p in path.parent.iterdir()) == ["stage2.safetensors"]
    loaded = load_train_state(path)
    assert loaded.info == state.info
    assert torch.equal(loaded.tensors["pool.d_or"], state.tensors["pool.d_or"])
    assert torch.equal(loaded.tensors["rng.torch"], state.tensors["rng.torch"])
    checkpoint = load_checkpoint(path)
    assert checkpoint.has_train_state and set(checkpoint.state_dicts) == {"f_s", "f_r", "g_r"}
    assert all(not key.startswith("__state__") for sd in checkpoint.state_dicts.values() for key in sd)
    assert not load_checkpoint(save_checkpoint(path.parent / "weights_only.safetensors", config=config, nets=nets,
                                               stage="stage2", step=7)).has_train_state
    with pytest.raises(JRGRError, match="holds no resume state"):
        load_train_state(path.parent / "weights_only.safetensors")


def test_weights_only_copy_drops_the_resume_state_and_keeps_every_net(tiny_ckpt) -> None:
    path, config, nets = tiny_ckpt
    pools = TrainState(tensors={"pool.d_or": torch.rand(50, 3, 64, 64)}, info={"step": 7})
    save_checkpoint(path, config=config, nets=nets, stage="stage2", step=7, train_state=pools)
    copy = save_weights_only(path, path.parent / "snapshots" / "step000007.safetensors")
    assert path.stat().st_size - copy.stat().st_size >= pools.tensors["pool.d_or"].nbytes  # the pool's bytes are gone
    original, weights = load_checkpoint(path), load_checkpoint(copy)  # load_checkpoint checks the new checksums
    assert not weights.has_train_state and original.has_train_state
    assert (weights.config, weights.stage, weights.step, weights.net_names) == (config, "stage2", 7,
                                                                                original.net_names)
    for name, state_dict in original.state_dicts.items():
        assert state_dict.keys() == weights.state_dicts[name].keys()
        assert all(torch.equal(value, weights.state_dicts[name][key]) for key, value in state_dict.items())
    with pytest.raises(JRGRError, match="holds no resume state"):
        load_train_state(copy)
    assert sorted(p.name for p in copy.parent.iterdir()) == [copy.name]  # no temporary file left


def test_weights_only_copy_refuses_a_corrupt_source(tiny_ckpt, tmp_path) -> None:
    path, _, _ = tiny_ckpt
    data = bytearray(path.read_bytes())
    data[_data_offset(path) + 3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(JRGRError, match="is corrupt"):
        save_weights_only(path, tmp_path / "copy.safetensors")
    assert not (tmp_path / "copy.safetensors").exists()


def _data_offset(path) -> int:
    """Where a safetensors file's tensor bytes begin (8-byte header length + the JSON header)."""
    import struct

    return 8 + struct.unpack("<Q", path.read_bytes()[:8])[0]


def test_corrupted_tensor_bytes_are_an_error_naming_file_and_tensor(tiny_ckpt, tmp_path) -> None:
    path, _, _ = tiny_ckpt
    data = bytearray(path.read_bytes())
    start = _data_offset(path)
    # 4 KB of random bytes in the middle of the weights: safetensors itself still reads the file
    middle = start + (len(data) - start) // 2
    data[middle:middle + 4096] = torch.randint(0, 256, (4096,), dtype=torch.uint8, generator=torch.Generator()
                                               .manual_seed(1)).numpy().tobytes()
    bad = tmp_path / "corrupt.safetensors"
    bad.write_bytes(bytes(data))
    with pytest.raises(JRGRError, match=r"corrupt\.safetensors' is corrupt: the bytes of tensor '\w+\.[\w.]+' do not "
                                        "match their recorded SHA-256"):
        load_checkpoint(bad)


def test_non_finite_weights_are_refused_on_save_and_on_load(tiny_ckpt, tmp_path) -> None:
    from safetensors import safe_open

    from jrgr_deploy.checkpoint import tensor_sha256

    path, config, nets = tiny_ckpt
    before = path.read_bytes()
    broken = dict(nets)
    broken["f_r"] = build_net(config, "f_r")
    with torch.no_grad():
        next(broken["f_r"].parameters()).view(-1)[0] = float("nan")
    with pytest.raises(JRGRError, match="refusing to write checkpoint .* tensor 'f_r\\..*' holds NaN or inf.*previous "
                                        "checkpoint is kept"):
        save_checkpoint(path, config=config, nets=broken, stage="stage2", step=8)
    assert path.read_bytes() == before  # the good file is untouched, no temporary file left
    assert sorted(p.name for p in path.parent.iterdir()) == ["stage2.safetensors"]
    # a file whose checksums agree but whose values are inf (written by another tool)
    with safe_open(str(path), framework="pt") as handle:
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}
        metadata = dict(handle.metadata())
    key = next(k for k in tensors if k.startswith("g_r."))
    tensors[key] = tensors[key].clone()
    tensors[key].view(-1)[0] = float("inf")
    metadata["tensor_sha256"] = json.dumps({k: tensor_sha256(v) for k, v in tensors.items()})
    inf_file = tmp_path / "inf.safetensors"
    save_file(tensors, str(inf_file), metadata=metadata)
    with pytest.raises(JRGRError, match=f"tensor '{key}' holds NaN or inf values"):
        load_checkpoint(inf_file)


def test_version_1_two_file_checkpoints_still_load_and_resume(tiny_ckpt, tmp_path) -> None:
    """Format 1 (no checksums, state in <name>.state.safetensors) keeps loading; the next save replaces the pair
    by one version-2 file."""
    path, config, nets = tiny_ckpt
    old = tmp_path / "old" / "stage2.safetensors"
    old.parent.mkdir()
    tensors = {f"{name}.{k}": v.contiguous() for name, net in nets.items() for k, v in net.state_dict().items()}
    save_file(tensors, str(old), metadata={"format": "jrgr-checkpoint", "format_version": "1",
                                           "config": config.to_json(), "stage": "stage2", "step": "3",
                                           "nets": json.dumps(list(nets))})
    save_file({"rng.torch": torch.get_rng_state()}, str(state_path(old)),
              metadata={"format": "jrgr-train-state", "format_version": "1", "state": json.dumps({"step": 3})})
    checkpoint = load_checkpoint(old)
    assert checkpoint.step == 3 and checkpoint.has_train_state
    assert load_train_state(old).info == {"step": 3}
    assert load_train_state(state_path(old)).info == {"step": 3}
    save_checkpoint(old, config=config, nets=nets, stage="stage2", step=4,
                    train_state=TrainState({"rng.torch": torch.get_rng_state()}, {"step": 4}))
    assert sorted(p.name for p in old.parent.iterdir()) == ["stage2.safetensors"]
    assert load_train_state(old).info == {"step": 4}


def test_the_shipped_checkpoints_load() -> None:
    from jrgr_deploy.default_model import WEIGHTS_DIR

    for name in ("jrgr_tiny.safetensors", "jrgr_tiny_stage1.safetensors"):
        if (WEIGHTS_DIR / name).is_file():
            assert load_checkpoint(WEIGHTS_DIR / name).net_names


def test_stale_partials_of_a_killed_save_are_removed(tiny_ckpt) -> None:
    from jrgr_deploy.checkpoint import remove_stale_partials_of

    path, _, _ = tiny_ckpt
    stale = [path.parent / ".stage2.partial-0123abcd.safetensors", path.parent / ".stage2.safetensors.x1y2.tmp",
             path.parent / ".stage2.state.safetensors.z9.tmp"]
    for file in stale:
        file.write_bytes(b"half a checkpoint")
    assert sorted(remove_stale_partials_of([path])) == sorted(stale)
    assert sorted(p.name for p in path.parent.iterdir()) == ["stage2.safetensors"]


def test_bad_stage(tmp_path) -> None:
    config = JRGRConfig.from_preset("tiny")
    with pytest.raises(JRGRError, match="stage 'stage3'"):
        save_checkpoint(tmp_path / "x.safetensors", config=config, nets={"f_r": build_net(config, "f_r")},
                        stage="stage3", step=0)


def test_a_weight_mix_averages_every_net_and_records_its_start(tiny_ckpt, tmp_path) -> None:
    from jrgr_deploy.checkpoint import mix_weights

    end, config, _ = tiny_ckpt
    _, other_nets = perturbed_tiny_nets(("f_s", "f_r", "g_r"), seed=5)
    start = save_checkpoint(tmp_path / "start.safetensors", config=config, nets=other_nets, stage="stage2", step=0)
    mixed = load_checkpoint(mix_weights(start, end, tmp_path / "mixed.safetensors", 0.25))
    first, last = load_checkpoint(start), load_checkpoint(end)
    assert (mixed.config, mixed.stage, mixed.step, mixed.net_names) == (config, "stage2", 7, last.net_names)
    assert json.loads(mixed.metadata["mixed_with"]) == {"start_sha256": first.sha256, "start_share": 0.25}
    changed = 0
    for name, state_dict in last.state_dicts.items():
        for key, value in state_dict.items():
            expected = 0.25 * first.state_dicts[name][key] + 0.75 * value if value.is_floating_point() else value
            assert torch.allclose(mixed.state_dicts[name][key], expected, atol=1e-7)
            changed += int(not torch.equal(mixed.state_dicts[name][key], value))
    assert changed > 0  # the two checkpoints differ, so the mix is neither of them
    as_is = load_checkpoint(mix_weights(start, end, tmp_path / "as_is.safetensors", 0.0))
    assert all(torch.equal(as_is.state_dicts["f_r"][k], v) for k, v in last.state_dicts["f_r"].items())
    with pytest.raises(JRGRError, match="within 0-1"):
        mix_weights(start, end, tmp_path / "bad.safetensors", 1.5)


def test_a_weight_mix_takes_the_start_as_a_run_with_row_inputs_began_from_it(tiny_ckpt, tmp_path) -> None:
    """A removal net trained with ``row_coord`` from a start without it (as `jrgr adapt --set
    model.removal.row_coord=true` trains) mixes with the start's weights plus a zero row channel: the net that run
    began from."""
    from jrgr_deploy.checkpoint import mix_weights

    start, config, _ = tiny_ckpt
    rows = config.with_overrides(["model.removal.row_coord=true"])
    torch.manual_seed(3)
    trained = {"f_r": build_net(rows, "f_r")}
    end = save_checkpoint(tmp_path / "rows.safetensors", config=rows, nets=trained, stage="stage2", step=4)
    mixed = load_checkpoint(mix_weights(start, end, tmp_path / "mixed.safetensors", 0.4))
    first = load_checkpoint(start).state_dicts["f_r"]["enc.0.0.weight"]  # no row channel
    padded = torch.cat([first, torch.zeros_like(first[:, :1])], dim=1)
    weight = load_checkpoint(end).state_dicts["f_r"]["enc.0.0.weight"]
    assert padded.shape == weight.shape == (first.shape[0], 4, *first.shape[2:])
    assert torch.allclose(mixed.state_dicts["f_r"]["enc.0.0.weight"], 0.4 * padded + 0.6 * weight, atol=1e-7)
    assert mixed.config.model.removal.row_coord


def test_a_weight_mix_of_two_architectures_is_refused(tiny_ckpt, tmp_path) -> None:
    from jrgr_deploy.checkpoint import mix_weights

    end, _, _ = tiny_ckpt
    wider = JRGRConfig.from_preset("tiny").with_overrides(["model.removal.base_channels=24"])
    start = save_checkpoint(tmp_path / "wider.safetensors", config=wider, nets={"f_r": build_net(wider, "f_r")},
                            stage="stage1", step=0)
    with pytest.raises(JRGRError, match="another architecture"):
        mix_weights(start, end, tmp_path / "mixed.safetensors", 0.3)
    assert not (tmp_path / "mixed.safetensors").exists()
