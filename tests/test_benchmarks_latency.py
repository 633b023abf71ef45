"""Smoke run of benchmarks/latency.py (tiny preset, one small size, 2 iterations) so the script cannot rot,
plus the shared timing code behind it and `jrgr bench`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from benchmark_scripts import load_benchmark

from jrgr_deploy.app.cli import main as jrgr_main
from jrgr_deploy.errors import JRGRError
from jrgr_deploy.runtime.backends.base import InputContract
from jrgr_deploy.runtime.call_latency import bench_batch, time_call, time_interleaved


def test_time_interleaved_runs_round_robin_after_warmup() -> None:
    order: list[str] = []
    timings = time_interleaved({"a": lambda: order.append("a"), "b": lambda: order.append("b")}, warmup=2, iters=3)
    assert order == ["a", "a", "b", "b"] + ["a", "b"] * 3
    for timing in timings.values():
        summary = timing.summary()
        assert summary["count"] == 3 and summary["warmup"] == 2
        assert summary["p50"] <= summary["p95"] <= summary["p99"] <= summary["max"]
    with pytest.raises(JRGRError, match="iteration count"):
        time_call(lambda: None, iters=0)


def test_bench_batch_pads_to_the_contract() -> None:
    dynamic = InputContract("rainy", "clean", 16, (None, 3, None, None))
    batch = bench_batch(dynamic, (720, 1280))
    assert batch.shape == (1, 3, 720, 1280) and batch.dtype == np.float32
    assert batch.min() >= -1 and batch.max() <= 1
    assert dynamic.input_hw((1080, 1920)) == (1088, 1920)
    fixed = InputContract("rainy", "clean", 16, (2, 3, 368, 640))
    assert bench_batch(fixed, (360, 640)).shape == (2, 3, 368, 640)
    with pytest.raises(JRGRError, match="larger than the model's fixed input"):
        bench_batch(fixed, (720, 1280))


def test_replace_section_keeps_the_other_sections(tmp_path: Path) -> None:
    markdown = load_benchmark("markdown_sections")
    path = tmp_path / "BENCHMARKS.md"
    markdown.replace_section(path, "Quality", "quality table")
    markdown.replace_section(path, "Latency", "first")
    markdown.replace_section(path, "Latency", "second")
    text = path.read_text()
    assert "quality table" in text and "second" in text and "first" not in text
    assert [line for line in text.splitlines() if line.startswith("## ")] == [
        "## Quality", "## Latency", "## Streaming", "## Temporal stability", "## GPU"]
    # what follows the keep marker survives a rewrite of the section above it, and only that
    path.write_text(text.replace("quality table", f"quality table\n\n{markdown.KEEP_MARKER}\n\nby hand"))
    markdown.replace_section(path, "Quality", "new table")
    quality = path.read_text().split("## Latency")[0]
    assert "new table" in quality and "quality table" not in quality
    assert quality.index("new table") < quality.index(markdown.KEEP_MARKER) < quality.index("by hand")
    assert "second" in path.read_text()


def test_latency_quick_smoke(tmp_path: Path) -> None:
    latency = load_benchmark("latency")
    markdown = tmp_path / "BENCHMARKS.md"
    markdown.write_text("# Benchmarks\n\n## Quality\n\nkeep me\n\n## Latency\n\nold\n")
    assert latency.main(["--quick", "--out", str(tmp_path), "--work", str(tmp_path / "work"),
                         "--markdown", str(markdown)]) == 0
    results = json.loads((tmp_path / "latency.json").read_text())
    (preset,) = results["presets"]
    assert preset["preset"] == "tiny" and not preset["weights"]["trained"]
    rows = {row["backend"]: row for row in preset["rows"]}
    assert set(rows) == {"torch", "ort-fp32"}
    for row in rows.values():
        assert row["input_hw"] == [96, 160] and row["latency_ms"]["count"] == 2
        assert row["latency_ms"]["p50"] > 0 and row["throughput_fps"] > 0
        # The physical-limit column: achieved GFLOP/s = FLOPs per frame / p50.
        expected = row["gflop_per_frame"] / (row["latency_ms"]["p50"] / 1e3)
        assert row["achieved_gflop_per_s"] == pytest.approx(expected, rel=0.05, abs=0.02)
    assert rows["torch"]["gflop_per_frame"] == rows["ort-fp32"]["gflop_per_frame"] > 0
    assert results["peak_gflops"]["cpu"] > 0 and len(results["load_average"]["start"]) == 3
    infer = preset["infer_size"]
    assert infer["infer_wh"] == [80, 48] and infer["fps_gain"] > 0
    assert (tmp_path / "latency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = markdown.read_text()
    assert "keep me" in text and "old" not in text and "| 160×96 (160×96) |" in text
    # The section can be rewritten from the results file alone (no measuring).
    markdown.write_text("# Benchmarks\n")
    assert latency.main(["--from-json", str(tmp_path / "latency.json"), "--out", str(tmp_path),
                         "--markdown", str(markdown)]) == 0
    assert "| 160×96 (160×96) |" in markdown.read_text()


def test_jrgr_bench_reports_percentiles(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch = pytest.importorskip("torch")
    from jrgr_deploy.checkpoint import save_checkpoint
    from jrgr_deploy.config import JRGRConfig
    from jrgr_deploy.nn.build import build_net

    config = JRGRConfig.from_preset("tiny")
    torch.manual_seed(0)
    path = tmp_path / "tiny.safetensors"
    save_checkpoint(path, config=config, nets={"f_r": build_net(config, "f_r")}, stage="stage2", step=0)
    out = tmp_path / "bench.json"
    assert jrgr_main(["bench", str(path), "--size", "64x40", "--iters", "3", "--warmup", "1",
                      "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["backend"] == "torch" and result["input_shape"] == [1, 3, 48, 64]
    latency = result["latency_ms"]
    assert latency["count"] == 3 and latency["p50"] <= latency["p95"] <= latency["p99"]
    assert "p50" in capsys.readouterr().out
    assert jrgr_main(["bench", str(tmp_path / "missing.onnx")]) == 2
