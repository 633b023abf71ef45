"""Several cameras through one backend: one scheduler batches the frames of every stream into one call.

    per camera   capture thread   its StreamPipeline's: read, stamp, drop-oldest for live sources, reconnect
    scheduler    caller's thread  rounds: each takes at most one frame from every camera (in rotating order)
                                  whose writer has room, preprocesses live frames, and sends frames of one
                                  size to the backend in one batched call (the nets have a dynamic batch axis)
    inference    infer_workers    with one worker the scheduler makes the call itself; with several (a
                                  backend that takes concurrent calls: ONNX Runtime on the CPU, where "auto"
                                  gives one per physical core) every idle worker gets a frame of its own,
                                  and the scheduler takes the next frames while the calls run
    per camera   writer thread    postprocess, the camera's sinks, its statistics

One backend, one copy of the net. Fairness: a round holds at most one frame per camera, so
no stream can starve the others; live cameras keep only their newest frame (the drops are counted per camera);
files keep every frame (their bounded queues block their own capture thread, nobody else's). A camera whose
writer is still busy is skipped in that round rather than waited for.

A camera failing never stops the others: a live source that cannot be opened at the start is retried in the
background (with the pipeline's back-off, for its `reconnect_timeout_s`) while the others run; a live source
that drops is reconnected; a file that ends, a truncated file, a sink that fails or a frame the backend
refuses ends that camera only (its output is finalised at once). The run cannot start (JRGRError) when a file
cannot be opened, or when no camera at all could be opened.

Each camera keeps its own `StreamPipeline` statistics (and its own processor, so per-stream state such as a
rain sequence never mixes cameras); `MultiReport` has them per camera plus a total and the batches.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from jrgr_deploy.errors import JRGRError
from jrgr_deploy.names import BATCH_WINDOW_MS, INFER_WORKERS
from jrgr_deploy.output_files import ensure_parent, write_text_atomic
from jrgr_deploy.redaction import redact, redact_data
from jrgr_deploy.runtime.backends.base import Backend, physical_core_count
from jrgr_deploy.runtime.pipeline import CLOSED, FrameQueue, StreamPipeline, StreamReport
from jrgr_deploy.runtime.processing import check_net_output
from jrgr_deploy.runtime.sources import SourceReadError
from jrgr_deploy.runtime.stats import STATS_FORMAT_VERSION, Window, format_camera_table, now_ns, summarise_ms

if TYPE_CHECKING:
    from jrgr_deploy.runtime.pipeline import _Item

logger = logging.getLogger(__name__)

CONNECTING, RUNNING, FINISHING, FINISHED = "connecting", "running", "finishing", "finished"
ARRIVAL_HISTORY = 9  # capture times kept per live camera to tell its frame period
DUE_SLACK_NS = 2_000_000  # a due frame's capture, stamping and queueing


def infer_worker_count(requested: int | str, backend: Backend) -> int:
    """How many backend calls may run at once: `requested`, or for "auto" the physical cores when the backend
    takes concurrent calls (on the CPU a call of n frames costs about n calls of one, so frames that arrive
    together come out soonest one per core at once) and 1 when it does not (a GPU: one batched call)."""
    if requested == "auto":
        return physical_core_count() if backend.concurrent_calls else 1
    if not isinstance(requested, int) or requested < 1:
        raise JRGRError(f"infer_workers must be 'auto' or an integer >= 1, got {requested!r}")
    if requested > 1 and not backend.concurrent_calls:
        raise JRGRError(f"the {backend.name} backend runs one call at a time: use 1 inference worker, not {requested}")
    return requested


def infer_stacked(backend: Backend, batches: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Run (1, 3, H, W) batches of one size in one backend call; returns each one's (1, 3, H, W) output."""
    if len(batches) == 1:
        return [backend(batches[0])]
    out = backend(np.concatenate(batches, axis=0))
    return [out[i : i + 1] for i in range(len(batches))]


class _Camera:
    """One camera of the run: its pipeline, where it is (connecting/running/finishing/finished), its threads."""

    def __init__(self, name: str, pipeline: StreamPipeline) -> None:
        self.name = name
        self.pipeline = pipeline
        self.state = CONNECTING
        self.in_queue: FrameQueue | None = None
        self.out_queue: FrameQueue | None = None
        self.capture: threading.Thread | None = None
        self.writer: threading.Thread | None = None
        self.live = bool(pipeline.source.live)
        self.starter: threading.Thread | None = None
        self.finisher: threading.Thread | None = None
        self.report: StreamReport | None = None
        self.connect_error: str | None = None  # why it is not connected yet (shown while connecting)
        # capture times of the last frames the scheduler took (live cameras, with a batch window)
        self.captured_ns: deque[int] = deque(maxlen=ARRIVAL_HISTORY)
        self.served = 0  # when the scheduler last took its frame (a count of frames taken; 0: never)

    def next_frame_ns(self) -> int | None:
        """When this live camera's next frame is due: its last frame's capture time plus its frame period (the
        median gap between the frames taken lately: a dropped frame doubles one gap, not the median); None before
        it has a period."""
        if len(self.captured_ns) < 3:
            return None
        gaps = np.diff(self.captured_ns)
        return self.captured_ns[-1] + int(np.median(gaps))

    def view_state(self) -> str:
        """What the operator sees: connecting, live, down (reconnecting), ended, failed."""
        if self.state == CONNECTING:
            return "connecting"
        if self.state == RUNNING:
            return "down" if self.pipeline.stats.down_since_ns is not None else "live"
        report = self.report
        if report is not None and report.errors:
            return "failed"
        return "ended" if self.state == FINISHED else "live"


@dataclass
class MultiReport:
    """How a multi-camera run ended: each camera's `StreamReport`, the total, the batches."""

    streams: dict[str, StreamReport]
    total: dict[str, Any]
    run: dict[str, Any]
    interrupted: bool = False
    errors: dict[str, list[str]] = field(default_factory=dict)

    @property
    def stats(self) -> dict[str, Any]:
        """The --stats document: `run`, `total`, and `streams` (name -> one camera's statistics, as for one
        source)."""
        return {
            "format_version": STATS_FORMAT_VERSION,
            "run": self.run,
            "total": self.total,
            "streams": {name: report.stats for name, report in self.streams.items()},
        }

    def table(self) -> str:
        return format_camera_table(self.stats)

    def write_json(self, path: str | Path) -> Path:
        """Write `stats` as JSON (the --stats file; credentials redacted), atomically."""
        path = ensure_parent(path, "statistics file")
        return write_text_atomic(path, json.dumps(redact_data(self.stats), indent=2) + "\n")


class MultiStream:
    """Run several `StreamPipeline`s (one per camera, all on processors of `backend`) with one scheduler.

    pipelines: camera name -> its pipeline (source, its own processor on `backend`, its sinks). max_batch: the
    most frames per backend call (None: the backend's limit, else every camera at once). batch_window_ms: how
    long a round may wait for live cameras whose next frame is due within it (0: never wait; see `_fill_round`).
    infer_workers: backend calls that may run at once (1: the scheduler makes each call itself; more: see
    `_dispatch`, needs a backend with `concurrent_calls`; "auto": `infer_worker_count`). progress: one tqdm bar
    for all cameras. run_info: metadata for the total.
    """

    def __init__(
        self,
        pipelines: Mapping[str, StreamPipeline],
        backend: Backend,
        *,
        max_batch: int | None = None,
        batch_window_ms: float = BATCH_WINDOW_MS,
        infer_workers: int | str = INFER_WORKERS,
        progress: bool = False,
        progress_label: str = "frames",
        run_info: dict[str, Any] | None = None,
    ) -> None:
        if not pipelines:
            raise JRGRError("a multi-camera run needs at least one camera")
        if max_batch is not None and max_batch < 1:
            raise JRGRError(f"max_batch must be >= 1, got {max_batch}")
        if not batch_window_ms >= 0:
            raise JRGRError(f"batch window must be >= 0 ms, got {batch_window_ms}")
        self.batch_window_ns = int(batch_window_ms * 1e6)
        self.infer_workers = infer_worker_count(infer_workers, backend)
        limits = [limit for limit in (max_batch, backend.input_contract.max_batch) if limit is not None]
        self.max_batch = min(limits) if limits else None
        self.backend = backend
        self.cameras = [_Camera(name, pipeline) for name, pipeline in pipelines.items()]
        self.progress = progress
        self.progress_label = progress_label
        self.run_info = dict(run_info or {})
        self.report: MultiReport | None = None
        self._wakeup = threading.Event()
        self._lock = threading.Lock()
        self._stopping = False
        self._stop_requested = threading.Event()
        self._rotation = 0
        self._served = 0  # frames taken so far (`_Camera.served`)
        self._calls = Window(100_000)  # backend call times (ms)
        self._call_frames = 0
        self._batch_sizes: dict[int, int] = {}
        self._started_ns: int | None = None
        self._calls_lock = threading.Lock()  # the workers' call statistics
        self._pool: ThreadPoolExecutor | None = None
        self._pending: dict[Future[None], list[tuple[_Camera, _Item]]] = {}  # calls running on the workers
        self._bar: Any = None
        self._bar_updated = 0.0

    # -- starting ----------------------------------------------------------------------------------
    def _open_all(self) -> dict[str, JRGRError]:
        """Open every source at once (a network camera may take its whole timeout). Raises when the run cannot
        start: a source that does not reconnect (a file) failed, or every one did."""
        errors: dict[str, JRGRError] = {}

        def attempt(camera: _Camera) -> None:
            try:
                camera.pipeline.source.open()
            except JRGRError as error:
                errors[camera.name] = error
            except Exception as error:  # noqa: BLE001 - a capture library's own exception, reported by name
                errors[camera.name] = JRGRError(f"{type(error).__name__}: {error}")

        threads = [threading.Thread(target=attempt, args=(c,), name=f"jrgr-open-{c.name}", daemon=True)
                   for c in self.cameras]  # fmt: skip
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        fatal = [c for c in self.cameras if c.name in errors and not c.pipeline.source.reconnectable]
        if fatal or len(errors) == len(self.cameras):
            for camera in self.cameras:
                camera.pipeline.source.close()
                camera.pipeline._close_sinks()
            failed = fatal or self.cameras
            lines = [f"camera '{c.name}': {redact(str(errors[c.name]))}" for c in failed]
            prefix = "no camera could be opened: " if not fatal and len(failed) > 1 else ""
            raise JRGRError(prefix + "; ".join(lines))
        return errors

    def _launch(self, camera: _Camera, writer: bool) -> None:
        """Start an open camera's capture (and writer) thread; under `_lock`, never after the stop."""
        pipeline = camera.pipeline
        in_queue, capture, live = pipeline._start(self._wakeup)
        out_queue, writer_thread = pipeline._writer(live, self._wakeup)
        if writer:
            writer_thread.start()
        camera.in_queue, camera.capture, camera.out_queue, camera.writer = in_queue, capture, out_queue, writer_thread
        camera.live = live
        camera.state = RUNNING
        camera.connect_error = None
        self._wakeup.set()

    def _fail(self, camera: _Camera, error: BaseException | None, reason: str = "") -> None:
        """A camera that never started: close what it holds, report why."""
        pipeline = camera.pipeline
        if error is not None:
            pipeline._errors.append(("connect", error))
        if reason:
            pipeline._end_reason = reason
        pipeline._close_sinks()
        pipeline.source.close()
        camera.report = pipeline._finish(camera.live, interrupted=False)
        camera.state = FINISHED
        self._wakeup.set()

    def _keep_connecting(self, camera: _Camera, error: JRGRError, writer: bool) -> None:
        """Retry a live source that could not be opened at the start, with the pipeline's back-off."""
        began = now_ns()
        pipeline = camera.pipeline
        camera.connect_error = redact(str(error))
        try:
            connected = pipeline._reconnect(SourceReadError(f"camera '{camera.name}': {camera.connect_error}"))
        except SourceReadError as final:
            logger.error("camera '%s' never connected: %s", camera.name, final)
            self._fail(camera, JRGRError(f"never connected: {final}"))
            return
        except BaseException as failure:  # noqa: BLE001 - ends this camera only
            self._fail(camera, failure)
            return
        with self._lock:
            if connected and not self._stopping:
                try:
                    self._launch(camera, writer)
                except BaseException as failure:  # noqa: BLE001 - ends this camera only
                    self._fail(camera, failure)
                    return
                # the time it spent unreachable before the start is an outage of this camera too
                camera.pipeline.stats.outage_begin(began)
                camera.pipeline.stats.outage_end(now_ns(), camera.pipeline.source.fps)
                logger.info("camera '%s' connected", camera.name)
                return
        self._fail(camera, None, reason="stopped before it connected")

    def _start_all(self, writer: bool) -> None:
        self._reset()
        if self.infer_workers > 1:
            self._pool = ThreadPoolExecutor(self.infer_workers, thread_name_prefix="jrgr-infer")
        errors = self._open_all()
        self._started_ns = now_ns()
        for camera in self.cameras:
            error = errors.get(camera.name)
            if error is None:
                with self._lock:
                    try:
                        self._launch(camera, writer)
                    except BaseException as failure:  # noqa: BLE001 - ends this camera only
                        logger.error("camera '%s' cannot start: %s", camera.name, failure)
                        self._fail(camera, failure)
                continue
            logger.warning(
                "camera '%s' cannot be opened: %s; retrying in the background for %g s while the others run",
                camera.name, redact(str(error)), camera.pipeline.reconnect_timeout_s,
            )  # fmt: skip
            camera.starter = threading.Thread(
                target=self._keep_connecting, args=(camera, error, writer), name=f"jrgr-connect-{camera.name}",
                daemon=True,
            )  # fmt: skip
            camera.starter.start()

    def _reset(self) -> None:
        self._stopping = False
        self._stop_requested.clear()
        self._rotation = 0
        self._served = 0
        self._calls = Window(100_000)
        self._call_frames = 0
        self._batch_sizes = {}
        self.report = None
        for camera in self.cameras:
            camera.served = 0
            camera.state = CONNECTING
            camera.report = None
            camera.starter = camera.finisher = None
            camera.pipeline._stop.clear()

    # -- scheduling --------------------------------------------------------------------------------
    def _retire(self, camera: _Camera, interrupted: bool = False) -> None:
        """The camera's stream ended (or is stopped): finish its frames and close its sinks, in the background."""
        camera.state = FINISHING
        assert camera.in_queue and camera.out_queue and camera.capture and camera.writer

        def finish() -> None:
            pipeline = camera.pipeline
            camera.report = pipeline._wind_down(
                camera.capture, camera.in_queue, camera.out_queue, camera.writer, camera.live,
                interrupted or pipeline._interrupted,
            )  # type: ignore[arg-type]
            camera.state = FINISHED
            if camera.report.errors:
                logger.error("camera '%s' stopped: %s", camera.name, "; ".join(camera.report.errors))
            else:
                logger.info("camera '%s': %s", camera.name, camera.report.end_reason)
            self._wakeup.set()

        camera.finisher = threading.Thread(target=finish, name=f"jrgr-finish-{camera.name}", daemon=True)
        camera.finisher.start()

    def _take_round(self, exclude: Sequence[_Camera] = (), most: int | None = None) -> list[tuple[_Camera, _Item]]:
        """At most one frame from every running camera (but `exclude`) whose writer has room, in rotating order;
        at most `most` frames. A round limited by `most` looks at the cameras served longest ago first (a camera
        passed over because its frame was still in a call, or had not come, is first in line next time)."""
        count = len(self.cameras)
        first = self._rotation % count
        self._rotation += 1
        order = [self.cameras[(first + offset) % count] for offset in range(count)]
        if most is not None:
            order.sort(key=lambda c: c.served)  # stable: ties keep the rotation
        taken: list[tuple[_Camera, _Item]] = []
        for camera in order:
            if most is not None and len(taken) >= most:
                break
            if camera.state != RUNNING or camera in exclude:
                continue
            pipeline = camera.pipeline
            assert camera.in_queue is not None and camera.out_queue is not None
            if pipeline._abort.is_set():  # its writer failed, a sink ended the stream, or its frame was refused
                self._retire(camera)
                continue
            if self._stop_requested.is_set() and not pipeline._stop.is_set():  # connected as the stop came
                pipeline.request_stop()
            if not camera.out_queue.has_room():
                continue
            item = camera.in_queue.get(0)
            if item is CLOSED:  # capture ended: end of file, or its error
                self._retire(camera)
                continue
            if item is None:
                continue
            try:
                pipeline._prepare(item)
            except Exception as error:  # noqa: BLE001 - ends this camera only
                self._end_camera(camera, "infer", error)
                continue
            if camera.live and self.batch_window_ns:  # only `_fill_round` reads the arrivals
                camera.captured_ns.append(item.timing.captured_ns)
            taken.append((camera, item))
            self._served += 1
            camera.served = self._served
        return taken

    def _fill_round(self, taken: list[tuple[_Camera, _Item]], busy: Sequence[_Camera] = ()
                    ) -> list[tuple[_Camera, _Item]]:
        """Wait for the live cameras of no frame in `taken` whose next frame is due within `batch_window_ns` of
        now, and add their frames (the round's frames then go through the backend in one call).

        Cameras started together keep their phase: frames of several cameras arrive within a few ms of each other,
        and a frame that arrives while a call is running waits for it and then has a call of its own. Waiting a
        few ms for the frames that are due instead (nvstreammux's batched-push timeout, with the due time told by
        each camera's own frame period) gives one call for all of them: fewer, fuller calls, and no frame waits
        behind a call it was not in. A camera with no frame due within the window is not waited for. On the CPU
        this did not pay (a call of four frames costs about four of one: `names.BATCH_WINDOW_MS`), so it is off
        unless asked for."""
        deadline = now_ns() + self.batch_window_ns
        late: list[_Camera] = []  # due cameras whose frame did not come: not waited for again in this round
        while True:
            have = [camera for camera, _ in taken] + list(busy)
            due = {camera: t for camera in self.cameras
                   if camera.state == RUNNING and camera.live and camera not in have and camera not in late
                   and (t := camera.next_frame_ns()) is not None and t <= deadline}
            if not due:
                return taken
            self._wakeup.clear()  # before looking: a frame queued after the look wakes the wait below
            more = self._take_round(exclude=have)
            if more:
                taken += more
                continue
            now = now_ns()
            until = min(min(due.values()) + DUE_SLACK_NS, deadline)
            if now >= until:
                if now >= deadline:
                    return taken
                late += [camera for camera, t in due.items() if t + DUE_SLACK_NS <= now]
                continue
            self._wakeup.wait((until - now) / 1e9)

    @staticmethod
    def _end_camera(camera: _Camera, stage: str, error: BaseException) -> None:
        """A failure of one camera (its frame, its sink): it stops now; the scheduler retires it."""
        camera.pipeline._errors.append((stage, error))
        camera.pipeline._stop.set()
        camera.pipeline._abort.set()

    def _infer_chunk(self, chunk: list[tuple[_Camera, _Item]]) -> None:
        start = now_ns()
        try:
            outputs = infer_stacked(self.backend, [item.prepared.batch for _, item in chunk])  # type: ignore[union-attr]
        except Exception as error:  # noqa: BLE001 - find whose frame it was; that camera ends
            if len(chunk) > 1:
                for member in chunk:
                    self._infer_chunk([member])
                return
            self._end_camera(chunk[0][0], "infer", error)
            return
        end = now_ns()
        with self._calls_lock:
            self._calls.append((end - start) / 1e6)
            self._call_frames += len(chunk)
            self._batch_sizes[len(chunk)] = self._batch_sizes.get(len(chunk), 0) + 1
        for (camera, item), output in zip(chunk, outputs, strict=True):
            assert item.prepared is not None
            try:  # the same per-frame check as one camera's (`NetProcessor.infer`)
                check_net_output(output, item.prepared.batch, self.backend, item.prepared.index)
            except JRGRError as error:
                self._end_camera(camera, "infer", error)
                continue
            item.output = output
            item.timing.add("infer", start, end)

    def _calls_of(self, taken: list[tuple[_Camera, _Item]], parts: int = 1) -> list[list[tuple[_Camera, _Item]]]:
        """The backend calls of a round: frames of one net-input size together, split evenly into at least `parts`
        calls (as many as there are frames at most) of at most `max_batch` frames each."""
        groups: dict[tuple[int, ...], list[tuple[_Camera, _Item]]] = {}
        for camera, item in taken:
            assert item.prepared is not None
            groups.setdefault(tuple(item.prepared.batch.shape[1:]), []).append((camera, item))
        calls = []
        for members in groups.values():
            count = min(parts, len(members))
            if self.max_batch:
                count = max(count, -(-len(members) // self.max_batch))
            calls += [members[first::count] for first in range(count)]
        return calls

    def _infer_round(self, taken: list[tuple[_Camera, _Item]]) -> None:
        """Frames of one net-input size go through the backend together, at most `max_batch` per call."""
        for chunk in self._calls_of(taken):
            self._infer_chunk(chunk)

    def _rounds(self) -> Iterator[list[tuple[_Camera, _Item]]]:
        """Inferred rounds until every camera has finished (frames whose inference failed are left out)."""
        if self._pool is not None:
            yield from self._worker_rounds()
            return
        while any(c.state in (CONNECTING, RUNNING) for c in self.cameras):
            self._wakeup.clear()
            taken = self._take_round()
            if not taken:
                self._wakeup.wait(0.1)
                continue
            if self.batch_window_ns:
                taken = self._fill_round(taken)
            self._infer_round(taken)
            done = [(camera, item) for camera, item in taken if item.output is not None]
            self._update_bar(len(done))
            yield done

    def _worker_rounds(self) -> Iterator[list[tuple[_Camera, _Item]]]:
        """`_rounds` with several inference workers: the frames of each finished call as it finishes, while the
        scheduler keeps every idle worker busy (`_dispatch`)."""
        while self._pending or any(c.state in (CONNECTING, RUNNING) for c in self.cameras):
            self._wakeup.clear()  # before looking: a frame queued or a call finished after the look wakes the wait
            finished = [future for future in self._pending if future.done()]
            for future in finished:
                chunk = self._pending.pop(future)
                future.result()  # `_infer_chunk` keeps a failure to the camera whose frame it was
                done = [(camera, item) for camera, item in chunk if item.output is not None]
                self._update_bar(len(done))
                yield done
            idle = self.infer_workers - len(self._pending)
            if idle and self._dispatch(idle):
                continue
            if not finished:
                self._wakeup.wait(0.1)

    def _dispatch(self, idle: int) -> bool:
        """Give the `idle` workers the frames that are ready (of the cameras with no frame in a call, so that a
        camera's frames stay in order), split evenly among them. Without a batch window a round takes one frame
        per idle worker: on the CPU a call of n frames costs about n calls of one on one thread each
        (BENCHMARKS.md, "Cameras"), so frames that arrive together are fastest through one per core at once,
        and the next frame goes to the first worker that comes free instead of waiting behind a whole batch.
        With a window, the round waits for the due cameras (`_fill_round`) and its frames are split among the
        idle workers. False when no frame was ready."""
        assert self._pool is not None
        busy = [camera for chunk in self._pending.values() for camera, _ in chunk]
        if self.batch_window_ns:
            taken = self._take_round(exclude=busy)
            taken = self._fill_round(taken, busy) if taken else taken
        else:
            taken = self._take_round(exclude=busy, most=idle)
        for chunk in self._calls_of(taken, parts=idle):
            future = self._pool.submit(self._infer_chunk, chunk)
            self._pending[future] = chunk
            future.add_done_callback(lambda _: self._wakeup.set())
        return bool(taken)

    def request_stop(self, *_: object) -> None:
        """End the run (a signal handler, another thread, a service's shutdown): every camera stops capturing,
        the frames it already captured are still processed and written, its outputs are closed; `run()` then
        returns an `interrupted` report. Cameras still connecting give up. Safe from a signal handler."""
        self._stopping = True  # no camera starts after this (no lock: a signal handler must not wait)
        self._stop_requested.set()
        for camera in self.cameras:
            camera.pipeline.request_stop()
        self._wakeup.set()

    def _abort(self) -> None:
        """A second Ctrl-C: every camera stops now, without its captured frames."""
        for camera in self.cameras:
            camera.pipeline._abort.set()

    def _shutdown(self, interrupted: bool) -> None:
        with self._lock:
            self._stopping = True
        if self._pool is not None:  # after an abort calls may still run: they end first, their frames unwritten
            self._pool.shutdown(wait=True)
            self._pool = None
            self._pending = {}
        for camera in self.cameras:
            if camera.state == CONNECTING:
                camera.pipeline._stop.set()  # its reconnect loop gives up at its next wait
            elif camera.state == RUNNING:
                self._retire(camera, interrupted)
        for camera in self.cameras:
            for thread in (camera.starter, camera.finisher):
                if thread is not None:
                    thread.join(timeout=30.0)
            if camera.report is None:  # a connect attempt stuck in the capture library
                self._fail(camera, None, reason="stopped before it connected")
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        self.report = self._build_report(interrupted or self._stop_requested.is_set())

    # -- driving -----------------------------------------------------------------------------------
    def run(self) -> MultiReport:
        """Run every camera to its end (files) or until Ctrl-C (cameras); returns the report. Raises JRGRError
        before anything runs when the run cannot start."""
        self._start_all(writer=True)
        interrupted = False
        try:
            self._open_bar()
            while True:
                try:
                    for done in self._rounds():
                        for camera, item in done:
                            assert camera.out_queue is not None
                            camera.out_queue.put(item, camera.pipeline._abort)  # has room: checked in the round
                    break
                except KeyboardInterrupt:
                    if self._stop_requested.is_set():  # the second one: abort
                        interrupted = True
                        self._abort()
                        break
                    logger.warning("interrupted: finishing the frames already captured on every camera "
                                   "(Ctrl-C again to abort)")  # fmt: skip
                    self.request_stop()
        finally:
            self._shutdown(interrupted)
        assert self.report is not None
        return self.report

    def results(self) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        """(camera name, input frame, output frame) in the caller's thread, as they come out (embedding); the
        cameras' sinks are written too. Closing the generator early stops every camera."""
        self._start_all(writer=False)
        interrupted = False
        try:
            for done in self._rounds():
                for camera, item in done:
                    pipeline = camera.pipeline
                    try:
                        result = pipeline._postprocess(item)
                        pipeline._emit(item, result, write=bool(pipeline.sinks))
                    except Exception as error:  # noqa: BLE001 - a sink failing ends that camera only
                        self._end_camera(camera, "write", error)
                        continue
                    yield camera.name, item.frame, result
        except KeyboardInterrupt:
            interrupted = True
            raise
        finally:
            self._shutdown(interrupted)

    # -- reporting ---------------------------------------------------------------------------------
    def _open_bar(self) -> None:
        if not self.progress:
            return
        from tqdm import tqdm

        counts = [c.pipeline.source.frame_count for c in self.cameras]
        total = None if any(c.live for c in self.cameras) or None in counts else sum(counts)  # type: ignore[arg-type]
        self._bar = tqdm(total=total, unit="frame", desc=self.progress_label, dynamic_ncols=True, leave=True)

    def _update_bar(self, frames: int) -> None:
        if self._bar is None:
            return
        self._bar.update(frames)
        now = time.monotonic()
        if now - self._bar_updated > 0.5:
            self._bar_updated = now
            fps = {c.name: c.pipeline.stats.recent()["fps"] for c in self.cameras if c.state == RUNNING}
            self._bar.set_postfix({name: f"{value:.1f}fps" for name, value in fps.items() if value is not None},
                                  refresh=False)  # fmt: skip

    def _batches(self) -> dict[str, Any]:
        calls = self._calls.count
        return {
            "calls": calls,
            "frames": self._call_frames,
            "mean_size": round(self._call_frames / calls, 3) if calls else None,
            "sizes": {str(size): count for size, count in sorted(self._batch_sizes.items())},
            "max_batch": self.max_batch,
            "workers": self.infer_workers,
            "infer_ms": self._calls.summary(),
        }

    def status(self) -> dict[str, Any]:
        """The live state of every camera and the total (the operator view's `/api/stats` and `/metrics`)."""
        cameras = []
        for camera in self.cameras:
            stats = camera.pipeline.stats
            recent = stats.recent()
            report = camera.report
            cameras.append({
                "name": camera.name,
                "source": redact(camera.pipeline.source.name),
                "state": camera.view_state(),
                "fps": None if recent["fps"] is None else round(recent["fps"], 2),
                "latency_ms": {key[:3]: None if recent[key] is None else round(recent[key], 1)
                               for key in ("p50_ms", "p95_ms", "p99_ms")},
                "frames_captured": stats.frames_captured,
                "frames_out": stats.frames_out,
                "frames_dropped": stats.frames_dropped,
                "reconnects": stats.reconnects,
                "outage_s": round(stats.outage_s, 1),
                "message": camera.connect_error if camera.state == CONNECTING else (
                    "; ".join(report.errors) if report is not None and report.errors else None),
            })  # fmt: skip
        uptime = (now_ns() - self._started_ns) / 1e9 if self._started_ns else 0.0
        total = {
            "cameras": len(cameras),
            "live": sum(c["state"] == "live" for c in cameras),
            "fps": round(sum(c["fps"] or 0.0 for c in cameras), 2),
            **{key: sum(c[key] for c in cameras) for key in
               ("frames_captured", "frames_out", "frames_dropped", "reconnects")},
            "outage_s": round(sum(c["outage_s"] for c in cameras), 1),
            "uptime_s": round(uptime, 1),
        }  # fmt: skip
        return {"cameras": cameras, "total": total, "batches": self._batches()}

    def _build_report(self, interrupted: bool) -> MultiReport:
        streams = {c.name: c.report for c in self.cameras if c.report is not None}
        summaries = [report.stats for report in streams.values()]
        latencies = [c.pipeline.stats.latency_ms for c in self.cameras]
        wall_s = (now_ns() - self._started_ns) / 1e9 if self._started_ns else None
        batches = self._batches()
        busy = None
        if wall_s and self._calls.count:
            busy = round(self._calls.total / 1e3 / wall_s / self.infer_workers, 4)  # of the workers' time
        total = {
            "cameras": len(streams),
            **{key: sum(s[key] for s in summaries) for key in
               ("frames_captured", "frames_out", "frames_dropped", "frames_skipped", "frames_duplicated",
                "reconnects", "outages", "frames_missed_in_outages")},
            "outage_s": round(sum(s["outage_s"] for s in summaries), 3),
            "wall_s": round(wall_s, 4) if wall_s else None,
            "throughput_fps": round(sum(s["throughput_fps"] or 0.0 for s in summaries), 3),
            "capture_to_output_ms": summarise_ms(np.concatenate(latencies) if latencies else []),
            "backend_busy_fraction": busy,
            "batches": batches,
        }  # fmt: skip
        errors = {name: report.errors for name, report in streams.items() if report.errors}
        return MultiReport(streams, total, {**self.run_info, "interrupted": interrupted}, interrupted, errors)


__all__ = ["MultiReport", "MultiStream", "infer_stacked", "infer_worker_count"]
