"""The population tone map after F_r (`jrgr export --tone S --tone-real R --tone-clean C`): the exporter fits the
`MomentTransfer` from the cell moments of F_r's outputs on R to those of C and writes it into F_r's sidecar; the
runtime re-tones every derained frame with it at strength S (before the veil stage) and times it as a stage; bad
input is a clear error."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from runtime_fixtures import index_frame, write_video
from tiny_checkpoints import save_tiny_checkpoint

from jrgr_deploy.app.cli import main
from jrgr_deploy.artifact import read_sidecar, sidecar_path, write_sidecar
from jrgr_deploy.checkpoint import load_net
from jrgr_deploy.errors import JRGRError
from jrgr_deploy.image_files import write_rgb
from jrgr_deploy.moment_transfer import MomentTransfer
from jrgr_deploy.runtime import Deraining

SMALL = "1x3x64x96"


def _images(folder: Path, count: int, level: int, seed: int) -> Path:
    """Smooth scenes around a brightness `level`, with streaks."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:72, 0:104]
    for i in range(count):
        base = np.stack([level + 60 * np.sin(xx / (9 + i) + c) * np.cos(yy / (13 + 2 * c)) for c in range(3)], -1)
        base[rng.integers(0, 60, 20), rng.integers(0, 104, 20)] += 80
        write_rgb(folder / f"frame_{i:02d}.png", np.clip(base, 0, 255).astype(np.uint8))
    return folder


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, Path]:
    root = tmp_path_factory.mktemp("tone")
    ckpt = save_tiny_checkpoint(root / "tiny.safetensors")
    real, clean = _images(root / "real", 6, 150, seed=1), _images(root / "clean", 6, 90, seed=2)
    assert main(["export", "--weights", str(ckpt), "--nets", "f_r", "--out", str(root / "out"), "--shape", SMALL,
                 "--tone", "0.4", "--tone-real", str(real), "--tone-clean", str(clean)]) == 0  # fmt: skip
    return ckpt, real, clean, root / "out" / "f_r.onnx"


def test_the_sidecar_holds_the_map_from_f_rs_outputs_to_the_clean_set(exported) -> None:
    from jrgr_deploy.export.tone import fit_population_tone

    ckpt, real, clean, onnx_path = exported
    info = read_sidecar(onnx_path)
    transfer, strength = info.tone_map()
    assert strength == 0.4 and transfer.jitter == 0.0
    net = load_net(ckpt, "f_r")
    as_lit, gain = fit_population_tone(net, real, clean, grid=4, most=128, multiple=info.size_multiple)
    assert as_lit.target[..., 0].mean() < as_lit.source[..., 0].mean() - 20  # towards the darker clean set
    # the default --tone-light match: the clean set's light brought to the footage's, as far as the cells tell
    expected, matched_gain = fit_population_tone(net, real, clean, grid=4, most=128, multiple=info.size_multiple,
                                                 match_light=True)
    assert matched_gain == gain and info.tone["light_gain"] == (None if gain is None else pytest.approx(gain, 1e-3))
    assert info.tone["light"] == ("as-is" if gain is None else "match")
    np.testing.assert_allclose(transfer.source, expected.source, atol=1e-4)
    np.testing.assert_allclose(transfer.target, expected.target, atol=1e-3)
    np.testing.assert_allclose(expected.target, as_lit.target / (gain or 1.0))


def test_where_the_light_cannot_be_matched_the_unmatched_strength_is_written(exported, tmp_path: Path) -> None:
    """A clean set that is F_r's own outputs on the footage has the footage's moments in every cell: no difference
    of veil between the cells, so no light gain can be read (`light_gain` None), and `jrgr adapt`'s lower strength
    for a map that keeps the clean set's light is written instead."""
    from jrgr_deploy.export.exporter import ExportRequest, export_nets
    from jrgr_deploy.export.tone import derained_images, fit_population_tone

    ckpt, real, _, onnx_path = exported
    net, multiple = load_net(ckpt, "f_r"), read_sidecar(onnx_path).size_multiple
    for index, output in enumerate(derained_images(net, real, most=128, multiple=multiple)):
        write_rgb(tmp_path / "outputs" / f"frame_{index:02d}.png", output)
    _, gain = fit_population_tone(net, real, tmp_path / "outputs", grid=4, most=128, multiple=multiple)
    assert gain is None
    request = ExportRequest(out_dir=tmp_path / "out", weights=ckpt, nets=("f_r",), shape=SMALL, tone_strength=1.0,
                            tone_real=real, tone_clean=tmp_path / "outputs", tone_strength_unmatched=0.5)
    export_nets(request)
    info = read_sidecar(tmp_path / "out" / "f_r.onnx")
    assert info.tone["strength"] == 0.5 and info.tone["light"] == "as-is" and info.tone["light_gain"] is None
    with pytest.raises(JRGRError, match="where the light cannot be matched 2: expected a number from 0"):
        export_nets(dataclasses.replace(request, tone_strength_unmatched=2.0))


def test_tone_light_as_is_keeps_the_clean_sets_light(exported, tmp_path: Path) -> None:
    from jrgr_deploy.export.tone import fit_population_tone

    ckpt, real, clean, _ = exported
    assert main(["export", "--weights", str(ckpt), "--nets", "f_r", "--out", str(tmp_path), "--shape", SMALL,
                 "--tone", "1", "--tone-real", str(real), "--tone-clean", str(clean), "--tone-light", "as-is"]) == 0
    info = read_sidecar(tmp_path / "f_r.onnx")
    as_lit, _ = fit_population_tone(load_net(ckpt, "f_r"), real, clean, grid=4, most=128,
                                    multiple=info.size_multiple)
    assert info.tone["light"] == "as-is"
    np.testing.assert_allclose(info.tone_map()[0].target, as_lit.target, atol=1e-4)


def test_the_runtime_re_tones_the_derained_frame(exported, tmp_path: Path) -> None:
    _, _, _, onnx_path = exported
    plain = tmp_path / "f_r.onnx"  # the same net without the map
    shutil.copy(onnx_path, plain)
    write_sidecar(plain, dataclasses.replace(read_sidecar(onnx_path), tone=None))
    frame = index_frame(5)[:64, :96].copy()
    with Deraining(plain, infer_hw=None) as without, Deraining(onnx_path, infer_hw=None) as toned:
        derained = without(frame)
        got = toned(frame)
        assert toned.run_info()["tone_strength"] == 0.4 and without.run_info()["tone_strength"] == 0.0
    transfer, strength = read_sidecar(onnx_path).tone_map()
    share = transfer.veil_share(derained[..., ::-1])  # read in RGB, as the map was fitted
    assert 0.0 < share <= 1.0
    np.testing.assert_array_equal(got, transfer.apply(derained, strength * share))
    assert np.abs(got.astype(int) - derained.astype(int)).mean() > 2  # the map did change the frame
    video = write_video(tmp_path / "in.avi", [frame] * 5, fps=10)
    stats = tmp_path / "stats.json"
    assert main(["derain", str(video), "--weights", str(onnx_path), "-o", "null", "--no-progress",
                 "--stats", str(stats)]) == 0  # fmt: skip
    assert json.loads(stats.read_text())["stages_ms"]["tone"]["count"] == 5


def test_bad_tone_input_is_a_clear_error(exported, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt, real, _, onnx_path = exported
    base = ["export", "--weights", str(ckpt), "--nets", "f_r", "--shape", SMALL]
    assert main([*base, "--out", str(tmp_path / "a"), "--tone", "0.3", "--tone-real", str(real)]) == 2
    err = capsys.readouterr().err
    assert "--tone needs --tone-real" in err and "--tone-clean" in err and "Traceback" not in err
    assert main([*base, "--out", str(tmp_path / "b"), "--tone", "0.3", "--tone-real", str(real),
                 "--tone-clean", str(tmp_path / "nowhere")]) == 2  # fmt: skip
    assert f"--tone-clean '{tmp_path / 'nowhere'}' does not exist" in capsys.readouterr().err
    assert main([*base, "--out", str(tmp_path / "c"), "--tone", "1.5"]) == 2
    assert "--tone 1.5: expected a number from 0 (off) to 1" in capsys.readouterr().err
    assert not any((tmp_path / n).exists() for n in "abc")
    # a sidecar whose map is broken is refused when the artefact is opened, naming the file
    broken = tmp_path / "f_r.onnx"
    shutil.copy(onnx_path, broken)
    data = json.loads(sidecar_path(onnx_path).read_text())
    data["tone"]["strength"] = 0
    sidecar_path(broken).write_text(json.dumps(data))
    with pytest.raises(JRGRError, match=r"f_r.onnx.json.*tone: expected a strength above 0"):
        Deraining(broken)
    data["tone"] = {"strength": 0.5, "source": [[1, 2]], "target": [[1, 2]]}
    sidecar_path(broken).write_text(json.dumps(data))
    with pytest.raises(JRGRError, match=r"f_r.onnx.json.*moment transfer"):
        Deraining(broken)


def test_the_map_survives_its_json_form() -> None:
    rng = np.random.default_rng(0)
    transfer = MomentTransfer(rng.uniform(20, 200, (3, 3, 2)), rng.uniform(20, 200, (3, 3, 2)), jitter=0.0)
    back = MomentTransfer.from_dict(json.loads(json.dumps(transfer.to_dict())))
    np.testing.assert_allclose(back.source, transfer.source, atol=1e-4)
    image = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    assert np.abs(back.apply(image, 0.5).astype(int) - transfer.apply(image, 0.5).astype(int)).max() <= 1


def test_the_veil_share_is_zero_at_the_clean_moments_and_one_at_the_rainy() -> None:
    """A dry frame (the clean set's moments) is left alone; a frame with the population veil takes it all; one
    half way takes about half."""
    from jrgr_deploy.moment_transfer import cell_moments

    rng = np.random.default_rng(1)
    clean = rng.integers(30, 220, (48, 64, 3), dtype=np.uint8)
    veiled = np.clip(0.6 * clean.astype(np.float32) + 80, 0, 255).astype(np.uint8)
    transfer = MomentTransfer(cell_moments(veiled, 2), cell_moments(clean, 2), jitter=0.0)
    assert transfer.veil_share(clean) == 0.0 and transfer.veil_share(veiled) == pytest.approx(1.0)
    half = np.clip(0.8 * clean.astype(np.float32) + 40, 0, 255).astype(np.uint8)
    assert transfer.veil_share(half) == pytest.approx(0.5, abs=0.05)
    np.testing.assert_array_equal(transfer.apply_to_veil(clean, 1.0), transfer.apply(clean, 0.0))
    assert np.abs(transfer.apply_to_veil(veiled, 1.0).astype(int) - clean.astype(int)).mean() < 3


def test_the_callers_strength_wins_and_zero_turns_the_map_off(exported, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    _, _, _, onnx_path = exported
    plain = tmp_path / "f_r.onnx"
    shutil.copy(onnx_path, plain)
    write_sidecar(plain, dataclasses.replace(read_sidecar(onnx_path), tone=None))
    frame = index_frame(5)[:64, :96].copy()
    transfer, _ = read_sidecar(onnx_path).tone_map()
    with Deraining(plain, infer_hw=None) as without, Deraining(onnx_path, infer_hw=None, tone=0.0) as off, \
            Deraining(onnx_path, infer_hw=None, tone=0.2) as weaker:
        derained = without(frame)
        np.testing.assert_array_equal(off(frame), derained)
        share = transfer.veil_share(derained[..., ::-1])
        np.testing.assert_array_equal(weaker(frame), transfer.apply(derained, 0.2 * share))
        assert off.run_info()["tone_strength"] == 0.0 and weaker.run_info()["tone_strength"] == 0.2
    with pytest.raises(JRGRError, match="carries no tone map"):
        Deraining(plain, tone=0.5)
    video = write_video(tmp_path / "in.avi", [frame] * 3, fps=10)
    assert main(["derain", str(video), "--weights", str(onnx_path), "-o", "null", "--no-progress", "--tone", "0"]) == 0
    capsys.readouterr()
    assert main(["derain", str(video), "--weights", str(onnx_path), "-o", "null", "--tone", "1.5"]) == 2
    err = capsys.readouterr().err
    assert "--tone 1.5: expected a number from 0 (off) to 1" in err and "Traceback" not in err

