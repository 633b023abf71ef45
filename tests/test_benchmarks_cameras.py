"""Smoke run of benchmarks/cameras.py (2 cameras, 160x96, 3-second clips read as files; batched and separate runs
as real `jrgr derain` processes) so the script cannot rot; the Markdown section is rewritten from its JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from benchmark_scripts import load_benchmark


@pytest.mark.slow  # five jrgr processes start (about a minute on two idle cores)
def test_cameras_quick_smoke(tmp_path: Path) -> None:
    cameras = load_benchmark("cameras")
    markdown = tmp_path / "BENCHMARKS.md"
    assert cameras.main(["--quick", "--out", str(tmp_path), "--work", str(tmp_path / "work"), "--markdown",
                         str(markdown), "--compare", "--batch-window 20", "--compare", "--infer-workers 2"]) == 0
    results = json.loads((tmp_path / "cameras.json").read_text())
    (pair,) = results["summary"]["pairs"]
    batched, separate, (windowed, workers) = pair["batched"], pair["separate"], pair["variants"]
    assert "--batch-window 20" in results["runs"][0]["variants"][0]["command"] and windowed["batch_window_ms"] == 20
    assert batched["batch_window_ms"] is None and [c["frames_out"] for c in windowed["cameras"].values()] == [30, 30]
    assert "--infer-workers 2" in results["runs"][0]["variants"][1]["command"] and workers["infer_workers"] == 2
    assert workers["batch_sizes"] == {"1": 60}  # one frame per call
    # files keep every frame: 30 per camera in both runs, and equal shares
    assert [c["frames_out"] for c in batched["cameras"].values()] == [30, 30]
    assert [c["frames_out"] for c in separate["cameras"].values()] == [30, 30]
    assert [c["share"] for c in batched["cameras"].values()] == [1.0, 1.0]
    assert batched["cpu_s"] > 0 and separate["cpu_s"] > 0 and batched["backend_p50_ms"] > 0
    assert batched["frames_out"] == sum(int(size) * count for size, count in batched["batch_sizes"].items())
    assert isinstance(results["runs"][0]["batched"]["polls"], list)  # empty when it ends before the first poll
    text = markdown.read_text()
    assert "## Cameras" in text and "jrgr derain cam0=" in text and "read as files" in text
    for options in ("--batch-window 20", "--infer-workers 2"):
        assert f"| one process 1, `{options}` |" in text and f"Run 1 with `{options}`, capture-to-output" in text
    assert "separate processes (one camera each, no other camera's frame to wait for)" in text
    assert (tmp_path / "cameras.png").read_bytes()[:4] == b"\x89PNG"
    markdown.write_text("# Benchmarks\n")
    assert cameras.main(["--from-json", str(tmp_path / "cameras.json"), "--out", str(tmp_path),
                         "--markdown", str(markdown), "--note", "Why the tail is long."]) == 0  # fmt: skip
    assert "## Cameras" in markdown.read_text() and "\nWhy the tail is long.\n" in markdown.read_text()
    assert json.loads((tmp_path / "cameras.json").read_text())["notes"] == ["Why the tail is long."]


def test_the_default_model_is_named_as_the_file_the_runtime_runs() -> None:
    """Since v5 the runtime runs the shipped INT8 file on a CPU: the Markdown names that file and its precision
    (it said "f_r.onnx (FP32)" whatever ran)."""
    from jrgr_deploy.artifact import read_sidecar
    from jrgr_deploy.runtime import Deraining

    cameras = load_benchmark("cameras")
    default = Deraining.default_weights()
    described = cameras.weights_description(None)
    assert described.startswith(f"the shipped default {default.name} ({read_sidecar(default).precision.upper()}, ")
    assert cameras.weights_description(default).startswith(f"{default} (sha256 ")
