"""Latency of single inference calls: warm-up, timed calls, percentiles and throughput.

The one timing routine behind `jrgr bench` and `benchmarks/latency.py` (percentiles come from
`stats.summarise_ms`, the same summary the streaming pipeline reports). A call must be synchronous:
it returns when its result is ready (the backends return host arrays; a GPU caller synchronises
inside its call).

`time_interleaved` runs several calls round-robin (call A, call B, ..., then again): on a shared,
noisy machine every candidate sees the same load over the run, so their ratios stay comparable
even when the absolute numbers drift.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from jrgr_deploy.errors import JRGRError
from jrgr_deploy.runtime.backends.base import InputContract
from jrgr_deploy.runtime.stats import summarise_ms


@dataclass
class CallLatency:
    """The timed calls of one candidate: per-call latencies in ms (warm-up excluded)."""

    latencies_ms: list[float] = field(default_factory=list)
    warmup: int = 0

    @property
    def throughput_fps(self) -> float | None:
        """Calls per second over the timed calls, back to back (batch 1: frames per second)."""
        total_ms = sum(self.latencies_ms)
        return 1000.0 * len(self.latencies_ms) / total_ms if total_ms > 0 else None

    def summary(self) -> dict[str, Any]:
        """count, mean, p50, p95, p99, max (ms) and throughput_fps, JSON-able."""
        fps = self.throughput_fps
        return {
            **summarise_ms(self.latencies_ms),
            "warmup": self.warmup,
            "throughput_fps": None if fps is None else round(fps, 3),
        }


def bench_batch(contract: InputContract, frame_hw: tuple[int, int], batch: int = 1, seed: int = 0) -> np.ndarray:
    """A (batch, 3, H', W') float32 tensor in [-1, 1], (H', W') = what the backend sees for a frame of
    `frame_hw` (`InputContract.input_hw`: padded up, or the fixed size). Uniform noise: the nets' cost does not
    depend on the pixel values. A model with a fixed batch gets that batch."""
    if batch < 1:
        raise JRGRError(f"batch must be >= 1, got {batch}")
    if contract.shape[0] is not None:
        batch = int(contract.shape[0])
    h, w = contract.input_hw(frame_hw)
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.0, 1.0, size=(batch, 3, h, w)).astype(np.float32)


def _check_counts(warmup: int, iters: int) -> None:
    if warmup < 0:
        raise JRGRError(f"warm-up count must be >= 0, got {warmup}")
    if iters < 1:
        raise JRGRError(f"iteration count must be >= 1, got {iters}")


def timed_ms(call: Callable[[], Any]) -> float:
    """Wall time of one `call()` in milliseconds."""
    start = time.perf_counter_ns()
    call()
    return (time.perf_counter_ns() - start) / 1e6


def time_call(call: Callable[[], Any], warmup: int = 2, iters: int = 10) -> CallLatency:
    """Run `call` `warmup` times untimed, then `iters` times timed."""
    return time_interleaved({"call": call}, warmup, iters)["call"]


def time_interleaved(
    calls: Mapping[str, Callable[[], Any]],
    warmup: int = 2,
    iters: int = 10,
    on_round: Callable[[int], None] | None = None,
) -> dict[str, CallLatency]:
    """Warm every call up, then time them round-robin, `iters` rounds; `on_round(i)` after each round."""
    _check_counts(warmup, iters)
    timings = {name: CallLatency(warmup=warmup) for name in calls}
    for call in calls.values():
        for _ in range(warmup):
            call()
    for round_index in range(iters):
        for name, call in calls.items():
            timings[name].latencies_ms.append(timed_ms(call))
        if on_round is not None:
            on_round(round_index)
    return timings


__all__ = ["CallLatency", "bench_batch", "time_call", "time_interleaved"]
