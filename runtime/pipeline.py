"""The streaming pipeline: capture thread -> bounded queue -> infer -> bounded queue -> writer thread.

    capture thread   source.read(), stamp, [preprocess: files]        -> in-queue
    infer stage      [preprocess: live], backend                      -> out-queue   (caller's thread)
    writer thread    postprocess, sinks, statistics, progress bar

Files (and folders) never lose a frame: the queues block, so frames come out in order and
frames out == frames in. Live sources (camera, network stream, a file replayed in real time) keep only
the newest frame: the in-queue holds one frame and a newer one replaces it (the drop is counted), and the
out-queue holds one, so the latency stays bounded when the backend (or a sink) is slower than the camera.
Preprocessing runs in the capture thread for files (it overlaps with inference) but after the queue for
live sources (no work is spent on frames that will be dropped).

A live source whose read fails is reconnected with exponential back-off and the stream goes on (the time it
was down is counted as an outage, with the frames it would have sent meanwhile); a file that fails mid-way
(truncated/corrupt) ends the stream, the frames read so far are written, and the error is raised after
everything is finalised. A stop request (`request_stop()`: the commands' SIGINT/SIGTERM handler; or Ctrl-C as
KeyboardInterrupt when embedding) stops capture; every frame already captured — queued or in inference — is
still processed, written and counted; then the sinks are closed (so the video file is playable) and the
report says `interrupted`. A second Ctrl-C aborts without waiting. Both threads are joined on every exit path.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from jrgr_deploy.errors import JRGRError
from jrgr_deploy.redaction import redact
from jrgr_deploy.runtime.processing import Prepared, Processor
from jrgr_deploy.runtime.sinks import FrameInfo, FrameSink, StopStream
from jrgr_deploy.runtime.sources import FrameSource, SourceReadError
from jrgr_deploy.runtime.stats import FrameTiming, LatencyStats, format_table, now_ns

logger = logging.getLogger(__name__)

CLOSED = object()


class FrameQueue:
    """A bounded FIFO between two threads, closable, with a drop-oldest put for live sources.

    wakeup: an event set whenever an item is queued or taken or the queue closes, so that one thread can wait
    on many queues at once (the multi-camera scheduler, `runtime/multi.py`).
    """

    def __init__(self, maxsize: int, wakeup: threading.Event | None = None) -> None:
        if maxsize < 1:
            raise JRGRError(f"queue size must be >= 1, got {maxsize}")
        self.maxsize = maxsize
        self._items: deque[Any] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._wakeup = wakeup

    def _changed(self) -> None:
        """Under the lock: wake the threads waiting on this queue (and on the shared event)."""
        self._cond.notify_all()
        if self._wakeup is not None:
            self._wakeup.set()

    def has_room(self) -> bool:
        """Whether a put would not block now (a single producer can rely on it)."""
        with self._cond:
            return len(self._items) < self.maxsize and not self._closed

    def put(self, item: Any, stop: threading.Event) -> bool:
        """Block while full; False (item not queued) if `stop` is set or the queue closed meanwhile."""
        with self._cond:
            while len(self._items) >= self.maxsize and not self._closed:
                if stop.is_set():
                    return False
                self._cond.wait(0.05)
            if self._closed or stop.is_set():
                return False
            self._items.append(item)
            self._changed()
            return True

    def put_drop_oldest(self, item: Any) -> Any | None:
        """Queue `item`; when full, discard the oldest item and return it (else None)."""
        with self._cond:
            dropped = self._items.popleft() if len(self._items) >= self.maxsize else None
            self._items.append(item)
            self._changed()
            return dropped

    def get(self, timeout: float) -> Any:
        """The oldest item; `CLOSED` once closed and empty; None when `timeout` passes with nothing."""
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait(timeout)
            if self._items:
                item = self._items.popleft()
                self._changed()
                return item
            return CLOSED if self._closed else None

    def drain(self, stop: threading.Event | None = None, poll_s: float = 0.1) -> Iterator[Any]:
        """Yield items in order until the queue is closed and empty, or until `stop` is set (checked before
        every wait of at most `poll_s`, so a stop is seen within one poll)."""
        while stop is None or not stop.is_set():
            item = self.get(poll_s)
            if item is CLOSED:
                return
            if item is not None:
                yield item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._changed()

    def clear(self) -> int:
        with self._cond:
            count = len(self._items)
            self._items.clear()
            self._changed()
            return count


@dataclass
class FrameResult:
    """One processed frame: `frame` the (H, W, 3) uint8 BGR input, `output` the (H, W, 3) (or
    (H, 2W, 3) side by side) uint8 BGR result, `latency_ms` capture-to-output."""

    index: int
    frame: np.ndarray
    output: np.ndarray
    latency_ms: float


@dataclass
class StreamReport:
    """How a stream ended and its statistics (`LatencyStats.summary()`)."""

    end_reason: str
    stats: dict[str, Any]
    interrupted: bool = False
    errors: list[str] = field(default_factory=list)

    def table(self) -> str:
        return format_table(self.stats)


@dataclass
class _Item:
    frame: np.ndarray
    timing: FrameTiming
    prepared: Prepared | None = None
    output: np.ndarray | None = None
    epoch: int = 0  # connection epoch of the source (it grows on every reconnect)
    name: str | None = None  # the input file's name, for sinks that keep names


class StreamPipeline:
    """Run `processor` on every frame of `source` and write the results to `sinks`.

    queue_size: depth of the bounded queues for files (live sources keep one frame in the in-queue).
    reconnect_backoff_s: (first, max) delay between reconnect attempts of a failed live source;
    reconnect_timeout_s: give up (error) when a live source stays down this long.
    progress: show a tqdm bar (frames, live fps / latency / drops) labelled `progress_label`. run_info:
    metadata for the stats, or a function giving it, called when the run ends (so it can name what the run
    resolved on the way, e.g. the inference size "auto" picked).
    """

    def __init__(
        self,
        source: FrameSource,
        processor: Processor,
        sinks: Sequence[FrameSink] = (),
        *,
        queue_size: int = 4,
        reconnect_backoff_s: tuple[float, float] = (0.1, 5.0),
        reconnect_timeout_s: float = 60.0,
        progress: bool = False,
        progress_label: str = "frames",
        run_info: dict[str, Any] | Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.source = source
        self.processor = processor
        self.sinks = list(sinks)
        self.queue_size = queue_size
        self.reconnect_backoff_s = reconnect_backoff_s
        self.reconnect_timeout_s = reconnect_timeout_s
        self.progress = progress
        self.progress_label = progress_label
        self.run_info = run_info if callable(run_info) else dict(run_info or {})
        self.stats = LatencyStats()
        self.report: StreamReport | None = None
        self._stop = threading.Event()  # capture stops; frames already captured still go through
        self._abort = threading.Event()  # everything stops now (a failed sink, a second Ctrl-C)
        self._interrupted = False
        self._capture_end_ns: int | None = None
        self._errors: list[tuple[str, BaseException]] = []
        self._end_reason = "end of stream"
        self._bar: Any = None
        self._bar_updated = 0.0
        self._epoch_seen: int | None = None

    # -- capture ---------------------------------------------------------------------------------
    def _reconnect(self, error: SourceReadError) -> bool:
        """Reconnect a live source with exponential back-off; False if stopped meanwhile."""
        first, most = self.reconnect_backoff_s
        delay = first
        deadline = time.monotonic() + self.reconnect_timeout_s
        logger.warning("%s; reconnecting", error)
        last: BaseException = error
        while not self._stop.is_set():
            if self._stop.wait(delay):
                return False
            try:
                self.source.reconnect()
            except JRGRError as failure:
                last = failure
                logger.warning("reconnect to %s failed: %s (next try in %.1f s)", self.source.name, failure, delay)
            else:
                self.stats.reconnects += 1
                logger.info("reconnected to %s", self.source.name)
                return True
            if time.monotonic() > deadline:
                raise SourceReadError(
                    f"{self.source.name}: still failing after {self.reconnect_timeout_s:g} s of reconnect "
                    f"attempts: {last}"
                )
            delay = min(delay * 2, most)
        return False

    def _capture_loop(self, in_queue: FrameQueue, live: bool) -> None:
        index = 0
        epoch = 0  # +1 on every reconnect: frames of a new epoch start temporal state afresh
        last_ns = now_ns()
        try:
            while not self._stop.is_set():
                start = now_ns()
                try:
                    frame = self.source.read()
                except SourceReadError as error:
                    if not (live and self.source.reconnectable):
                        raise
                    self.stats.outage_begin(last_ns)  # down since its last good frame (kept if already down)
                    if not self._reconnect(error):
                        break
                    epoch += 1
                    continue
                if frame is None:
                    break
                captured = now_ns()
                self.stats.outage_end(captured, self.source.fps)  # back after an outage, if it was down
                last_ns = captured
                timing = FrameTiming(index, captured, {"capture": captured - start})
                self.stats.captured(timing)
                item = _Item(frame, timing, epoch=epoch, name=self.source.frame_name)
                if live:
                    if in_queue.put_drop_oldest(item) is not None:
                        self.stats.frames_dropped += 1
                else:
                    item.prepared = self.processor.preprocess(frame, index)
                    timing.add("preprocess", captured)
                    # Only an abort drops a frame that was read: after a stop request it is still queued.
                    if not in_queue.put(item, self._abort):
                        break
                index += 1
        except BaseException as error:  # noqa: BLE001 - handed to the caller's thread
            # Not a stop: the frames already queued are still processed and written, then the
            # error is raised.
            self._errors.append(("capture", error))
        finally:
            self._capture_end_ns = now_ns()
            self.stats.outage_end(self._capture_end_ns, self.source.fps)  # ended while the source was down
            in_queue.close()

    # -- infer ---------------------------------------------------------------------------------
    def _prepare(self, item: _Item) -> Prepared:
        """The item's net input (live sources are preprocessed here, after the drop-oldest queue)."""
        if item.prepared is None:
            start = now_ns()
            item.prepared = self.processor.preprocess(item.frame, item.timing.index)
            item.timing.add("preprocess", start)
        # Frames reach this stage in order (dropped ones never do): the first of the stream and the first of each
        # new connection epoch tell the processor's temporal state to start afresh.
        item.prepared.restart = item.epoch != self._epoch_seen
        self._epoch_seen = item.epoch
        return item.prepared

    def _infer(self, item: _Item) -> None:
        prepared = self._prepare(item)
        start = now_ns()
        item.output = self.processor.infer(prepared)
        item.timing.add("infer", start)

    def _postprocess(self, item: _Item) -> np.ndarray:
        start = now_ns()
        assert item.prepared is not None and item.output is not None
        result = self.processor.postprocess(item.prepared, item.output)
        end = now_ns()
        # sub-stages the processor timed inside postprocess (the temporal filter) are rows of their own
        inner = item.prepared.stage_ns
        item.timing.add("postprocess", start + sum(inner.values()), end)
        for stage, duration in inner.items():
            item.timing.add(stage, 0, duration)
        item.output = None  # the raw tensor is no longer needed: free it early
        return result

    # -- write ---------------------------------------------------------------------------------
    def _emit(self, item: _Item, result: np.ndarray, write: bool) -> float:
        if write:
            start = now_ns()
            info = FrameInfo(item.timing.index, item.timing.captured_ns, item.name, input_frame=item.frame)
            for sink in self.sinks:
                sink.emit(info, result)
            item.timing.add("write", start)
        latency = self.stats.record(item.timing)
        if self._bar is not None:
            self._bar.update(1)
            now = time.monotonic()
            if now - self._bar_updated > 0.5:
                self._bar_updated = now
                self._bar.set_postfix(self.stats.live(), refresh=False)
        return latency

    def _writer_loop(self, out_queue: FrameQueue) -> None:
        try:
            for item in out_queue.drain():
                self._emit(item, self._postprocess(item), write=True)
        except StopStream as stop:
            self._end_reason = f"stopped: {stop}"
            self._stop.set()
            self._abort.set()
        except BaseException as error:  # noqa: BLE001 - handed to the caller's thread
            self._errors.append(("write", error))
            self._stop.set()
            self._abort.set()

    # -- driving ---------------------------------------------------------------------------------
    def _open_bar(self, live: bool) -> None:
        if not self.progress:
            return
        from tqdm import tqdm

        total = None if live else self.source.frame_count
        self._bar = tqdm(total=total, unit="frame", desc=self.progress_label, dynamic_ncols=True, leave=True)

    def _start(self, wakeup: threading.Event | None = None) -> tuple[FrameQueue, threading.Thread, bool]:
        """Open the source and the sinks and start the capture thread; `wakeup` is set on in-queue changes."""
        # One pipeline may run more than once (a file is re-read from its start): fresh state each time.
        self._stop.clear()
        self._abort.clear()
        self._interrupted = False
        self._capture_end_ns = None
        self._errors = []
        self._end_reason = "end of stream"
        self.stats = LatencyStats()
        self.report = None
        self._epoch_seen = None
        try:
            self.source.open()
            self.processor.begin(self.source.fps)
            live = bool(self.source.live)
            for sink in self.sinks:
                sink.begin(self.source.fps)
                if live:
                    sink.begin_live(self.source.fps)
        except BaseException:
            self._close_sinks()
            self.source.close()
            raise
        in_queue = FrameQueue(1 if live else self.queue_size, wakeup)
        self.stats.start()
        capture = threading.Thread(
            target=self._capture_loop, args=(in_queue, live), name="jrgr-capture", daemon=True
        )
        capture.start()
        return in_queue, capture, live

    def _join_capture(self, capture: threading.Thread, in_queue: FrameQueue) -> None:
        self._stop.set()
        in_queue.clear()  # unblocks a put waiting on a full queue
        capture.join(timeout=10.0)
        if capture.is_alive():  # a camera read stuck in the driver: leave it (daemon), say so
            logger.warning("capture thread of %s did not stop within 10 s", self.source.name)
        else:
            self.source.close()

    def _close_sinks(self, live: bool = False) -> None:
        for sink in self.sinks:
            try:
                if live and self._capture_end_ns is not None:
                    sink.end_live(self._capture_end_ns)
                sink.close()
            except Exception as error:  # noqa: BLE001 - still close the others, report it
                self._errors.append(("write", error))

    def _finish(self, live: bool, interrupted: bool) -> StreamReport:
        if self._bar is not None:
            self._bar.set_postfix(self.stats.live(), refresh=False)
            self._bar.close()
            self._bar = None
        errors = [redact(f"{stage}: {error}") for stage, error in self._errors]
        reason = "interrupted" if interrupted else ("error" if errors else self._end_reason)
        run_info = self.run_info() if callable(self.run_info) else self.run_info
        info = {"source": redact(self.source.name), "live": live, **run_info, "end_reason": reason}
        if errors:
            info["errors"] = errors
        self.stats.frames_skipped = self.source.frames_skipped
        self.stats.frames_duplicated = sum(sink.frames_duplicated for sink in self.sinks)
        self.report = StreamReport(reason, self.stats.summary(**info), interrupted=interrupted, errors=errors)
        return self.report

    def _raise_first_error(self) -> None:
        if self._errors:
            stage, error = self._errors[0]
            if isinstance(error, JRGRError):
                raise error
            raise JRGRError(redact(f"the {stage} stage failed: {type(error).__name__}: {error}")) from error

    def request_stop(self, *_: object) -> None:
        """Stop capturing; every frame already captured is still processed and written, then `run()` returns
        an `interrupted` report. Safe from a signal handler or another thread."""
        self._interrupted = True
        self._stop.set()

    def _interrupt(self) -> None:
        """Ctrl-C arrived as KeyboardInterrupt: the first drains what was captured, a second aborts."""
        if self._interrupted:
            self._abort.set()
            raise KeyboardInterrupt
        logger.warning("interrupted: finishing the frames already captured (Ctrl-C again to abort)")
        self.request_stop()

    def _infer_loop(self, in_queue: FrameQueue, out_queue: FrameQueue) -> None:
        """Infer every captured frame in order and hand it to the writer, until the in-queue is closed and empty
        (capture ended, also after a stop request) or an abort."""
        item: _Item | None = None
        while not self._abort.is_set():
            try:
                if item is None:
                    item = in_queue.get(0.1)
                    if item is CLOSED:
                        return
                    if item is None:
                        continue
                if item.output is None:
                    self._infer(item)
                if not out_queue.put(item, self._abort):
                    return
                item = None
            except KeyboardInterrupt:
                try:
                    self._interrupt()
                except KeyboardInterrupt:
                    return

    def _writer(self, live: bool, wakeup: threading.Event | None = None) -> tuple[FrameQueue, threading.Thread]:
        """The out-queue and the (not yet started) writer thread that drains it."""
        # Live: a one-frame hand-over to the writer too, so a slow sink shows up as drops, not as latency.
        out_queue = FrameQueue(1 if live else self.queue_size, wakeup)
        writer = threading.Thread(target=self._writer_loop, args=(out_queue,), name="jrgr-writer", daemon=True)
        return out_queue, writer

    def _wind_down(
        self,
        capture: threading.Thread,
        in_queue: FrameQueue,
        out_queue: FrameQueue,
        writer: threading.Thread,
        live: bool,
        interrupted: bool,
    ) -> StreamReport:
        """Stop capture, let the writer finish what was inferred, close the sinks and build the report."""
        self._join_capture(capture, in_queue)
        out_queue.close()
        if writer.ident is not None:
            writer.join()
        self._close_sinks(live)
        return self._finish(live, interrupted)

    def run(self) -> StreamReport:
        """Process the whole source into the sinks. Returns the report (interrupted=True after a stop request
        or Ctrl-C); raises the first source/sink error after everything is finalised (`self.report` is set)."""
        in_queue, capture, live = self._start()
        out_queue, writer = self._writer(live)
        try:
            self._open_bar(live)
            writer.start()
            self._infer_loop(in_queue, out_queue)
        except KeyboardInterrupt:
            self._interrupted = True
            self._abort.set()
        except BaseException as error:  # noqa: BLE001 - reported after clean-up
            self._errors.append(("infer", error))
        finally:
            self._wind_down(capture, in_queue, out_queue, writer, live, self._interrupted)
        self._raise_first_error()
        assert self.report is not None
        return self.report

    def results(self) -> Iterator[FrameResult]:
        """Iterate over processed frames in the caller's thread (embedding); no writer thread, `sinks`
        are written too. Closing the generator early (break) stops capture and joins the thread."""
        in_queue, capture, live = self._start()
        interrupted = False
        try:
            for item in in_queue.drain():
                self._infer(item)
                result = self._postprocess(item)
                latency = self._emit(item, result, write=bool(self.sinks))
                yield FrameResult(item.timing.index, item.frame, result, latency)
        except KeyboardInterrupt:
            interrupted = True
            raise
        except StopStream as stop:
            self._end_reason = f"stopped: {stop}"
        except Exception as error:  # noqa: BLE001 - re-raised after clean-up, with the report set
            self._errors.append(("infer", error))
        finally:
            self._join_capture(capture, in_queue)
            self._close_sinks(live)
            self._finish(live, interrupted)
        self._raise_first_error()


__all__ = ["FrameQueue", "FrameResult", "StreamPipeline", "StreamReport"]
