"""benchmarks/temporal.py: its clips are deterministic and move as described, and a smoke run (160x96 clips made from
scikit-image photographs standing in for the Urban100/BSD68 folders) writes the JSON, the plot and the section."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data
from benchmark_scripts import load_benchmark

from jrgr_deploy.errors import JRGRError


@pytest.fixture(scope="module")
def backgrounds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The backgrounds folder's layout (urban100/, bsd68/) with photographs scikit-image ships."""
    folder = tmp_path_factory.mktemp("backgrounds")
    temporal = load_benchmark("temporal")
    people = temporal.PEOPLE_FOLDER
    for relative, name in ((temporal.FIXED_PHOTO, "coffee"), (temporal.MOVING_PHOTO, "astronaut"),
                           (f"{people}/a.jpg", "chelsea"), (f"{people}/b.jpg", "rocket")):
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), getattr(skimage.data, name)()[..., ::-1])
    return folder


def test_clips_are_deterministic_and_move_as_described(backgrounds: Path) -> None:
    temporal = load_benchmark("temporal")
    street = skimage.data.coffee()
    _, _, people = temporal.background_paths(backgrounds)
    first = list(temporal.people_clip(street, people, 96, 64, 6, 24.0, seed=1))
    again = list(temporal.people_clip(street, people, 96, 64, 6, 24.0, seed=1))
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    still = temporal.cover(street, 96, 64)
    # figures cover part of the street and move; the rest of the street never changes
    changed = np.any(np.stack([np.any(f != still, axis=2) for f in first]), axis=0)
    assert 0.02 < changed.mean() < 0.6
    assert not np.array_equal(first[0], first[-1])
    dash = list(temporal.dashcam_clip(skimage.data.astronaut(), 96, 64, 6, 24.0))
    assert all(frame.shape == (64, 96, 3) for frame in dash)
    assert np.abs(dash[-1].astype(float) - dash[0]).mean() > 5  # the whole view moves (zooms)
    mask = temporal.person_mask(40, 14)
    assert mask[20, 7] == 1.0 and mask[0, 0] == 0.0 and mask.shape == (40, 14)


def test_baselines_match_their_definitions() -> None:
    temporal = load_benchmark("temporal")
    frames = [np.full((2, 2, 3), v, np.uint8) for v in (10, 50, 20, 40, 30)]
    # windows t-2..t+2 clipped at the ends: [10,50,20], [10,50,20,40], all five, [50,20,40,30], [20,40,30]
    assert [int(f[0, 0, 0]) for f in temporal.median5(frames)] == [20, 30, 30, 35, 30]
    recursive = [int(f[0, 0, 0]) for f in temporal.recursive_filter(frames, alpha=0.5)]
    assert recursive == [10, 30, 25, 32, 31]  # 0.5 S + 0.5 frame, rounded half to even


def test_missing_backgrounds_say_where_the_data_comes_from(tmp_path: Path) -> None:
    temporal = load_benchmark("temporal")
    with pytest.raises(JRGRError, match="does not exist.*Urban100.*BSD68"):
        temporal.background_paths(tmp_path / "nowhere")
    (tmp_path / "urban100").mkdir()
    with pytest.raises(JRGRError, match="img_070.jpg' is missing.*Urban100"):
        temporal.background_paths(tmp_path)


def test_temporal_quick_smoke(backgrounds: Path, tmp_path: Path) -> None:
    temporal = load_benchmark("temporal")
    markdown = tmp_path / "BENCHMARKS.md"
    assert temporal.main(["--quick", "--backgrounds", str(backgrounds), "--out", str(tmp_path),
                          "--work", str(tmp_path / "work"), "--markdown", str(markdown)]) == 0
    results = json.loads((tmp_path / "temporal.json").read_text())
    quality, cost = results["quality"], results["cost"]
    assert quality["spec"]["width"] == 160 and quality["model"]["sha256"] and quality["machine"]["cores"]
    for clip in quality["clips"].values():
        assert set(clip["rows"]) == set(temporal.METHODS)
        # the veil rows ran the stage: another output than the same deraining without it
        assert clip["rows"]["per_frame_veil"]["psnr_y"] != clip["rows"]["per_frame"]["psnr_y"]
        for row in clip["rows"].values():
            assert row["frames"] == 8 and len(row["flicker_per_pair"]) == 7 and row["flicker_y"] > 0
    assert quality["clips"]["moving"]["stabiliser"]["camera_moved_frames"] > 0
    for clip in cost["clips"].values():
        assert clip["alone"]["temporal_ms"]["count"] == 2  # 3 frames, the first one restarts
        assert clip["alone"]["added_to_postprocess_cpu_ms"]["count"] == 2 and clip["alone"]["infer_ms"]["count"] == 2
        assert clip["pipeline"]["temporal"]["stages_ms"]["temporal"]["count"] == 3
        assert "--temporal" in clip["pipeline"]["temporal"]["command"]
        live = clip["live"]  # the frames forwards, backwards and forwards, released as a live camera
        assert live["frames"] == 9 and live["camera_fps"] > 0 and live["repeats"] == temporal.LIVE_REPEATS
        for with_filter, without in zip(live["runs"]["temporal"], live["runs"]["per_frame"], strict=True):
            assert "--live" in without["command"] and "--temporal" in with_filter["command"]
            assert with_filter["stages_ms"]["temporal"]["count"] + with_filter["frames_dropped"] == 9
            assert "temporal" not in without["stages_ms"]
        assert live["temporal_stage_ms"]["p50"] > 0 and live["capture_to_output_ms"]["per_frame"]["p50"] > 0
    text = markdown.read_text()
    assert "live camera" in text and "capture-to-output p50 with minus without" in text
    assert "## Temporal stability" in text and "#### Goals" in text and "flicker" in text
    assert (tmp_path / "temporal.png").read_bytes()[:4] == b"\x89PNG"
    # one part re-measured keeps the other; the section can be rewritten from the results file alone
    assert temporal.main(["--quick", "--only", "quality", "--backgrounds", str(backgrounds), "--out", str(tmp_path),
                          "--work", str(tmp_path / "work"), "--markdown", "none"]) == 0
    assert json.loads((tmp_path / "temporal.json").read_text())["cost"] == cost
    markdown.write_text("# Benchmarks\n")
    (tmp_path / "temporal.png").unlink()
    assert temporal.main(["--from-json", str(tmp_path / "temporal.json"), "--out", str(tmp_path),
                          "--markdown", str(markdown)]) == 0
    assert "## Temporal stability" in markdown.read_text() and (tmp_path / "temporal.png").is_file()
    # the stabiliser alone, the rainy frame standing in for the net's output: no inference, no pipeline runs
    quality = json.loads((tmp_path / "temporal.json").read_text())["quality"]
    # ... and beside the stabiliser of a git revision (here the checked-out one), alternating on the same frames
    assert temporal.main(["--quick", "--only", "cost", "--cost-without-net", "--cost-baseline", "HEAD",
                          "--backgrounds", str(backgrounds), "--out", str(tmp_path), "--work", str(tmp_path / "work"),
                          "--markdown", str(markdown)]) == 0
    results = json.loads((tmp_path / "temporal.json").read_text())
    assert results["quality"] == quality
    for clip in results["cost"]["clips"].values():
        assert set(clip) == {"alone"} and clip["alone"]["infer_ms"] is None and not clip["alone"]["net"]
        assert clip["alone"]["temporal_ms"]["count"] == clip["alone"]["added_to_postprocess_cpu_ms"]["count"] == 2
        against = clip["alone"]["baseline"]
        assert against["ref"] == "HEAD" and against["this_ms"]["cpu"]["count"] == against["baseline_ms"]["wall"][
            "count"] == 2
        assert all(ratio > 0 for ratio in against["this_over_baseline_p50"].values())
    text = markdown.read_text()
    assert "--cost-without-net" in text and "CPU time" in text and "`--cost-baseline HEAD`" in text


def test_cost_baseline_names_a_revision_it_cannot_read() -> None:
    temporal = load_benchmark("temporal")
    with pytest.raises(JRGRError, match="--cost-baseline 'no-such-revision': cannot read runtime/temporal.py"):
        temporal.stabiliser_module("no-such-revision")
