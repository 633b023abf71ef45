"""Several cameras through one backend (runtime/multi.py), on real files, a real HTTP MJPEG camera, real OpenCV and
the real ONNX Runtime backend: every file frame kept in order per camera, frames of one size batched into one
call, fair shares under overload, and one camera failing, being unplugged or never connecting while the others
go on."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from runtime_fixtures import (
    MjpegCamera,
    PacedSource,
    SlowBackend,
    decode_index,
    export_fixture_net,
    index_frame,
    read_video,
    write_video,
)

from jrgr_deploy.errors import JRGRError
from jrgr_deploy.runtime import Deraining, Rainifying, open_backend
from jrgr_deploy.runtime.backends.base import physical_core_count
from jrgr_deploy.runtime.multi import MultiStream, infer_stacked

FAST_RECONNECT = {"reconnect_backoff_s": (0.05, 0.2), "reconnect_timeout_s": 1.5}


@pytest.fixture(scope="module")
def f_r(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_fixture_net(tmp_path_factory.mktemp("nets") / "f_r.onnx")


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("videos")
    return {
        "a": write_video(folder / "a.avi", [index_frame(i) for i in range(24)], fps=20),
        "b": write_video(folder / "b.avi", [index_frame(i, seed=7) for i in range(18)], fps=20),
        "small": write_video(folder / "small.avi", [index_frame(i, 48, 96) for i in range(12)], fps=20),
    }


def no_pipeline_threads() -> bool:
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        if not [t for t in threading.enumerate() if t.name.startswith("jrgr-")]:
            return True
        time.sleep(0.05)
    return False


def test_batched_call_equals_single_calls(f_r: Path) -> None:
    rng = np.random.default_rng(0)
    batches = [rng.uniform(-1, 1, (1, 3, 32, 48)).astype(np.float32) for _ in range(3)]
    with open_backend(f_r) as backend:
        stacked = infer_stacked(backend, batches)
        for batch, out in zip(batches, stacked, strict=True):
            np.testing.assert_allclose(out, backend(batch), atol=1e-5)


def test_files_keep_every_frame_in_order_and_share_calls(f_r: Path, videos: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    with Deraining(f_r) as model:
        report = model.run_many([f"front={videos['a']}", f"rear={videos['b']}", str(videos["small"])], out,
                                infer_workers=1)  # one batched call at a time
        singles = {name: [model(frame) for frame in read_video(videos[key])]
                   for name, key in (("front", "a"), ("rear", "b"), ("small", "small"))}  # fmt: skip
    counts = {"front": 24, "rear": 18, "small": 12}
    for name, count in counts.items():
        written = read_video(out / f"{name}.mp4")
        assert [decode_index(frame) for frame in written] == list(range(count)), name
        stats = report.streams[name].stats
        assert stats["frames_captured"] == stats["frames_out"] == count and stats["frames_dropped"] == 0
        assert stats["run"]["camera"] == name and stats["run"]["end_reason"] == "end of stream"
    total = report.total
    assert total["frames_out"] == sum(counts.values()) and total["cameras"] == 3 and not report.errors
    batches = total["batches"]
    assert batches["frames"] == total["frames_out"]
    assert "2" in batches["sizes"]  # front and rear (one size) went through the backend together
    assert batches["mean_size"] > 1 and 0 < total["backend_busy_fraction"] <= 1
    assert "front" in report.table() and "frames per call" in report.table()
    # batched results are the frames' own results (same net, same padding; float sums may differ by one level)
    with Deraining(f_r) as model:
        streamed: dict[str, list[np.ndarray]] = {}
        for name, frame, result in model.stream_many({"front": videos["a"], "rear": videos["b"],
                                                      "small": videos["small"]}):  # fmt: skip
            streamed.setdefault(name, []).append(result)
            assert frame.shape == result.shape
    for name, results in streamed.items():
        assert len(results) == counts[name]
        for got, expected in zip(results, singles[name], strict=True):
            assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1
    assert no_pipeline_threads()


def test_inference_workers_keep_every_file_frame_in_order(f_r: Path, videos: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    with Deraining(f_r, threads=1) as model:
        assert model.backend.concurrent_calls  # ONNX Runtime on the CPU
        report = model.run_many({"front": videos["a"], "rear": videos["b"], "small": videos["small"]}, out,
                                infer_workers=2)  # fmt: skip
        singles = [model(frame) for frame in read_video(videos["a"])]
        streamed = [result for name, _, result in model.stream_many({"front": videos["a"], "rear": videos["b"]},
                                                                    infer_workers=2) if name == "front"]  # fmt: skip
    for name, count in {"front": 24, "rear": 18, "small": 12}.items():
        assert [decode_index(frame) for frame in read_video(out / f"{name}.mp4")] == list(range(count)), name
    # one frame per call, every frame of every camera once
    assert report.total["batches"]["sizes"] == {"1": 54} and not report.errors
    assert report.total["batches"]["workers"] == 2 and 0 < report.total["backend_busy_fraction"] <= 1
    assert "up to 2 calls at once" in report.table()
    assert len(streamed) == 24
    for got, expected in zip(streamed, singles, strict=True):
        assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1
    assert no_pipeline_threads()


@pytest.mark.parametrize("workers", [1, 2])
def test_inference_workers_run_frames_that_arrive_together_at_once(f_r: Path, workers: int) -> None:
    # two live cameras in phase at 5 fps, a backend call of 80 ms + the real inference, one frame per call: with
    # one worker the second frame of each pair waits for the first one's call (capture to output >= 2 calls);
    # with two, both calls run at once and neither frame waits. Bounds are in units of the calls' own measured
    # wall time, so that a loaded machine (slower calls) moves the bound with the latency it measures.
    cameras = {name: PacedSource(count=12, interval_s=0.2, name=name) for name in ("a", "b")}
    slow = SlowBackend(open_backend(f_r, threads=1), delay_s=0.08, concurrent_calls=True)
    with Deraining(backend_instance=slow) as model:
        report = model.run_many(cameras, max_batch=1, infer_workers=workers)
    assert [report.streams[name].stats["frames_out"] for name in cameras] == [12, 12]
    p95_ms = report.total["capture_to_output_ms"]["p95"]  # the frame that went second, with one worker
    call_ms = 1000 * float(np.median(slow.call_s))
    assert slow.most_at_once == workers
    if workers == 1:
        assert p95_ms >= 1.8 * call_ms, (call_ms, report.total)
    else:
        assert p95_ms < 1.5 * call_ms, (call_ms, report.total)


def test_inference_workers_need_a_backend_that_takes_concurrent_calls(f_r: Path) -> None:
    camera = {"a": PacedSource(count=1, interval_s=0.05)}
    with Deraining(backend_instance=SlowBackend(open_backend(f_r), delay_s=0.0)) as model:
        with pytest.raises(JRGRError, match="runs one call at a time: use 1 inference worker, not 2"):
            model.multi_stream(camera, infer_workers=2)
        assert model.multi_stream(camera).infer_workers == 1  # auto: one batched call at a time
    with Deraining(f_r) as model:
        assert model.multi_stream(camera).infer_workers == physical_core_count()  # auto: one call per core
        with pytest.raises(JRGRError, match="infer_workers must be 'auto' or an integer >= 1, got 0"):
            model.multi_stream(camera, infer_workers=0)


@pytest.mark.parametrize("workers", [1, 2])
def test_live_cameras_get_fair_shares_of_an_overloaded_backend(f_r: Path, workers: int) -> None:
    cameras = {f"cam{i}": PacedSource(count=60, interval_s=1 / 30, name=f"cam{i}") for i in range(3)}
    slow = SlowBackend(open_backend(f_r), delay_s=0.02 * workers, concurrent_calls=True)
    with Deraining(backend_instance=slow) as model:
        # one frame per call: the backend serves ~50 frames/s (two calls of 40 ms at once with two workers), the
        # three cameras bring 90
        report = model.run_many(cameras, max_batch=1, infer_workers=workers)
    outs = {name: report.streams[name].stats["frames_out"] for name in cameras}
    assert sum(report.streams[name].stats["frames_dropped"] for name in cameras) > 0
    assert min(outs.values()) >= 0.8 * max(outs.values()), outs
    assert report.total["batches"]["sizes"] == {"1": sum(outs.values())}
    for name in cameras:  # newest frame first: latency stays bounded by a few backend calls, no build-up
        assert report.streams[name].stats["capture_to_output_ms"]["p50"] < 500


def test_a_file_never_starves_a_live_camera(f_r: Path) -> None:
    long_file = [index_frame(i) for i in range(120)]
    order: list[str] = []
    with Deraining(backend_instance=SlowBackend(open_backend(f_r), delay_s=0.03)) as model:
        # one frame per call, the camera faster than the rounds: it has a frame in every round
        for name, _, _ in model.stream_many({"file": long_file, "camera": PacedSource(count=40, interval_s=0.02)},
                                            max_batch=1):  # fmt: skip
            order.append(name)
    assert order.count("file") == 120  # files keep every frame
    while_both_ran = order[: len(order) - order[::-1].index("camera")]
    camera, file = while_both_ran.count("camera"), while_both_ran.count("file")
    assert camera >= 0.8 * file, (camera, file)  # a round serves both, whatever the file has queued


class LateCamera(PacedSource):
    """A paced camera whose frames come `late_s` after those of a camera opened with it."""

    def __init__(self, *args, late_s: float, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.late_s = late_s

    def _open(self) -> None:
        super()._open()
        self._due += self.late_s


@pytest.mark.parametrize("window_ms", [0.0, 30.0])
def test_a_batch_window_gives_cameras_slightly_out_of_phase_one_call(f_r: Path, window_ms: float) -> None:
    # two live cameras at 20 fps, one 10 ms behind the other: without a window each frame has its own call (the
    # fixture net takes about a millisecond); with one, the round waits for the later camera's frame, which is due
    # within the window, once the scheduler has seen each camera's frame period
    cameras = {"early": PacedSource(count=30, interval_s=0.05, name="early"),
               "late": LateCamera(count=30, interval_s=0.05, late_s=0.01, name="late")}
    with Deraining(f_r) as model:
        report = model.run_many(cameras, batch_window_ms=window_ms, infer_workers=1)
    frames_out = [report.streams[name].stats["frames_out"] for name in cameras]
    # live sources: a stall of the shared test machine may drop a frame (newest-frame policy); the test is about pairing
    assert all(28 <= n <= 30 for n in frames_out), frames_out
    sizes = report.total["batches"]["sizes"]
    paired = 2 * sizes.get("2", 0) / sum(frames_out)  # the share of frames that went through a call of two
    if window_ms:
        assert paired >= 0.7, sizes
        # the early camera's frames waited for the late one's: about 10 ms, never the whole window
        assert 8 < report.streams["early"].stats["capture_to_output_ms"]["p50"] < 10 + window_ms, report.streams
    else:
        assert paired <= 0.3, sizes


def test_a_batch_window_must_not_be_negative(f_r: Path) -> None:
    with Deraining(f_r) as model, pytest.raises(JRGRError, match="batch window must be >= 0 ms, got -1"):
        model.multi_stream({"a": PacedSource(count=1, interval_s=0.05)}, batch_window_ms=-1)


def wait_for(multi: MultiStream, predicate, timeout_s: float = 60.0) -> dict:  # noqa: ANN001
    """Poll the run's live status (what the operator view serves) until `predicate` holds."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = {camera["name"]: camera for camera in multi.status()["cameras"]}
        if predicate(status):
            return status
        time.sleep(0.05)
    raise AssertionError(f"not reached in {timeout_s} s: {status}")


def test_one_camera_unplugged_for_good_while_the_others_go_on(f_r: Path, videos: dict[str, Path],
                                                              tmp_path: Path) -> None:  # fmt: skip
    network = MjpegCamera(fps=20).start()
    with Deraining(f_r) as model:
        multi = model.multi_stream({"net": network.url, "a": videos["a"], "b": PacedSource(count=250, interval_s=0.03)},
                                   tmp_path / "out", **FAST_RECONNECT)  # fmt: skip
        runner = threading.Thread(target=multi.run, name="test-multi-run")
        runner.start()
        wait_for(multi, lambda s: s["net"]["frames_out"] >= 5 and s["b"]["frames_out"] >= 5)
        network.kill()  # the network camera goes away mid-run and does not come back
        at_failure = wait_for(multi, lambda s: s["net"]["state"] == "failed")
        runner.join(timeout=60)
    assert not runner.is_alive()
    report = multi.report
    assert report is not None
    killed = report.streams["net"]
    assert killed.end_reason == "error" and "still failing after 1.5 s of reconnect attempts" in killed.errors[0]
    assert killed.stats["frames_out"] >= 5 and killed.stats["outage_s"] >= 1.0
    assert at_failure["b"]["state"] == "live"  # the others went on, during the outage and after the failure
    others = {name: report.streams[name].stats for name in ("a", "b")}
    assert all(s["run"]["end_reason"] == "end of stream" for s in others.values()) and report.errors.keys() == {"net"}
    assert others["a"]["frames_out"] == 24  # a file keeps every frame
    assert others["b"]["frames_out"] > at_failure["b"]["frames_out"] + 10
    b_written = read_video(tmp_path / "out" / "b.mp4")
    assert len(b_written) == others["b"]["frames_out"] + others["b"]["frames_duplicated"]
    assert decode_index(b_written[-1]) >= 240  # to its end
    # finalised, playable, on wall-clock time: the last frame repeated over the outage that ended it
    net_written = read_video(tmp_path / "out" / "net.mp4")
    assert len(net_written) == killed.stats["frames_out"] + killed.stats["frames_duplicated"]
    assert killed.stats["frames_duplicated"] > 0 and killed.stats["outages"] == 1


def test_a_camera_that_comes_back_is_reconnected(f_r: Path) -> None:
    network = MjpegCamera(fps=20).start()
    result: dict[str, object] = {}
    with Deraining(f_r) as model:
        runner = threading.Thread(target=lambda: result.update(report=model.run_many(
            {"net": network.url, "b": PacedSource(count=90, interval_s=0.03)},
            reconnect_backoff_s=(0.05, 0.2), reconnect_timeout_s=20)))  # fmt: skip
        runner.start()
        time.sleep(1.0)
        network.kill()
        time.sleep(0.8)
        network.start()  # plugged in again, same port
        time.sleep(1.0)
        network.kill()  # ... and gone for good: the run ends once camera b ends and net gives up
        runner.join(timeout=60)
    report = result["report"]
    net = report.streams["net"].stats  # type: ignore[attr-defined]
    assert net["reconnects"] >= 1 and net["outage_s"] > 0.3
    assert report.streams["b"].stats["run"]["end_reason"] == "end of stream"  # type: ignore[attr-defined]


def test_a_camera_that_never_connects(f_r: Path, videos: dict[str, Path], caplog: pytest.LogCaptureFixture) -> None:
    unplugged = MjpegCamera(fps=20)  # never started: its port refuses connections
    unplugged.start()
    url = unplugged.url.replace("127.0.0.1", "admin:hunter2@127.0.0.1")
    unplugged.kill()
    with Deraining(f_r) as model:
        report = model.run_many({"gone": url, "file": videos["a"]}, **FAST_RECONNECT)
        assert report.streams["file"].stats["frames_out"] == 24  # the others ran
        gone = report.streams["gone"]
        assert gone.end_reason == "error" and "never connected" in gone.errors[0]
        assert "hunter2" not in " ".join(gone.errors) + str(gone.stats) + caplog.text
        assert "cannot be opened" in caplog.text and "retrying in the background" in caplog.text
        # nothing at all could be opened: the run cannot start
        with pytest.raises(JRGRError, match=r"camera 'gone': stream 'http://\*\*\*@127.0.0.1:\d+/camera.mjpg' cannot"):
            model.run_many({"gone": url})
        with pytest.raises(JRGRError, match=r"camera 'broken': .*not a readable video file"):
            broken = videos["a"].with_name("broken.avi")
            broken.write_bytes(b"not a video")
            model.run_many({"broken": broken, "file": videos["b"]})
    assert no_pipeline_threads()


def test_fixed_batch_models_get_one_frame_per_call(tmp_path: Path, videos: dict[str, Path]) -> None:
    fixed = export_fixture_net(tmp_path / "fixed.onnx", fixed_shape=(96, 160))
    with Deraining(fixed) as model:
        assert model.backend.input_contract.max_batch == 1
        report = model.run_many({"a": videos["a"], "b": videos["b"]})
    assert report.total["batches"]["sizes"] == {"1": 42} and report.total["frames_out"] == 42


def test_rainify_runs_per_camera_state(tmp_path: Path, videos: dict[str, Path]) -> None:
    g_r = export_fixture_net(tmp_path / "g_r.onnx", kind="identity", net="g_r")
    with Rainifying(g_r, preset="light") as model:
        assert model.stream_processor() is not model.stream_processor()  # each camera its own rain
        report = model.run_many({"a": videos["a"], "small": videos["small"]}, tmp_path / "rainy")
    assert len(read_video(tmp_path / "rainy" / "a.mp4")) == 24
    assert read_video(tmp_path / "rainy" / "small.mp4")[0].shape == (48, 96, 3)
    assert report.total["frames_out"] == 36


def test_temporal_filter_runs_per_camera(f_r: Path, videos: dict[str, Path], tmp_path: Path) -> None:
    with Deraining(f_r, temporal=True) as model:
        first, second = model.stream_processor(), model.stream_processor()
        assert first.temporal is not second.temporal and first.temporal is not model.temporal  # type: ignore[attr-defined]
        assert first.temporal.settings == model.temporal.settings  # type: ignore[attr-defined, union-attr]
        report = model.run_many({"a": videos["a"], "b": videos["b"]}, tmp_path / "out")
    assert report.streams["a"].stats["frames_out"] == 24 and report.streams["b"].stats["frames_out"] == 18
    assert report.streams["a"].stats["stages_ms"]["temporal"]["count"] == 24  # the stabiliser ran on every frame


def test_no_camera_writes_onto_any_cameras_input(f_r: Path, videos: dict[str, Path], tmp_path: Path) -> None:
    a_copy = write_video(tmp_path / "a.avi", [index_frame(i) for i in range(4)], fps=20)
    b_copy = write_video(tmp_path / "b.avi", [index_frame(i) for i in range(4)], fps=20)
    before = b_copy.read_bytes()
    with Deraining(f_r) as model, pytest.raises(JRGRError, match="is the input"):
        # {name} makes camera b's output b.avi: its own input, refused before any camera starts
        model.multi_stream({"a": a_copy, "b": b_copy}, str(tmp_path / "{name}.avi"))
    assert b_copy.read_bytes() == before
    with Deraining(f_r) as model, pytest.raises(JRGRError, match="is the input"):
        model.multi_stream({"a": videos["a"], "b": b_copy}, str(tmp_path / "{name}.avi"))  # b's output is b's input
    assert b_copy.read_bytes() == before


@pytest.mark.parametrize("workers", [1, 2])
def test_a_stop_request_writes_every_captured_frame(f_r: Path, videos: dict[str, Path], tmp_path: Path,
                                                    workers: int) -> None:  # fmt: skip
    long = write_video(tmp_path / "long.avi", [index_frame(i) for i in range(400)], fps=20)
    with Deraining(f_r) as model:
        multi = model.multi_stream({"x": long, "y": videos["a"]}, tmp_path / "out", queue_size=8,
                                   infer_workers=workers)  # fmt: skip
        runner = threading.Thread(target=multi.run, name="test-multi-run")
        runner.start()
        wait_for(multi, lambda s: s["x"]["frames_out"] >= 5)
        multi.request_stop()  # what SIGINT/SIGTERM call in `jrgr derain A B`
        runner.join(timeout=60)
    assert not runner.is_alive() and multi.report is not None and multi.report.interrupted
    x = multi.report.streams["x"].stats
    assert x["run"]["end_reason"] == "interrupted" and x["frames_out"] == x["frames_captured"] < 400
    written = read_video(tmp_path / "out" / "x.mp4")  # finalised: every captured frame, in order
    assert [decode_index(frame) for frame in written] == list(range(x["frames_out"]))
    assert no_pipeline_threads()


def test_a_net_output_of_nan_ends_the_camera_without_writing_it(tmp_path: Path, videos: dict[str, Path]) -> None:
    nan_net = export_fixture_net(tmp_path / "nan.onnx", kind="nan")
    with Deraining(nan_net) as model:
        report = model.run_many({"a": videos["a"], "b": videos["b"]}, tmp_path / "out")
    assert report.errors.keys() == {"a", "b"}
    assert all("returned NaN or inf values" in report.errors[name][0] for name in ("a", "b"))
    assert all(report.streams[name].stats["frames_out"] == 0 for name in ("a", "b"))
    assert not list((tmp_path / "out").glob("*.mp4"))  # no garbage frame was written, no empty file left
