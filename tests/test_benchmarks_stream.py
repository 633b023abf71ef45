"""Smoke run of benchmarks/stream.py (tiny random net, 160x96 clip, a 3-second soak) so the script cannot rot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from benchmark_scripts import load_benchmark


def test_build_up_detects_a_growing_queue() -> None:
    stream = load_benchmark("stream")
    steady = stream.build_up([100.0, 102.0, 99.0, 101.0, 100.0, 98.0, 101.0, 100.0, 99.0])
    growing = stream.build_up([100.0 + 50 * i for i in range(9)])
    assert steady["late_over_early_p50"] == pytest.approx(1.0, abs=0.05) and abs(steady["slope_ms_per_frame"]) < 1
    assert growing["late_over_early_p50"] > 2 and growing["slope_ms_per_frame"] == pytest.approx(50, rel=1e-6)
    assert stream.build_up([1.0, 2.0])["slope_ms_per_frame"] is None


def test_paced_loop_releases_frames_at_the_camera_rate() -> None:
    import time

    stream = load_benchmark("stream")
    frames = ["a", "b"]
    start = time.monotonic()
    released = list(stream.paced_loop(frames, fps=50.0, seconds=0.11))
    elapsed = time.monotonic() - start
    assert released[:3] == ["a", "b", "a"] and len(released) == 6  # t = 0, 0.02, ..., 0.1
    assert elapsed >= 0.09


def test_stream_quick_smoke(tmp_path: Path) -> None:
    stream = load_benchmark("stream")
    markdown = tmp_path / "BENCHMARKS.md"
    assert stream.main(["--quick", "--soak", "0.05", "--out", str(tmp_path), "--work", str(tmp_path / "work"),
                        "--markdown", str(markdown)]) == 0
    results = json.loads((tmp_path / "stream.json").read_text())
    assert results["size"] == [160, 96] and results["frames"] == 6
    e2e = results["end_to_end"]
    # `jrgr derain` on a file never drops: every frame of the clip comes out.
    assert e2e["frames_out"] == e2e["frames_captured"] == 6 and e2e["frames_dropped"] == 0
    assert e2e["command"].startswith("jrgr derain ") or "jrgr_deploy derain" in e2e["command"]
    assert results["backend_only"]["fps"] > 0 and results["e2e_over_backend"] > 0
    assert set(results["live"]) == {"0.8x", "1.5x"}
    for run in results["live"].values():
        stats = run["stats"]
        assert stats["run"]["live"] is True
        assert stats["frames_out"] + stats["frames_dropped"] == stats["frames_captured"]
    soak = results["soak"]
    assert soak["stats"]["frames_out"] > 0 and len(soak["samples"]) >= 3
    assert all(sample[1] > 0 for sample in soak["samples"])  # RSS in MiB
    assert (tmp_path / "stream.png").read_bytes()[:4] == b"\x89PNG"
    assert "## Streaming" in markdown.read_text() and "jrgr derain" in markdown.read_text()
    # The section can be rewritten from the results file alone (no measuring).
    (tmp_path / "stream.png").unlink()
    markdown.write_text("# Benchmarks\n")
    assert stream.main(["--from-json", str(tmp_path / "stream.json"), "--out", str(tmp_path),
                        "--markdown", str(markdown)]) == 0
    assert "## Streaming" in markdown.read_text() and (tmp_path / "stream.png").is_file()
