"""The streaming pipeline on real files, real OpenCV and the real ONNX Runtime backend: order and
completeness for files, drop-oldest and bounded latency for live sources, reconnects, clear errors for
broken input, clean shutdown, statistics."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from runtime_fixtures import (
    PacedSource,
    SlowBackend,
    decode_index,
    export_fixture_net,
    index_frame,
    read_video,
    write_video,
)

from jrgr_deploy.errors import JRGRError
from jrgr_deploy.runtime import (
    CallbackSink,
    Deraining,
    ImageFolderSink,
    IterableSource,
    LatencyStats,
    NullSink,
    SourceReadError,
    StreamPipeline,
    VideoFileSink,
    format_table,
    open_backend,
    open_sink,
    open_source,
)
from jrgr_deploy.runtime.pipeline import FrameQueue
from jrgr_deploy.runtime.processing import FrameProcessor
from jrgr_deploy.runtime.sinks import WindowSink, gui_available
from jrgr_deploy.runtime.sources import CameraSource, ImageFilesSource, StreamSource, VideoFileSource
from jrgr_deploy.runtime.stats import FrameTiming, summarise_ms


@pytest.fixture(scope="module")
def f_r(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_fixture_net(tmp_path_factory.mktemp("nets") / "f_r.onnx")


def pipeline_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("jrgr-")]


def test_file_stream_keeps_every_frame_in_order(f_r: Path, tmp_path: Path) -> None:
    frames = [index_frame(i) for i in range(30)]
    video = write_video(tmp_path / "rainy.avi", frames, fps=15)
    out = tmp_path / "derained.mp4"
    with Deraining(f_r) as model:
        report = model.run(video, output=out, queue_size=2)
        direct = [model(frame) for frame in read_video(video)]
    written = read_video(out)
    assert len(written) == 30
    assert [decode_index(f) for f in written] == list(range(30))
    assert written[0].shape == frames[0].shape
    assert cv2.VideoCapture(str(out)).get(cv2.CAP_PROP_FPS) == pytest.approx(15, abs=0.1)
    stats = report.stats
    assert stats["frames_captured"] == stats["frames_out"] == 30 and stats["frames_dropped"] == 0
    assert report.end_reason == "end of stream" and not report.interrupted
    # the same frames as one-by-one inference (mp4v is lossy, so compare before encoding via stream())
    with Deraining(f_r) as model:
        streamed = list(model.stream(video))
    assert len(streamed) == 30
    for (frame_in, frame_out), expected in zip(streamed, direct, strict=True):
        np.testing.assert_array_equal(frame_out, expected)
        assert frame_in.shape == frame_out.shape
    assert not pipeline_threads()


def test_live_source_drops_oldest_and_latency_stays_bounded(f_r: Path) -> None:
    # camera at 200 fps, backend at ~25 fps: without dropping, frame 60 would wait ~2 s
    backend = SlowBackend(open_backend(f_r), delay_s=0.04)
    source = PacedSource(count=60, interval_s=0.005)
    seen: list[int] = []
    pipeline = StreamPipeline(
        source, FrameProcessor(backend), [CallbackSink(lambda i, frame: seen.append(decode_index(frame)))]
    )
    report = pipeline.run()
    backend.close()
    stats = report.stats
    assert stats["frames_captured"] == 60
    assert stats["frames_dropped"] > 20
    assert stats["frames_out"] + stats["frames_dropped"] == 60
    assert stats["frames_out"] == backend.calls == len(seen)
    assert seen == sorted(seen) and len(set(seen)) == len(seen)  # newest-first never reorders
    latency = stats["capture_to_output_ms"]
    # a frame waits for at most the one inference in progress plus its own (2 x 40 ms) + slack
    assert latency["p50"] < 150 and latency["max"] < 400, latency
    assert stats["stages_ms"]["infer"]["p50"] >= 40
    assert not pipeline_threads()


def test_live_source_reconnects_and_the_stream_goes_on(f_r: Path) -> None:
    source = PacedSource(count=20, interval_s=0.01, fail_at=8, down_for=2)
    outputs: list[int] = []
    with Deraining(f_r) as model:
        report = model.run(
            source, output=CallbackSink(lambda i, f: outputs.append(decode_index(f))),
            reconnect_backoff_s=(0.01, 0.05),
        )  # fmt: skip
    stats = report.stats
    assert stats["reconnects"] == 1 and source.opens == 4  # first open + 2 failed attempts + success
    assert stats["frames_captured"] == 20
    assert stats["frames_out"] + stats["frames_dropped"] == 20
    assert max(outputs) == 19 and any(i > 8 for i in outputs)  # frames after the failure came through
    assert source.closes == 2  # the reconnect and the end (failed opens leave nothing to close)


def test_live_source_that_stays_down_ends_with_a_clear_error(f_r: Path) -> None:
    source = PacedSource(count=50, interval_s=0.005, fail_at=5, down_for=10_000)
    with Deraining(f_r) as model:
        with pytest.raises(SourceReadError, match="still failing after 0.3 s.*unplugged"):
            model.run(source, output=NullSink(), reconnect_backoff_s=(0.02, 0.05), reconnect_timeout_s=0.3)
        assert model.last_report is not None and model.last_report.end_reason == "error"
        assert model.last_report.stats["frames_out"] >= 1
    assert not pipeline_threads()


def test_truncated_avi_writes_what_it_read_then_errors(f_r: Path, tmp_path: Path) -> None:
    video = write_video(tmp_path / "full.avi", [index_frame(i) for i in range(30)])
    broken = tmp_path / "truncated.avi"
    broken.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    out = tmp_path / "partial.avi"
    with Deraining(f_r) as model:
        with pytest.raises(JRGRError, match=r"truncated\.avi' ended after \d+ of 30 frames: the file is truncated"):
            model.run(broken, output=out)
        read = model.last_report.stats["frames_out"]
    written = read_video(out)  # finalised and playable despite the error
    assert 0 < len(written) == read < 30
    assert [decode_index(f) for f in written] == list(range(read))


def test_unreadable_inputs_are_clear_errors(f_r: Path, tmp_path: Path) -> None:
    video = write_video(tmp_path / "full.mp4", [index_frame(i) for i in range(10)])
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(video.read_bytes()[: video.stat().st_size // 2])  # the moov atom is at the end
    text = tmp_path / "notes.txt"
    text.write_text("not a video\n" * 50)
    with Deraining(f_r) as model:
        for bad in (cut, text):
            with pytest.raises(JRGRError, match=f"'{bad}' is not a readable video file"):
                model.run(bad, output=NullSink())
        with pytest.raises(JRGRError, match="does not exist"):
            model.run(tmp_path / "nope.mp4", output=NullSink())
    assert not pipeline_threads()


def test_image_folder_in_image_folder_out(f_r: Path, tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(5):
        cv2.imwrite(str(folder / f"img_{i:03d}.png"), index_frame(i, 40, 100))
    (folder / "readme.txt").write_text("ignored")
    out = tmp_path / "out"
    with Deraining(f_r) as model:
        report = model.run(folder, output=out)
        glob_report = model.run(str(folder / "img_00[0-2].png"), output=NullSink())
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"img_{i:03d}.png" for i in range(5)]  # the source names are kept
    assert [decode_index(cv2.imread(str(out / n))) for n in names] == list(range(5))
    assert report.stats["frames_out"] == 5 and glob_report.stats["frames_out"] == 3


def test_open_source_and_open_sink_dispatch(tmp_path: Path) -> None:
    video = write_video(tmp_path / "v.avi", [index_frame(0)] * 2)
    assert isinstance(open_source("0"), CameraSource) and isinstance(open_source(2), CameraSource)
    assert isinstance(open_source("rtsp://10.0.0.2/stream"), StreamSource)
    assert isinstance(open_source("https://example.org/cam.mjpg"), StreamSource)
    file_source = open_source(str(video))
    assert isinstance(file_source, VideoFileSource) and not file_source.live
    assert open_source(video, live=True).live
    assert isinstance(open_source([index_frame(0)]), IterableSource)
    with pytest.raises(JRGRError, match="matches no image files"):
        open_source(str(tmp_path / "*.png"))
    assert isinstance(open_sink(tmp_path / "o.mp4"), VideoFileSink)
    assert isinstance(open_sink(tmp_path / "frames_out"), ImageFolderSink)
    assert isinstance(open_sink("null"), NullSink)
    for bad, message in ((tmp_path / "o.png", "one image file"), (tmp_path / "o.xyz", "unknown suffix")):
        with pytest.raises(JRGRError, match=message):
            open_sink(bad)
    with pytest.raises(JRGRError, match="unsupported suffix '.webm'"):
        open_sink(tmp_path / "o.webm")
    with pytest.raises(JRGRError, match="no image files"):
        ImageFilesSource([], name="empty")


def test_video_sink_refuses_a_size_change(tmp_path: Path) -> None:
    sink = VideoFileSink(tmp_path / "o.avi", fps=10)
    sink.write(0, index_frame(0, 48, 96))
    with pytest.raises(JRGRError, match="frame 1 is 112x48 but the output video"):
        sink.write(1, index_frame(1, 48, 112))
    sink.close()
    assert len(read_video(tmp_path / "o.avi")) == 1


@pytest.mark.skipif(gui_available(), reason="this OpenCV has a GUI")
def test_window_sink_without_gui_is_a_clear_error() -> None:
    with pytest.raises(JRGRError, match="--show needs an OpenCV build with GUI support.*opencv-python"):
        WindowSink()


def test_embedding_iterator_can_stop_early_and_cleans_up(f_r: Path) -> None:
    frames = [index_frame(i, 48, 96) for i in range(40)]
    source = IterableSource(frames)
    with Deraining(f_r) as model:
        got = []
        for frame, result in model.stream(source):
            got.append(decode_index(result))
            assert frame.shape == result.shape
            if len(got) == 3:
                break
    assert got == [0, 1, 2]
    assert not pipeline_threads()
    assert model.last_report is not None and model.last_report.stats["frames_out"] == 3


def test_sink_failure_stops_the_stream_and_is_raised(f_r: Path) -> None:
    def explode(index: int, frame: np.ndarray) -> None:
        if index == 4:
            raise OSError("disk full")

    with Deraining(f_r) as model:
        with pytest.raises(JRGRError, match="write stage failed: OSError: disk full"):
            model.run(IterableSource([index_frame(i, 48, 96) for i in range(200)]), output=CallbackSink(explode))
        assert model.last_report.stats["frames_out"] == 4
    assert not pipeline_threads()


def test_frame_queue_blocks_for_files_and_drops_oldest_for_live() -> None:
    queue = FrameQueue(2)
    stop = threading.Event()
    assert queue.put(1, stop) and queue.put(2, stop)
    stop.set()
    assert not queue.put(3, stop)  # full and stopping: gives up instead of blocking forever
    assert queue.put_drop_oldest(4) == 1
    assert [queue.get(0.01), queue.get(0.01)] == [2, 4]
    assert queue.get(0.01) is None
    queue.close()
    assert queue.get(0.01) is not None and queue.get(0.01) is queue.get(0.01)  # the closed marker


def test_latency_stats_percentiles_and_table() -> None:
    stats = LatencyStats()
    stats.start()
    base = time.perf_counter_ns()
    for i in range(100):
        timing = FrameTiming(i, base + i * 10_000_000, {"capture": 1_000_000, "infer": (i + 1) * 100_000})
        stats.captured(timing)
        stats.record(timing, output_ns=timing.captured_ns + (i + 1) * 1_000_000)
    stats.frames_dropped = 7
    summary = stats.summary(source="synthetic")
    latency = summary["capture_to_output_ms"]
    expected = np.percentile(np.arange(1, 101, dtype=float), [50, 95, 99])
    assert (latency["p50"], latency["p95"], latency["p99"], latency["max"]) == pytest.approx((*expected, 100.0))
    assert summary["stages_ms"]["infer"]["max"] == pytest.approx(10.0)
    assert summary["stages_ms"]["write"]["count"] == 0
    # 100 outputs from first capture (t=0) to last output (t=0.99 s + 100 ms)
    assert summary["throughput_fps"] == pytest.approx(100 / 1.09, rel=1e-3)
    assert summary["frames_dropped"] == 7 and summary["run"] == {"source": "synthetic"}
    infer_s = sum((i + 1) * 1e-4 for i in range(100))
    assert summary["backend_busy_fraction"] == pytest.approx(infer_s / 1.09, abs=1e-4)
    table = format_table(summary)
    assert "capture->output" in table and "infer" in table and "7 dropped" in table
    assert summarise_ms([])["p50"] is None


def test_unreachable_live_sources_fail_at_start_with_a_clear_error(f_r: Path) -> None:
    with Deraining(f_r) as model:
        for spec, message in (
            ("rtsp://127.0.0.1:9/cam", "stream 'rtsp://127.0.0.1:9/cam' cannot be opened"),
            ("http://127.0.0.1:9/cam.mjpg", "cannot be opened"),
        ):
            with pytest.raises(JRGRError, match=message):
                model.run(spec, output=NullSink())
        if not Path("/dev/video7").exists():
            with pytest.raises(JRGRError, match="camera 7 cannot be opened"):
                model.run("7", output=NullSink())
    assert not pipeline_threads()


def test_truncated_file_replayed_live_is_not_reconnected_forever(f_r: Path, tmp_path: Path) -> None:
    video = write_video(tmp_path / "full.avi", [index_frame(i) for i in range(30)], fps=200)
    broken = tmp_path / "truncated.avi"
    broken.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    with Deraining(f_r) as model:
        with pytest.raises(JRGRError, match="truncated or corrupt"):
            model.run(broken, output=NullSink(), live=True)
        assert model.last_report.stats["reconnects"] == 0


def test_latency_stats_memory_is_bounded_for_endless_streams() -> None:
    stats = LatencyStats(window=1000)
    base = time.perf_counter_ns()
    for i in range(5000):
        timing = FrameTiming(i, base + i * 1_000_000, {"infer": 1_000_000})
        stats.captured(timing)
        stats.record(timing, output_ns=timing.captured_ns + (i + 1) * 1000)  # latency grows: i+1 µs
    latencies = stats.latency_ms
    assert len(latencies) == 1000 and list(latencies) == pytest.approx([(i + 1) / 1000 for i in range(4000, 5000)])
    summary = stats.summary()["capture_to_output_ms"]
    assert summary["count"] == 5000 and summary["max"] == pytest.approx(5.0)  # over all frames
    assert summary["mean"] == pytest.approx(2.5005, abs=1e-3)
    assert summary["p50"] == pytest.approx(np.percentile(np.arange(4001, 5001) / 1000, 50), abs=1e-3)  # latest
    assert stats.frames_out == 5000
