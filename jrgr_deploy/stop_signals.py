"""Ctrl-C and `kill` as a request to stop cleanly: the long jobs (training, streams) finish the unit of work in
hand, save or finalise, and exit with the shell's code for the signal (130 for SIGINT, 143 for SIGTERM).

    with graceful_stop(on_request=pipeline.request_stop) as stop:
        ...                      # poll `stop.requested` between units of work
    if stop.signum is not None:
        return stop.exit_code

The first SIGINT/SIGTERM only records the request (and calls `on_request`); a second one raises
KeyboardInterrupt, for a user who does not want to wait. Handlers can only be installed from the main thread:
elsewhere `graceful_stop` installs nothing and the request is never set.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

logger = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def exit_code_of(signum: int) -> int:
    """128 + the signal's number: what a shell reports for a process ended by it (130 SIGINT, 143 SIGTERM)."""
    return 128 + int(signum)


class StopRequest:
    """Whether (and by which signal) a stop was asked for. `request` may also be called directly."""

    def __init__(self, on_request: Callable[[int], object] | None = None) -> None:
        self.signum: int | None = None
        self._on_request = on_request

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def exit_code(self) -> int:
        return exit_code_of(self.signum if self.signum is not None else signal.SIGINT)

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else ""

    def request(self, signum: int = signal.SIGINT) -> None:
        if self.signum is None:
            self.signum = int(signum)
            if self._on_request is not None:
                self._on_request(self.signum)


@contextmanager
def graceful_stop(on_request: Callable[[int], object] | None = None) -> Iterator[StopRequest]:
    """Turn SIGINT/SIGTERM into a `StopRequest` for the duration of the block (see the module docstring)."""
    stop = StopRequest(on_request)
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        if stop.requested:
            raise KeyboardInterrupt  # a second signal: stop now
        logger.warning("%s received: finishing the work in hand, then stopping cleanly (again to abort)",
                       signal.Signals(signum).name)
        stop.request(signum)

    # A signal ignored by whoever started us (SIGINT for a background job of a script) stays ignored.
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    for signum, handler in previous.items():
        if handler is not signal.SIG_IGN:
            signal.signal(signum, handle)
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            if handler is not None:
                signal.signal(signum, handler)


__all__ = ["STOP_SIGNALS", "StopRequest", "exit_code_of", "graceful_stop"]
