"""Smoke runs of benchmarks/sizing.py and benchmarks/int8_cpu.py (their --quick modes, real export and ONNX
Runtime) so the scripts cannot rot, and their clear errors on bad arguments."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from benchmark_scripts import load_benchmark

from jrgr_deploy.errors import JRGRError
from jrgr_deploy.image_files import write_rgb


@pytest.mark.slow
def test_sizing_quick_writes_results_plot_and_demo_runs(tmp_path: Path) -> None:
    sizing = load_benchmark("sizing")
    assert sizing.main(["--quick", "--out", str(tmp_path / "out"), "--work", str(tmp_path / "work")]) == 0
    results = json.loads((tmp_path / "out" / "sizing.json").read_text())
    assert [net["name"] for net in results["nets"]] == ["tiny", "w24"]
    assert results["nets"][1]["parameters"] > results["nets"][0]["parameters"]
    for net in results["nets"]:
        assert {row["precision"] for row in net["rows"]} == {"fp32", "int8-cpu"}
        assert all(row["latency_ms"]["p50"] > 0 for row in net["rows"])
    assert {(run["model"], run["infer_size"]) for run in results["demo"]} >= {("default", "full"), ("tiny", "96x64")}
    assert (tmp_path / "out" / "sizing.png").stat().st_size > 0


def test_sizing_rejects_a_malformed_net() -> None:
    sizing = load_benchmark("sizing")
    with pytest.raises(JRGRError, match="--net 'wide'"):
        sizing.parse_net("wide")
    with pytest.raises(JRGRError, match="override 'depth5'"):
        sizing.parse_net("d5=depth5")
    assert sizing.parse_net("tiny=") == ("tiny", [])


def _photos(folder: Path, count: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    for i in range(count):
        write_rgb(folder / f"p{i:02d}.png", rng.integers(0, 256, (90, 120, 3), np.uint8))
    return folder


@pytest.mark.slow
def test_int8_cpu_quick_judges_each_variant_by_the_gate(tmp_path: Path) -> None:
    int8 = load_benchmark("int8_cpu")
    real = _photos(tmp_path / "real", 4, 0)
    clean = _photos(tmp_path / "clean", 8, 1)
    assert int8.main(["--quick", "--calib-real", str(real), "--backgrounds", str(clean), "--out",
                      str(tmp_path / "out"), "--work", str(tmp_path / "work")]) == 0
    results = json.loads((tmp_path / "out" / "int8_cpu.json").read_text())
    names = [row["variant"]["name"] for row in results["variants"]]
    assert names == ["baseline", "real", "real-keep-boundary"]
    for row in results["variants"]:
        assert isinstance(row["gate_passed"], bool) and "drop_db" in row["deraining"]
    assert results["variants"][2]["fp32_nodes"]  # the boundary convolutions really stayed FP32


def test_int8_cpu_needs_its_data_folders(tmp_path: Path) -> None:
    int8 = load_benchmark("int8_cpu")
    with pytest.raises(JRGRError, match="--calib-real"):
        int8.parse_args(["--backgrounds", str(tmp_path)])


def test_int8_cpu_conclusion_names_the_fastest_the_closest_and_the_shipped_recipe() -> None:
    """The table's fastest row is not the shipped one: the conclusion also names the smallest drop and where the
    export's defaults (`real`, what ship_default_model ships) stand."""
    int8 = load_benchmark("int8_cpu")

    def row(name: str, drop_db: float, passed: bool) -> dict:
        return {"variant": {"name": name}, "deraining": {"drop_db": drop_db}, "gate_passed": passed,
                "export_flags": f"--flags-of-{name}"}

    results = {"max_drop_db": 1.0, "sizes": ["1280x720"],
               "variants": [row("real", 0.38, True), row("real-percentile", -0.03, True),
                            row("real-keep-boundary", 0.48, True), row("real-s8-symmetric", 1.81, False)],
               "timing": {"1280x720": {"speedup_vs_fp32": {"real": 1.16, "real-percentile": 1.15,
                                                           "real-keep-boundary": 1.22, "real-s8-symmetric": 1.02}}}}
    summary, shipped = int8.conclusion(results)
    assert summary.startswith("- 3 of 4 variants pass the gate")
    assert "fastest of them is `real-keep-boundary` (+0.48 dB, 1.22×" in summary
    assert "--flags-of-real-keep-boundary" in summary
    assert "smallest drop `real-percentile` (-0.03 dB, 1.15×" in summary
    assert "`real` (+0.38 dB, 1.16× FP32 at 1280x720): it passes here" in shipped
    results["variants"][0]["gate_passed"] = False
    assert "it is refused here" in int8.conclusion(results)[1]
    for variant in results["variants"]:
        variant["gate_passed"] = False
    (none,) = int8.conclusion(results)
    assert "No variant passes the gate" in none and "`real-percentile`, -0.03 dB" in none
