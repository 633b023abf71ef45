"""Running a StreamPipeline for a CLI command: progress, the statistics table, `--stats`, exit codes."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from jrgr_deploy.runtime.pipeline import StreamPipeline
from jrgr_deploy.runtime.stats import format_table

EXIT_INTERRUPTED = 130


def _sigterm_as_interrupt(signum: int, frame: FrameType | None) -> None:
    # `kill` / a container stop: finish cleanly exactly as on Ctrl-C.
    raise KeyboardInterrupt


def run_stream(pipeline: StreamPipeline, stats_path: str | Path | None, command: str) -> int:
    """Run `pipeline`; always print the statistics table and write `stats_path` (also after Ctrl-C
    or a source error, which is re-raised afterwards). Returns 0, or 130 when interrupted."""
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    try:
        report = pipeline.run()
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if pipeline.report is not None:
            print(format_table(pipeline.report.stats), file=sys.stderr)
            if stats_path:
                path = pipeline.stats.write_json(stats_path, **pipeline.report.stats["run"])
                print(f"jrgr {command}: statistics written to {path}", file=sys.stderr)
    if report.interrupted:
        print(f"jrgr {command}: interrupted; output finalised", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


__all__ = ["EXIT_INTERRUPTED", "run_stream"]
