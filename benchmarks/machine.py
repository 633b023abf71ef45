"""What every benchmark records about where it ran, and the device's measured matrix-multiply peak.

Imported by the benchmark scripts beside it (`python benchmarks/latency.py` puts this folder on sys.path).
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import os
import platform
import time


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def gpu_name() -> str | None:
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return None


def library_versions(names=("jrgr-deploy", "torch", "onnxruntime", "onnxruntime-gpu", "onnx", "opencv-python-headless",
                            "numpy", "nvidia-modelopt", "tensorrt")) -> dict[str, str]:
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def machine_report() -> dict:
    """Cores, CPU model, GPU, library versions and the UTC date, for every results JSON."""
    return {
        "date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "gpu": gpu_name(),
        "python": platform.python_version(),
        "libraries": library_versions(),
    }


def matmul_peak_gflops(n: int = 2048, threads: int | None = None, repeats: int = 5, device: str = "cpu") -> float:
    """Best-of-`repeats` float32 GFLOP/s of an n x n matrix product in torch: the practical arithmetic peak."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        if device != "cpu":
            torch.cuda.synchronize()
        start = time.perf_counter()
        torch.mm(a, b)
        if device != "cpu":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def benchmark_logging(quiet: tuple[str, ...] = ("modelopt", "jrgr_deploy.export", "jrgr_deploy.runtime")) -> None:
    """Timestamped INFO logging for a benchmark script, with the per-file chatter of `quiet` loggers held to
    warnings (a benchmark exports and opens many models)."""
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in quiet:
        logging.getLogger(name).setLevel(logging.WARNING)
