"""`jrgr derain` and `jrgr rainify` end to end on files written by the tests, ONNX Runtime backend."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from runtime_fixtures import decode_index, export_fixture_net, index_frame, read_video, write_video
from tiny_checkpoints import save_tiny_checkpoint

from jrgr_deploy.app.cli import main
from jrgr_deploy.runtime import Deraining
from jrgr_deploy.runtime.sinks import gui_available

JRGR = [sys.executable, "-m", "jrgr_deploy"]


@pytest.fixture(scope="module")
def nets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("nets")
    return {
        "f_r": export_fixture_net(folder / "f_r.onnx"),
        "g_r_identity": export_fixture_net(folder / "g_r.onnx", kind="identity", net="g_r"),
    }


@pytest.fixture(scope="module")
def rainy_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from jrgr_deploy.rain import RainSequence

    rain = RainSequence("synthetic", "medium", seed=1, height=90, width=150, fps=20, channel_order="bgr")
    frames = [rain.render(index_frame(i), i).rainy for i in range(24)]
    for i, frame in enumerate(frames):  # rain must not hide the index blocks
        frame[:12, :96] = index_frame(i)[:12, :96]
    return write_video(tmp_path_factory.mktemp("videos") / "rainy.mp4", frames, fps=20)


def check_stats(path: Path, frames: int) -> dict:
    stats = json.loads(path.read_text())
    assert stats["frames_out"] == stats["frames_captured"] == frames and stats["frames_dropped"] == 0
    assert stats["throughput_fps"] > 0 and stats["wall_s"] > 0 and 0 < stats["backend_busy_fraction"] <= 1
    for row in [stats["capture_to_output_ms"], *stats["stages_ms"].values()]:
        assert row["count"] == frames
        assert 0 <= row["p50"] <= row["p95"] <= row["p99"] <= row["max"]
    # end to end runs from the capture stamp (taken when the read completes) to the written frame: it holds
    # every stage after capture (queues add waiting on top), but not the read itself
    stage_sum = sum(row["mean"] for stage, row in stats["stages_ms"].items() if stage != "capture")
    assert stats["capture_to_output_ms"]["mean"] >= stage_sum * 0.99
    return stats


def test_derain_video_keeps_count_order_size_and_writes_stats(
    nets: dict[str, Path], rainy_video: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, stats_path = tmp_path / "out.mp4", tmp_path / "stats.json"
    code = main(["derain", str(rainy_video), "--weights", str(nets["f_r"]), "-o", str(out),
                 "--stats", str(stats_path), "--no-progress"])  # fmt: skip
    assert code == 0
    written = read_video(out)
    assert len(written) == 24 and written[0].shape == (90, 150, 3)
    assert [decode_index(f) for f in written] == list(range(24))
    stats = check_stats(stats_path, 24)
    assert stats["run"]["backend"] == "onnxruntime" and stats["run"]["end_reason"] == "end of stream"
    assert "capture->output" in capsys.readouterr().err


def test_derain_infer_size_and_side_by_side(nets: dict[str, Path], rainy_video: Path, tmp_path: Path) -> None:
    out = tmp_path / "sbs.avi"
    code = main(["derain", str(rainy_video), "--weights", str(nets["f_r"]), "-o", str(out),
                 "--infer-size", "76x44", "--side-by-side", "--no-progress"])  # fmt: skip
    assert code == 0
    written = read_video(out)
    assert len(written) == 24 and written[0].shape == (90, 300, 3)
    assert [decode_index(f[:, 150:]) for f in written] == list(range(24))


def test_derain_image_folder_output(nets: dict[str, Path], rainy_video: Path, tmp_path: Path) -> None:
    out = tmp_path / "frames"
    assert main(["derain", str(rainy_video), "--weights", str(nets["f_r"]), "-o", str(out), "--no-progress"]) == 0
    files = sorted(out.glob("*.png"))
    assert len(files) == 24 and [decode_index(cv2.imread(str(f))) for f in files] == list(range(24))


@pytest.mark.parametrize(
    ("name", "message"), [("notes.txt", "is not a readable video file"), ("missing.mp4", "does not exist")]
)
def test_derain_bad_inputs_exit_2_with_one_clear_line(
    nets: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, message: str
) -> None:
    source = tmp_path / name
    if name.endswith(".txt"):
        source.write_text("hello\n" * 40)  # FFmpeg would "play" this as ANSI art
    assert main(["derain", str(source), "--weights", str(nets["f_r"]), "-o", str(tmp_path / "o.mp4")]) == 2
    err = capsys.readouterr().err
    assert f"jrgr derain: error: '{source}'" in err or f"source '{source}'" in err
    assert message in err
    assert not (tmp_path / "o.mp4").exists()


def test_derain_truncated_video_exits_2_after_finalising(
    nets: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video = write_video(tmp_path / "full.avi", [index_frame(i) for i in range(30)])
    broken = tmp_path / "broken.avi"
    broken.write_bytes(video.read_bytes()[: int(video.stat().st_size * 0.6)])
    out, stats = tmp_path / "o.avi", tmp_path / "s.json"
    code = main(["derain", str(broken), "--weights", str(nets["f_r"]), "-o", str(out), "--stats", str(stats),
                 "--no-progress"])  # fmt: skip
    assert code == 2
    assert "truncated or corrupt" in capsys.readouterr().err
    written = read_video(out)
    assert 0 < len(written) == json.loads(stats.read_text())["frames_out"] < 30


def test_derain_without_weights_or_gui_says_what_is_missing(
    nets: dict[str, Path], rainy_video: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from jrgr_deploy.default_model import WEIGHTS_DIR

    if not (WEIGHTS_DIR / "f_r.onnx").is_file():
        assert main(["derain", str(rainy_video), "-o", str(tmp_path / "o.mp4")]) == 2
        assert "no default f_r ONNX model" in capsys.readouterr().err
    if not gui_available():
        assert main(["derain", str(rainy_video), "--weights", str(nets["f_r"]), "--show"]) == 2
        assert "--show needs an OpenCV build with GUI support" in capsys.readouterr().err
    assert main(["derain", str(rainy_video), "--weights", str(nets["f_r"]), "--backend", "onnxruntime-cuda",
                 "-o", "null"]) == (0 if "CUDA" in _providers() else 2)  # fmt: skip


def _providers() -> str:
    import onnxruntime

    return " ".join(onnxruntime.get_available_providers())


def test_derain_live_file_ctrl_c_finalises_video_and_stats(nets: dict[str, Path], tmp_path: Path) -> None:
    # 400 frames at 10 fps: a 40 s live replay, so the interrupt lands mid-stream even when start-up is slow
    video = write_video(tmp_path / "long.avi", [index_frame(i % 200) for i in range(400)], fps=10)
    out, stats = tmp_path / "o.avi", tmp_path / "s.json"
    process = subprocess.Popen(
        [*JRGR, "derain", str(video), "--weights", str(nets["f_r"]), "-o", str(out), "--stats", str(stats),
         "--live", "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        # a test run started in the background (nohup, CI) inherits SIGINT ignored, and Python then never turns
        # Ctrl-C into KeyboardInterrupt: give the child the default disposition, as a terminal would
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    deadline = time.monotonic() + 60
    # the video is written under a partial name until it is finalised (jrgr_deploy.output_files)
    while not any(tmp_path.glob(".o.partial-*.avi")) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    time.sleep(1.0)  # ~10 frames into the replay
    assert process.poll() is None, "the stream ended before it could be interrupted"
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "interrupted; output finalised" in err
    written = read_video(out)
    summary = json.loads(stats.read_text())
    assert summary["run"]["end_reason"] == "interrupted" and summary["run"]["live"] is True
    assert 0 < len(written) == summary["frames_out"] < 400
    indices = [decode_index(f) for f in written]
    assert indices == sorted(indices)


def test_rainify_with_identity_g_r_reproduces_the_synthetic_rain(nets: dict[str, Path], tmp_path: Path) -> None:
    from jrgr_deploy.rain import RainSequence

    clean = [index_frame(i, 64, 96) for i in range(6)]
    video = write_video(tmp_path / "clean.avi", clean, fps=10)
    decoded = read_video(video)
    out = tmp_path / "rainy_frames"
    code = main(["rainify", str(video), "--weights", str(nets["g_r_identity"]), "--preset", "heavy",
                 "--seed", "3", "-o", str(out), "--no-progress"])  # fmt: skip
    assert code == 0
    files = sorted(out.glob("*.png"))
    assert len(files) == 6
    rain = RainSequence("synthetic", "heavy", seed=3, height=64, width=96, fps=10, channel_order="bgr")
    for i, path in enumerate(files):
        got = cv2.imread(str(path))
        expected = rain.render(decoded[i], i).rainy  # G_r = identity: B + R_s is the synthetic rainy frame
        assert np.abs(got.astype(int) - expected).max() <= 1
        assert np.abs(got.astype(int) - decoded[i]).mean() > 0.5  # rain was added


def test_rainify_has_derains_options_infer_size_live_and_stats(nets: dict[str, Path], tmp_path: Path) -> None:
    """The same pipeline as derain: at --infer-size, G_r runs on the shrunk rain layer and its output is upsampled
    (identity G_r: the synthetic rain, smoothed); --live replays the file as a camera; --stats has the run."""
    from jrgr_deploy.rain import RainSequence

    clean = [index_frame(i, 64, 96) for i in range(6)]
    video = write_video(tmp_path / "clean.avi", clean, fps=10)
    decoded = read_video(video)
    out, stats_path = tmp_path / "small", tmp_path / "stats.json"
    code = main(["rainify", str(video), "--weights", str(nets["g_r_identity"]), "--preset", "heavy", "--seed", "3",
                 "--infer-size", "48x32", "--live", "--stats", str(stats_path), "-o", str(out), "--no-progress"])
    assert code == 0
    stats = json.loads(stats_path.read_text())
    assert stats["run"]["command"] == "rainify" and stats["run"]["live"] is True
    assert stats["run"]["infer_hw"] == [32, 48] and stats["run"]["rain"]["preset"] == "heavy"
    got = [cv2.imread(str(p)) for p in sorted(out.glob("*.png"))]
    assert 0 < len(got) <= 6 and got[0].shape == (64, 96, 3)
    rain = RainSequence("synthetic", "heavy", seed=3, height=64, width=96, fps=10, channel_order="bgr")
    full = rain.render(decoded[0], 0).rainy.astype(int)
    added_full = np.abs(full - decoded[0]).mean()
    added_small = np.abs(got[0].astype(int) - decoded[0]).mean()
    assert added_small > 0.2 * added_full  # the rain is there, at full frame size ...
    assert np.abs(got[0].astype(int) - full).mean() < added_full  # ... and close to the full-resolution result


def test_exported_artefacts_match_the_pytorch_reference_backend(
    rainy_video: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The export helper's real artefacts (tiny preset) through `jrgr derain` / `jrgr rainify` on ONNX
    Runtime; the derained frames equal those of the PyTorch backend on the checkpoint itself."""
    pytest.importorskip("torch")
    from jrgr_deploy.export.exporter import ExportRequest, export_nets

    checkpoint = save_tiny_checkpoint(tmp_path / "tiny.safetensors")
    result = export_nets(ExportRequest(out_dir=tmp_path / "export", weights=checkpoint, nets=("f_r", "g_r"),
                                       verify_frames=1))  # fmt: skip
    files = {f.net: f.path for f in result.files}
    assert set(files) == {"f_r", "g_r"}

    out, stats = tmp_path / "derained", tmp_path / "stats.json"
    code = main(["derain", str(rainy_video), "--weights", str(files["f_r"]), "-o", str(out), "--stats", str(stats),
                 "--no-progress"])  # fmt: skip
    assert code == 0
    assert json.loads(stats.read_text())["run"]["precision"] == "fp32"
    derained = [cv2.imread(str(p)) for p in sorted(out.glob("*.png"))]
    rainy = read_video(rainy_video)
    assert len(derained) == 24 and derained[0].shape == (90, 150, 3)  # padded to 96x160 and back
    with Deraining(checkpoint, backend="torch") as reference:  # the PyTorch backend on the checkpoint
        assert reference.backend.name == "torch"
        for i in (0, 11, 23):
            assert np.abs(derained[i].astype(int) - reference(rainy[i])).max() <= 1
    assert np.abs(derained[0].astype(int) - rainy[0]).mean() > 0.5  # the net changed the frame

    rainified = tmp_path / "rainified.avi"
    assert main(["rainify", str(rainy_video), "--weights", str(files["g_r"]), "-o", str(rainified),
                 "--no-progress"]) == 0  # fmt: skip
    assert len(read_video(rainified)) == 24


def test_derain_defaults_to_auto_infer_size_and_reports_what_it_ran_at(tmp_path: Path, rainy_video: Path) -> None:
    """Without --infer-size the net runs at the scale its sidecar says it was trained on (here 45x75, half the
    90x150 frames: 44x76 after rounding to the size multiple 4); `full` overrides it; the stats name both."""
    weights = export_fixture_net(tmp_path / "f_r.onnx", train_frame_hw=[45, 75])
    runs = {"default": [], "full": ["--infer-size", "full"]}
    ran_at = {}
    for name, flags in runs.items():
        stats_path = tmp_path / f"{name}.json"
        assert main(["derain", str(rainy_video), "--weights", str(weights), "-o", "null", "--stats", str(stats_path),
                     "--no-progress", *flags]) == 0
        run = json.loads(stats_path.read_text())["run"]
        ran_at[name] = (run["infer_size"], run["infer_hw"])
    assert ran_at == {"default": ("auto", [44, 76]), "full": ("full", None)}
    code = subprocess.run([*JRGR, "derain", str(rainy_video), "--weights", str(weights), "-o", "null",
                           "--infer-size", "huge"], capture_output=True, text=True)
    assert code.returncode == 2 and "--infer-size 'huge'" in code.stderr and "Traceback" not in code.stderr


def test_each_command_refuses_the_other_nets_file(nets: dict[str, Path], tmp_path: Path, capsys) -> None:
    """`jrgr export` writes f_r.onnx and g_r.onnx side by side with the same input and output: G_r given to
    derain would run and add rain. Each command runs only the net its file's sidecar names; nothing is written."""
    video = write_video(tmp_path / "clip.avi", [index_frame(i, 64, 96) for i in range(3)], fps=10)
    for command, weights, held in (("derain", nets["g_r_identity"], "g_r"), ("rainify", nets["f_r"], "f_r")):
        out = tmp_path / f"{command}_out"
        assert main([command, str(video), "--weights", str(weights), "-o", str(out), "--no-progress"]) == 2
        assert f"holds {held} (its sidecar's net), but jrgr {command} runs" in capsys.readouterr().err
        assert not out.exists() or not any(out.iterdir())
