"""Latency statistics of the streaming pipeline.

Every frame is stamped when its capture completes (`time.perf_counter_ns`, monotonic). Each stage adds
its own duration; when the sink has written the frame, capture-to-output latency = now − capture stamp
(it includes the time spent waiting in the queues, which per-stage times do not). Reported per stage
and end to end: mean, p50, p95, p99, max in milliseconds; throughput in frames per second; frames
dropped (live sources keep only the newest frame) and reconnects; for a live source the time it was down
(`outage_s`: from its last frame before a failure to its first frame after, less one frame interval) and the
frames it would have sent meanwhile at its nominal rate (`frames_missed_in_outages`); unreadable input files
skipped (`frames_skipped`); frames repeated in a live recording to keep wall-clock time (`frames_duplicated`).
While a live source is down, `down_since_ns` holds when (the live operator view shows it; `outage_s`
then counts the ongoing outage too). No text in the file shows a URL's credentials (`jrgr_deploy.redaction`).
"""

from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from jrgr_deploy.output_files import ensure_parent, write_text_atomic
from jrgr_deploy.redaction import redact_data
from jrgr_deploy.video_files import DEFAULT_FPS

STAGES = ("capture", "preprocess", "infer", "postprocess", "temporal", "tone", "veil", "write")
# Stages that only some runs have (`--temporal`, a tone map, `--veil`): left out of the summary when no frame went
# through.
OPTIONAL_STAGES = ("temporal", "tone", "veil")
# 2: the run block names the inference size `infer_hw`, [height, width] (was `infer_size`, [width, height]).
# 3: outages (`outages`, `outage_s`, `frames_missed_in_outages`), `frames_skipped`, `frames_duplicated`.
# A multi-camera run's file (`runtime.multi.MultiReport.stats`) has `run`, `total` and `streams` (name -> one
# camera's summary, as above) under the same number.
STATS_FORMAT_VERSION = 3


def now_ns() -> int:
    """The pipeline's clock: monotonic, nanoseconds."""
    return time.perf_counter_ns()


@dataclass
class FrameTiming:
    """The timestamps of one frame: `captured_ns` when the source delivered it, stage durations in ns."""

    index: int
    captured_ns: int
    stage_ns: dict[str, int] = field(default_factory=dict)

    def add(self, stage: str, start_ns: int, end_ns: int | None = None) -> int:
        """Add `end − start` to `stage` (end defaults to now); returns the end stamp."""
        end = now_ns() if end_ns is None else end_ns
        self.stage_ns[stage] = self.stage_ns.get(stage, 0) + (end - start_ns)
        return end


def summarise_ms(values_ms: list[float] | np.ndarray) -> dict[str, float | int | None]:
    """count, mean, p50, p95, p99, max of a list of milliseconds (None when empty)."""
    values = np.asarray(values_ms, dtype=np.float64)
    if values.size == 0:
        return {"count": 0, "mean": None, "p50": None, "p95": None, "p99": None, "max": None}
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {
        "count": int(values.size),
        "mean": round(float(values.mean()), 3),
        "p50": round(float(p50), 3),
        "p95": round(float(p95), 3),
        "p99": round(float(p99), 3),
        "max": round(float(values.max()), 3),
    }


class Window:
    """The latest `capacity` values of one series (a numpy ring, grown on demand) plus the exact count,
    sum and max of all values: a camera stream can run for days, so memory must stay bounded."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._data = np.empty(min(capacity, 1024), dtype=np.float64)
        self._stored = 0
        self._next = 0
        self.count = 0
        self.total = 0.0
        self.max = float("-inf")

    def append(self, value: float) -> None:
        if self._stored < self.capacity:
            if self._stored == len(self._data):
                grown = np.empty(min(self.capacity, 2 * len(self._data)), dtype=np.float64)
                grown[: self._stored] = self._data
                self._data = grown
            self._data[self._stored] = value
            self._stored += 1
        else:  # full: overwrite the oldest
            self._data[self._next] = value
            self._next = (self._next + 1) % self.capacity
        self.count += 1
        self.total += value
        self.max = max(self.max, value)

    def values(self) -> np.ndarray:
        """The stored values, oldest first."""
        if self._stored < self.capacity:
            return self._data[: self._stored].copy()
        return np.concatenate((self._data[self._next :], self._data[: self._next]))

    def summary(self) -> dict[str, float | int | None]:
        """Like `summarise_ms`, with count/mean/max over all values, percentiles over the stored ones."""
        result = summarise_ms(self.values())
        if self.count:
            result.update(count=self.count, mean=round(self.total / self.count, 3), max=round(self.max, 3))
        return result


class LatencyStats:
    """Collects per-frame timings from the pipeline threads and summarises them.

    Counters are each written by one thread only (captured/dropped/reconnects/outages by the capture thread,
    records by the output stage), so no lock is needed for them; `record` appends under the GIL.
    """

    def __init__(self, recent: int = 120, window: int = 200_000) -> None:
        self.frames_captured = 0
        self.frames_dropped = 0
        self.frames_skipped = 0
        self.frames_duplicated = 0
        self.reconnects = 0
        self.outages = 0
        self.outage_ns = 0
        self.frames_missed = 0.0
        self.down_since_ns: int | None = None  # the last good frame's stamp while a live source is down
        self.started_ns: int | None = None
        self.first_capture_ns: int | None = None
        self.last_output_ns: int | None = None
        self.window = window
        self._stages = {stage: Window(window) for stage in STAGES}
        self._latency = Window(window)
        self._recent: deque[tuple[int, float]] = deque(maxlen=recent)

    @property
    def latency_ms(self) -> np.ndarray:
        """Capture-to-output latencies of the last `window` output frames, oldest first."""
        return self._latency.values()

    def start(self) -> None:
        self.started_ns = now_ns()

    def outage_begin(self, last_frame_ns: int) -> None:
        """A live source failed after its frame at `last_frame_ns`: it is down from then (kept if already down)
        until `outage_end`."""
        if self.down_since_ns is None:
            self.down_since_ns = last_frame_ns

    def outage_end(self, back_ns: int, fps: float | None) -> None:
        """The source is back at `back_ns` (its next frame, or the end of the stream): the outage is recorded."""
        if self.down_since_ns is not None:
            self.outage(self.down_since_ns, back_ns, fps)
            self.down_since_ns = None

    @property
    def outage_s(self) -> float:
        """Seconds the source spent down, the ongoing outage included (live displays)."""
        down_since = self.down_since_ns
        ongoing = max(0, now_ns() - down_since) if down_since is not None else 0
        return (self.outage_ns + ongoing) / 1e9

    def captured(self, timing: FrameTiming) -> None:
        self.frames_captured += 1
        if self.first_capture_ns is None:
            self.first_capture_ns = timing.captured_ns

    def outage(self, last_frame_ns: int, back_ns: int, fps: float | None) -> None:
        """A live source was down between its frame at `last_frame_ns` and `back_ns` (its next frame, or the
        end of the stream): the gap beyond one frame interval is an outage, and at the nominal `fps` it would
        have sent that many frames meanwhile."""
        rate = fps if fps and fps > 0 else DEFAULT_FPS  # a source that states no rate
        gap_ns = max(0, back_ns - last_frame_ns - int(1e9 / rate))
        self.outages += 1
        self.outage_ns += gap_ns
        self.frames_missed += gap_ns * 1e-9 * rate

    def record(self, timing: FrameTiming, output_ns: int | None = None) -> float:
        """A frame reached the output; returns its capture-to-output latency in ms."""
        out = now_ns() if output_ns is None else output_ns
        latency = (out - timing.captured_ns) / 1e6
        for stage, duration in timing.stage_ns.items():
            self._stages[stage].append(duration / 1e6)
        self._latency.append(latency)
        self.last_output_ns = out
        self._recent.append((out, latency))
        return latency

    @property
    def frames_out(self) -> int:
        return self._latency.count

    def throughput_fps(self) -> float | None:
        """Output frames per second from the first capture to the last output."""
        if self.first_capture_ns is None or self.last_output_ns is None or self.frames_out < 2:
            return None
        seconds = (self.last_output_ns - self.first_capture_ns) / 1e9
        return self.frames_out / seconds if seconds > 0 else None

    def recent(self) -> dict[str, float | None]:
        """Output fps and capture-to-output p50/p95/p99 (ms) over the most recent frames (None: too few),
        for live displays; the fps falls to 0 once no frame came out for a few frame intervals."""
        recent = list(self._recent)
        numbers: dict[str, float | None] = {"fps": None, "p50_ms": None, "p95_ms": None, "p99_ms": None}
        if len(recent) >= 2:
            span_ns = recent[-1][0] - recent[0][0]
            if span_ns > 0:
                interval_ns = span_ns / (len(recent) - 1)
                stalled = now_ns() - recent[-1][0] > max(3 * interval_ns, 1e9)
                numbers["fps"] = 0.0 if stalled else (len(recent) - 1) / (span_ns / 1e9)
            p50, p95, p99 = np.percentile([r[1] for r in recent], [50, 95, 99])
            numbers.update(p50_ms=float(p50), p95_ms=float(p95), p99_ms=float(p99))
        return numbers

    def live(self) -> dict[str, str]:
        """Short numbers over the most recent frames, for a progress bar's postfix."""
        recent = self.recent()
        postfix: dict[str, str] = {}
        if recent["fps"] is not None:
            postfix["fps"] = f"{recent['fps']:.1f}"
        if recent["p50_ms"] is not None:
            postfix["lat50"] = f"{recent['p50_ms']:.0f}ms"
        if self.frames_dropped:
            postfix["drop"] = str(self.frames_dropped)
        if self.reconnects:
            postfix["reconn"] = str(self.reconnects)
        return postfix

    def summary(self, **run: Any) -> dict[str, Any]:
        """Everything as a JSON-able dict; `run` adds metadata (source, backend, sizes, ...)."""
        wall_s = None
        if self.started_ns is not None:
            wall_s = round(((self.last_output_ns or now_ns()) - self.started_ns) / 1e9, 4)
        fps = self.throughput_fps()
        busy = None
        if fps is not None and self._stages["infer"].count:
            # Share of the stream's duration the backend was computing: ~1 means the pipeline kept it fed
            # (throughput is backend-bound), lower means capture/pre/post/write starved it.
            busy = round(self._stages["infer"].total / 1e3 / (self.frames_out / fps), 4)
        return {
            "format_version": STATS_FORMAT_VERSION,
            "run": run,
            "frames_captured": self.frames_captured,
            "frames_out": self.frames_out,
            "frames_dropped": self.frames_dropped,
            "frames_skipped": self.frames_skipped,
            "frames_duplicated": self.frames_duplicated,
            "reconnects": self.reconnects,
            "outages": self.outages,
            "outage_s": round(self.outage_ns / 1e9, 3),
            "frames_missed_in_outages": int(round(self.frames_missed)),
            "wall_s": wall_s,
            "throughput_fps": round(fps, 3) if fps is not None else None,
            "backend_busy_fraction": busy,
            "capture_to_output_ms": self._latency.summary(),
            "stages_ms": {stage: series.summary() for stage, series in self._stages.items()
                          if series.count or stage not in OPTIONAL_STAGES},
            # percentiles are over at most this many of the latest frames (count/mean/max over all)
            "percentile_window_frames": self.window,
        }

    def write_json(self, path: str | Path, **run: Any) -> Path:
        """Write `summary(**run)` (credentials redacted) to `path`, atomically."""
        path = ensure_parent(path, "statistics file")
        return write_text_atomic(path, json.dumps(redact_data(self.summary(**run)), indent=2) + "\n")


def format_table(summary: dict[str, Any]) -> str:
    """A plain-text table of a `LatencyStats.summary()`."""

    def cell(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    rows = [(stage, summary["stages_ms"][stage]) for stage in STAGES if stage in summary["stages_ms"]]
    rows.append(("capture->output", summary["capture_to_output_ms"]))
    lines = [f"{'stage (ms)':<16}{'mean':>9}{'p50':>9}{'p95':>9}{'p99':>9}{'max':>9}"]
    for name, row in rows:
        if not row["count"]:
            continue
        lines.append(
            f"{name:<16}{cell(row['mean']):>9}{cell(row['p50']):>9}{cell(row['p95']):>9}"
            f"{cell(row['p99']):>9}{cell(row['max']):>9}"
        )
    fps = summary["throughput_fps"]
    lines.append(
        f"frames: {summary['frames_out']} out / {summary['frames_captured']} captured, "
        f"{summary['frames_dropped']} dropped, {summary['reconnects']} reconnects; "
        f"throughput {'-' if fps is None else f'{fps:.2f}'} fps"
    )
    if summary.get("backend_busy_fraction") is not None:
        lines[-1] += f", backend busy {summary['backend_busy_fraction']:.0%} of the time"
    if summary.get("frames_skipped"):
        lines.append(f"skipped {summary['frames_skipped']} unreadable input file(s)")
    if summary.get("outages"):
        lines.append(
            f"source down {summary['outage_s']:.1f} s in {summary['outages']} outage(s), "
            f"~{summary['frames_missed_in_outages']} frames missed"
        )
    if summary.get("frames_duplicated"):
        lines.append(f"{summary['frames_duplicated']} frame(s) repeated in the recording to keep wall-clock time")
    return "\n".join(lines)


def format_camera_table(stats: dict[str, Any]) -> str:
    """A plain-text table of a multi-camera run's statistics (`MultiReport.stats`): one row per camera, the
    total, the backend's batches."""

    def cell(value: float | None, digits: int = 1) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    header = (f"{'camera':<16}{'fps':>7}{'out':>7}{'captured':>9}{'dropped':>8}{'reconn':>7}{'down s':>7}"
              f"{'c2o p50':>9}{'p95':>7}{'p99':>7}  end")
    lines = [header]
    rows = [(name, summary, summary["run"].get("end_reason", "")) for name, summary in stats["streams"].items()]
    rows.append(("total", stats["total"], ""))
    for name, row, end in rows:
        c2o = row["capture_to_output_ms"]
        lines.append(
            f"{name[:15]:<16}{cell(row['throughput_fps']):>7}{row['frames_out']:>7}{row['frames_captured']:>9}"
            f"{row['frames_dropped']:>8}{row['reconnects']:>7}{cell(row.get('outage_s')):>7}"
            f"{cell(c2o['p50'], 0):>9}{cell(c2o['p95'], 0):>7}{cell(c2o['p99'], 0):>7}  {end}"
        )
    batches = stats["total"]["batches"]
    if batches["calls"]:
        busy = stats["total"].get("backend_busy_fraction")
        lines.append(
            f"backend: {batches['calls']} calls, {batches['mean_size']:.2f} frames per call (sizes "
            f"{batches['sizes']}), infer p50 {batches['infer_ms']['p50']:.1f} ms"
            + (f", up to {workers} calls at once" if (workers := batches.get("workers", 1)) > 1 else "")
            + (f", busy {busy:.0%} of the time" if busy is not None else "")
        )
    return "\n".join(lines)


__all__ = [
    "OPTIONAL_STAGES",
    "STAGES",
    "FrameTiming",
    "LatencyStats",
    "Window",
    "format_camera_table",
    "format_table",
    "now_ns",
    "summarise_ms",
]
