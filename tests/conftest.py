"""Suite-wide fixtures."""

from __future__ import annotations

import signal
import warnings
from collections.abc import Iterator

import pytest

from jrgr_deploy.stop_signals import STOP_SIGNALS


@pytest.fixture(autouse=True)
def restore_stop_handlers(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test starts with the SIGINT/SIGTERM handlers the previous one found: a handler left installed by one
    test would take the next test's simulated Ctrl-C. A test that leaves one is named in pytest's warnings summary."""
    before = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    yield
    for signum, handler in before.items():
        if signal.getsignal(signum) is not handler and handler is not None:
            warnings.warn(f"{request.node.nodeid} left a {signal.Signals(signum).name} handler installed; restored",
                          stacklevel=1)
            signal.signal(signum, handler)
