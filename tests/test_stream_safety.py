"""`jrgr derain` / the pipeline losing nothing: live recordings keep wall-clock time and count outages, frames in
flight at Ctrl-C are written and counted, unreadable images are skipped (or stop with --strict), odd frame
sizes are kept or stated, a net's broken output is an error, and every bad path or option is one clear line."""

from __future__ import annotations

import _thread
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
from runtime_fixtures import SlowBackend, decode_index, export_fixture_net, index_frame, read_video, write_video
from test_stream import PacedSource

from jrgr_deploy.app.cli import main
from jrgr_deploy.image_files import write_bgr
from jrgr_deploy.runtime import CallbackSink, Deraining, IterableSource, StreamPipeline, VideoFileSink, open_backend
from jrgr_deploy.runtime.processing import FrameProcessor

JRGR = [sys.executable, "-m", "jrgr_deploy"]


@pytest.fixture(scope="module")
def nets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("nets")
    return {kind: export_fixture_net(folder / f"{kind}.onnx", kind=kind) for kind in ("tiny", "nan", "shrink")}


# ---- live recordings keep wall-clock time ----------------------------------------------------------------------


def test_a_live_recording_lasts_as_long_as_the_stream(nets: dict[str, Path], tmp_path: Path) -> None:
    """A 4 s camera (a file replayed live at 10 fps) through a backend that keeps up with ~4 fps: the recording
    is still ~4 s at 10 fps, the frames the backend could not take repeated."""
    video = write_video(tmp_path / "cam.avi", [index_frame(i) for i in range(40)], fps=10)
    out = tmp_path / "rec.avi"
    backend = SlowBackend(open_backend(nets["tiny"]), delay_s=0.25)
    with Deraining(backend_instance=backend) as model:
        report = model.run(video, output=out, live=True)
    stats = report.stats
    written = read_video(out)
    assert cv2.VideoCapture(str(out)).get(cv2.CAP_PROP_FPS) == pytest.approx(10, abs=0.1)
    assert stats["frames_dropped"] > 10 and stats["frames_duplicated"] > 10
    assert abs(len(written) - 40) <= 4, len(written)  # 4 s of video, not frames_out / 10 fps
    assert len(written) == stats["frames_out"] + stats["frames_duplicated"]
    indices = [decode_index(f) for f in written]
    assert indices == sorted(indices) and indices[-1] >= 34  # in order, to the end of the stream


def test_an_outage_is_measured_and_bridged_in_the_recording(nets: dict[str, Path], tmp_path: Path) -> None:
    """A 20 fps camera drops its connection after frame 10 and refuses 3 reconnects (~0.3 s + one read): the
    stats report the outage and the frames it cost; the recording holds the last frame over the gap."""
    source = PacedSource(count=40, interval_s=0.05, fail_at=10, down_for=3)
    out = tmp_path / "rec.avi"
    started = time.monotonic()
    with Deraining(nets["tiny"]) as model:
        report = model.run(source, output=out, reconnect_backoff_s=(0.1, 0.1))
    elapsed = time.monotonic() - started
    stats = report.stats
    assert stats["outages"] == 1 and 0.25 <= stats["outage_s"] <= 1.5, stats
    assert stats["frames_missed_in_outages"] == pytest.approx(stats["outage_s"] * 20, abs=1.5)
    written = read_video(out)
    assert len(written) == stats["frames_out"] + stats["frames_duplicated"]
    assert abs(len(written) - 40 - stats["frames_missed_in_outages"]) <= 6, (len(written), stats)
    assert len(written) / 20 <= elapsed + 0.5


# ---- Ctrl-C: frames in flight are written and counted ----------------------------------------------------------


def test_frames_in_flight_at_an_interrupt_are_written_and_counted(nets: dict[str, Path]) -> None:
    seen: list[int] = []

    def sink(index: int, frame: np.ndarray) -> None:
        seen.append(decode_index(frame))
        if len(seen) == 5:
            _thread.interrupt_main()  # Ctrl-C, while the queues are full

    backend = SlowBackend(open_backend(nets["tiny"]), delay_s=0.02)
    # 400 frames: the simulated Ctrl-C reaches the main thread at its next bytecode, which on a loaded machine can be
    # many frames later; the stream must still be far from its end when it does
    pipeline = StreamPipeline(IterableSource([index_frame(i, 48, 96) for i in range(400)]), FrameProcessor(backend),
                              [CallbackSink(sink)], queue_size=4)
    # Ctrl-C as Python's default SIGINT handler turns it into KeyboardInterrupt: set it for this test, since a
    # handler another test left installed would take the simulated interrupt instead (seen in the full suite)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        report = pipeline.run()
    finally:
        signal.signal(signal.SIGINT, previous)
    backend.close()
    stats = report.stats
    assert report.interrupted and stats["run"]["end_reason"] == "interrupted"
    assert stats["frames_out"] == stats["frames_captured"] == len(seen) > 5
    assert seen == list(range(len(seen))) and len(seen) < 400


def test_ctrl_c_on_a_file_writes_every_frame_it_read(nets: dict[str, Path], tmp_path: Path) -> None:
    distinct = [index_frame(i, 144, 256) for i in range(100)]
    video = write_video(tmp_path / "long.avi", [distinct[i % 100] for i in range(600)], fps=25)
    out, stats_path = tmp_path / "o.avi", tmp_path / "s.json"
    process = subprocess.Popen(
        [*JRGR, "derain", str(video), "--weights", str(nets["tiny"]), "-o", str(out), "--stats", str(stats_path),
         "--no-progress"], stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".o.partial-*.avi")):
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.05)
    time.sleep(0.2)
    assert process.poll() is None, "the file was done before the interrupt"
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    stats = json.loads(stats_path.read_text())
    written = read_video(out)
    assert 0 < len(written) == stats["frames_out"] == stats["frames_captured"] < 600
    assert [decode_index(f) for f in written] == [i % 100 for i in range(len(written))]


# ---- image folders ---------------------------------------------------------------------------------------------


def test_unreadable_images_are_skipped_and_counted_or_stop_with_strict(
    nets: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "frames"
    for i in range(4):
        write_bgr(folder / f"cam_{i}.png", index_frame(i, 40, 96))
    (folder / "cam_1.png").write_bytes(b"")  # zero bytes
    (folder / "cam_2.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)  # a header and nothing else
    out, stats = tmp_path / "out", tmp_path / "s.json"
    code = main(["derain", str(folder), "--weights", str(nets["tiny"]), "-o", str(out), "--stats", str(stats),
                 "--no-progress"])
    assert code == 0
    capsys.readouterr()
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and "skipping" in r.getMessage()]
    assert len(warnings) == 2 and "cam_1.png" in warnings[0] and "cam_2.png" in warnings[1]
    assert sorted(p.name for p in out.iterdir()) == ["cam_0.png", "cam_3.png"]  # the source names
    assert decode_index(cv2.imread(str(out / "cam_3.png"))) == 3
    summary = json.loads(stats.read_text())
    assert summary["frames_skipped"] == 2 and summary["frames_out"] == 2
    assert main(["derain", str(folder), "--weights", str(nets["tiny"]), "-o", str(tmp_path / "strict"), "--strict",
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "cam_1.png' is not a readable image file (--strict: stopping)" in err and "Traceback" not in err


# ---- sizes and the net's output ---------------------------------------------------------------------------------


def test_odd_frame_sizes_are_kept_or_padded_and_said(
    nets: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """641x363 frames: an .avi and an image folder keep the exact size; mp4/mkv codecs need even sizes, so the
    frame is padded to 642x364 (intact in the top-left corner) and a warning says so — never a silent crop."""
    frames = [cv2.resize(index_frame(i), (641, 363), interpolation=cv2.INTER_NEAREST) for i in range(4)]
    folder = tmp_path / "odd"
    for i, frame in enumerate(frames):
        write_bgr(folder / f"{i}.png", frame)
    for name, expected in (("o.avi", (363, 641)), ("o.mp4", (364, 642)), ("o.mkv", (364, 642)),
                           ("frames", (363, 641))):
        out = tmp_path / name
        assert main(["derain", str(folder), "--weights", str(nets["tiny"]), "-o", str(out), "--no-progress"]) == 0
        got = read_video(out) if out.suffix else [cv2.imread(str(p)) for p in sorted(out.iterdir())]
        assert len(got) == 4 and got[0].shape[:2] == expected, name
        original_hw = index_frame(0).shape[:2]  # the index blocks are read at the pattern's own scale
        back = cv2.resize(got[3][:363, :641], original_hw[::-1], interpolation=cv2.INTER_AREA)
        assert decode_index(back) == 3, name
        said = "padded to 642x364" in caplog.text  # the warning, as a log record
        caplog.clear()
        assert said == (expected == (364, 642)), name
    with Deraining(nets["tiny"]) as model:
        direct = model(frames[0])
    errors = {}
    for width in (641, 640):  # MJPEG is lossy: the odd width must cost no more than an even crop of the same frame
        sink = VideoFileSink(tmp_path / f"exact{width}.avi", fps=5)
        sink.write(0, direct[:, :width])
        sink.close()
        back = read_video(tmp_path / f"exact{width}.avi")[0]
        assert back.shape == direct[:, :width].shape
        errors[width] = np.abs(back.astype(int) - direct[:, :width]).mean()
    assert errors[641] < 1.5 * errors[640], errors


@pytest.mark.parametrize(("kind", "message"), [("nan", "returned NaN or inf values"),
                                               ("shrink", "returned shape (1, 3, 88, 152) for an input of shape "
                                                          "(1, 3, 92, 152)")])
def test_a_broken_net_output_is_an_error_not_garbage_frames(
    nets: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, message: str
) -> None:
    video = write_video(tmp_path / "v.avi", [index_frame(i) for i in range(5)])
    out = tmp_path / "o.avi"
    assert main(["derain", str(video), "--weights", str(nets[kind]), "-o", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "frame 0: onnxruntime" in err and message in err and "Traceback" not in err
    assert not out.exists()  # no garbage frame was written


# ---- clean errors ----------------------------------------------------------------------------------------------


def test_bad_output_paths_and_options_are_one_clear_line(
    nets: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video = write_video(tmp_path / "v.avi", [index_frame(i) for i in range(3)])  # 150x90
    a_file = tmp_path / "existing_file"
    a_file.write_text("not a folder")
    cases = [
        (["-o", "/proc/x/out.mp4"], "'/proc/x' cannot be created"),
        (["-o", str(a_file / "sub" / "out.mp4")], f"'{a_file}' is a file, expected a folder"),
        (["-o", str(a_file / "sub")], f"'{a_file}' is a file, expected a folder"),
        (["-o", str(a_file)], f"output folder '{a_file}' cannot be created: '{a_file}' is a file"),
        (["-o", "null", "--stats", str(a_file / "s.json")], f"'{a_file}' is a file, expected a folder"),
        (["-o", "null", "--threads", "0"], "--threads 0: expected an integer from 1 to"),
        (["-o", "null", "--threads", "-1"], "--threads -1: expected an integer from 1 to"),
        (["-o", "null", "--threads", "100000"], "--threads 100000: expected an integer from 1 to"),
        (["-o", "null", "--queue-size", "0"], "--queue-size 0: expected an integer from 1 to"),
        (["-o", "null", "--batch-window", "-5"], "--batch-window -5: expected milliseconds from 0 to 1000"),
        (["-o", "null", "--infer-workers", "0"], "--infer-workers 0: expected auto or an integer from 1 to 16"),
        (["-o", "null", "--infer-workers", "many"], "--infer-workers many: expected auto or an integer from 1"),
        (["-o", "null", "--infer-size", "300x100"], "--infer-size 300x100 is larger than the 150x90 frames"),
    ]
    for arguments, message in cases:
        code = main(["derain", str(video), "--weights", str(nets["tiny"]), "--no-progress", *arguments])
        err = capsys.readouterr().err
        assert code == 2 and message in err and "Traceback" not in err, (arguments, err)
    assert a_file.read_text() == "not a folder"


def test_a_run_that_stops_before_its_first_frame_leaves_no_output_folder(
    nets: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The outputs' folders are checked before the model loads but made at the first frame: weights that do not
    load leave no empty folder (nor the --stats file's) behind; a good run makes them."""
    video = write_video(tmp_path / "v.avi", [index_frame(i) for i in range(3)])
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx file")
    outputs = [["-o", str(tmp_path / "frames" / "new")], ["-o", str(tmp_path / "clips" / "o.avi"),
                                                         "--stats", str(tmp_path / "stats" / "s.json")]]
    for arguments in outputs:
        assert main(["derain", str(video), "--weights", str(broken), "--no-progress", *arguments]) == 2
        err = capsys.readouterr().err
        assert "broken.onnx" in err and "Traceback" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.onnx", "v.avi"]
    for arguments in outputs:
        assert main(["derain", str(video), "--weights", str(nets["tiny"]), "--no-progress", *arguments]) == 0
    assert len(list((tmp_path / "frames" / "new").iterdir())) == 3
    assert (tmp_path / "clips" / "o.avi").is_file() and (tmp_path / "stats" / "s.json").is_file()


def test_export_to_an_existing_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    from tiny_checkpoints import save_tiny_checkpoint

    checkpoint = save_tiny_checkpoint(tmp_path / "tiny.safetensors")
    a_file = tmp_path / "existing_file"
    a_file.write_text("x")
    assert main(["export", "--weights", str(checkpoint), "--nets", "f_r", "--out", str(a_file)]) == 2
    err = capsys.readouterr().err
    assert f"export folder (--out) '{a_file}' cannot be created: '{a_file}' is a file, expected a folder" in err
    assert "Traceback" not in err and a_file.read_text() == "x"


def test_train_into_an_existing_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    a_file = tmp_path / "existing_file"
    a_file.write_text("x")
    assert main(["train", "--out", str(a_file), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"'{a_file}' is a file, expected a folder" in err and "Traceback" not in err


def test_the_cli_sigterm_exit_code_is_143(nets: dict[str, Path], tmp_path: Path) -> None:
    video = write_video(tmp_path / "long.avi", [index_frame(i % 100) for i in range(400)], fps=10)
    out = tmp_path / "o.avi"
    process = subprocess.Popen([*JRGR, "derain", str(video), "--weights", str(nets["tiny"]), "-o", str(out),
                                "--live", "--no-progress"], stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".o.partial-*.avi")):
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    assert "interrupted; output finalised" in err and len(read_video(out)) > 0
