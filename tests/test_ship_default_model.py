"""benchmarks/ship_default_model.py: ships what the gate passed, records what it refused, fails on a failed export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from benchmark_scripts import load_benchmark
from tiny_checkpoints import save_tiny_checkpoint

from jrgr_deploy.image_files import write_rgb


def _run_folder(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    save_tiny_checkpoint(run / "stage1.safetensors", names=("f_s", "f_r"), seed=1)
    save_tiny_checkpoint(run / "stage2.safetensors", seed=2)
    return run


def _data(tmp_path: Path, with_val: bool = True) -> Path:
    data = tmp_path / "data"
    rng = np.random.default_rng(0)
    for i in range(3):
        write_rgb(data / "train" / "real" / "rainy" / f"{i}.png", rng.integers(0, 256, (48, 80, 3), np.uint8))
        if with_val:
            clean = rng.integers(40, 200, (48, 80, 3), np.uint8)
            write_rgb(data / "val" / "realistic" / "clean" / f"{i}.png", clean)
            write_rgb(data / "val" / "realistic" / "rainy" / f"{i}.png", np.clip(clean.astype(int) + 30, 0, 255))
    return data


def test_ships_the_passed_files_and_records_the_refused_ones(tmp_path: Path) -> None:
    ship = load_benchmark("ship_default_model")
    out = tmp_path / "weights"
    assert ship.main(["--run", str(_run_folder(tmp_path)), "--data", str(_data(tmp_path)), "--out", str(out)]) == 0
    shipped = json.loads((out / "shipped.json").read_text())
    assert "export_exit_code" not in shipped
    assert {"f_r.onnx", "g_r.onnx", "jrgr_tiny.safetensors", "jrgr_tiny_stage1.safetensors"} <= set(shipped["files"])
    for refused in shipped["refused_by_the_gate"]:  # each refused file is named with the gate's reason, not shipped
        assert refused["precision"] == "int8-cpu" and refused["reason"]
        assert f"{refused['net']}.int8-cpu.onnx" not in shipped["files"]
    for net in ("f_r", "g_r"):  # and a shipped INT8 file is one the gate passed
        if f"{net}.int8-cpu.onnx" in shipped["files"]:
            sidecar = json.loads((out / f"{net}.int8-cpu.onnx.json").read_text())
            assert sidecar["accuracy"]["gate"]["passed"] is True


def test_a_failed_export_fails_the_script(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ship = load_benchmark("ship_default_model")
    out = tmp_path / "weights"
    code = ship.main(["--run", str(_run_folder(tmp_path)), "--data", str(_data(tmp_path, with_val=False)),
                      "--out", str(out)])
    assert code == 1
    assert "the export failed" in capsys.readouterr().err
    assert not (out / "shipped.json").exists()
