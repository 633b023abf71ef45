"""Which shipped F_r file the runtime runs on a CPU, and why (`default_model.cpu_onnx_choice`, `jrgr info`)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from runtime_fixtures import export_fixture_net

from jrgr_deploy import default_model
from jrgr_deploy.app.cli import main
from jrgr_deploy.artifact import read_sidecar, write_sidecar
from jrgr_deploy.errors import JRGRError


@pytest.fixture
def weights_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "weights"
    folder.mkdir()
    monkeypatch.setattr(default_model, "WEIGHTS_DIR", folder)
    return folder


def _int8(folder: Path, passed: bool | None, drop_db: float = 0.31) -> Path:
    """An int8-cpu file whose sidecar records the gate's verdict `passed` (None: no gate recorded) and a deraining
    PSNR-Y `drop_db` below FP32's."""
    path = export_fixture_net(folder / "f_r.int8-cpu.onnx")
    accuracy = {} if passed is None else {
        "gate": {"passed": passed, "max_drop_db": 1.0, "min_psnr_db": 30.0},
        "deraining": {"drop_db": drop_db, "pairs": 16, "psnr_y_db": 25.31 - drop_db, "psnr_y_db_fp32": 25.31},
    }
    info = dataclasses.replace(read_sidecar(path), precision="int8", accuracy=accuracy,
                               quantization={"variant": "int8-cpu"})
    write_sidecar(path, info)
    return path


def test_fp32_when_no_int8_is_shipped(weights_dir: Path) -> None:
    fp32 = export_fixture_net(weights_dir / "f_r.onnx")
    path, why = default_model.cpu_onnx_choice("f_r")
    assert path == fp32 and why.startswith("FP32") and "no f_r.int8-cpu.onnx" in why
    assert default_model.fastest_cpu_onnx("f_r") == fp32


def test_int8_when_its_sidecar_says_it_passed_the_gate(weights_dir: Path) -> None:
    export_fixture_net(weights_dir / "f_r.onnx")
    int8 = _int8(weights_dir, passed=True)
    path, why = default_model.cpu_onnx_choice("f_r")
    assert path == int8 and "passed the export gate" in why and "0.31 dB below FP32" in why


def test_an_int8_file_that_scored_above_fp32_is_said_so(weights_dir: Path) -> None:
    export_fixture_net(weights_dir / "f_r.onnx")
    _int8(weights_dir, passed=True, drop_db=-0.03)
    assert "0.03 dB above FP32" in default_model.cpu_onnx_choice("f_r")[1]


@pytest.mark.parametrize("passed", [False, None])
def test_an_int8_file_without_a_passed_gate_is_not_used(weights_dir: Path, passed: bool | None) -> None:
    fp32 = export_fixture_net(weights_dir / "f_r.onnx")
    _int8(weights_dir, passed=passed)
    path, why = default_model.cpu_onnx_choice("f_r")
    assert path == fp32 and "does not record a passed export gate" in why


def test_a_broken_int8_sidecar_falls_back_to_fp32_and_says_so(weights_dir: Path) -> None:
    fp32 = export_fixture_net(weights_dir / "f_r.onnx")
    int8 = _int8(weights_dir, passed=True)
    Path(str(int8) + ".json").write_text("{not json")
    path, why = default_model.cpu_onnx_choice("f_r")
    assert path == fp32 and "not usable" in why


def test_nothing_shipped_is_a_clear_error(weights_dir: Path) -> None:
    with pytest.raises(JRGRError, match="no default f_r ONNX model"):
        default_model.cpu_onnx_choice("f_r")


def test_info_says_which_file_derain_runs_and_why(weights_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    export_fixture_net(weights_dir / "f_r.onnx")
    int8 = _int8(weights_dir, passed=True)
    assert main(["info"]) == 0
    text = capsys.readouterr().out
    assert f"jrgr derain / demo on a CPU run: {int8}" in text and "passed the export gate" in text
    assert main(["info", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["derain_default_on_cpu"]["file"] == str(int8)
