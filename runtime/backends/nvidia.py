"""TensorRT and cuda-python, imported in one place, and the GPU they run on (name, compute capability).

Both the TensorRT backend (running engines) and the export stage (building them) come here: a missing package
is a MissingDependencyError naming the `[trt]` extra, and a compute capability is written one way ("8.6")
whatever form a sidecar or a driver gives it ("sm_86", "sm86", "86").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jrgr_deploy.errors import JRGRError, MissingDependencyError


def import_tensorrt(purpose: str) -> Any:
    """The `tensorrt` module, or MissingDependencyError naming the [trt] extra and `purpose`."""
    try:
        import tensorrt as trt
    except ImportError as error:
        raise MissingDependencyError("tensorrt", "trt", purpose) from error
    return trt


def import_cudart(purpose: str) -> Any:
    """cuda-python's CUDA runtime bindings (`cuda.bindings.runtime`; `cuda.cudart` before cuda-python 12.6)."""
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        try:
            from cuda import cudart  # type: ignore[no-redef]
        except ImportError as error:
            raise MissingDependencyError("cuda-python", "trt", purpose) from error
    return cudart


def cuda_check(cudart: Any, result: Any, what: str) -> Any:
    """cuda-python calls return (error, *values); raise on error, return the value(s)."""
    if isinstance(result, tuple):
        error, values = result[0], result[1:]
    else:
        error, values = result, ()
    if error != cudart.cudaError_t.cudaSuccess:
        _, name = cudart.cudaGetErrorName(error)
        raise JRGRError(f"CUDA call {what} failed: {name.decode() if isinstance(name, bytes) else name}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def normalise_capability(value: str | None) -> str | None:
    """'8.6', 'sm_86', 'sm86', '86' -> '8.6'; None or '' -> None."""
    if not value:
        return None
    text = str(value)
    if "." in text:
        major, minor = text.split(".", 1)
        return f"{''.join(c for c in major if c.isdigit())}.{''.join(c for c in minor if c.isdigit())}"
    digits = "".join(ch for ch in text if ch.isdigit())
    if len(digits) < 2:
        return digits or None
    return f"{digits[:-1]}.{digits[-1]}"


@dataclass(frozen=True)
class GpuInfo:
    """A CUDA device: its name and compute capability ("9.0")."""

    name: str
    compute_capability: str

    @property
    def arch(self) -> str:
        """``sm90`` for compute capability 9.0 (engine file names)."""
        return "sm" + self.compute_capability.replace(".", "")


def query_gpu(device: int = 0, purpose: str = "the TensorRT backend", cudart: Any = None) -> GpuInfo:
    """Name and compute capability of CUDA device `device` (cuda-python runtime API)."""
    cudart = cudart if cudart is not None else import_cudart(purpose)
    error, props = cudart.cudaGetDeviceProperties(device)
    if error != cudart.cudaError_t.cudaSuccess:
        raise JRGRError(f"no usable CUDA GPU {device} for {purpose}: {cudart.cudaGetErrorName(error)[1]}")
    name = props.name.decode(errors="replace").rstrip("\x00") if isinstance(props.name, bytes) else str(props.name)
    return GpuInfo(name=name, compute_capability=f"{props.major}.{props.minor}")


__all__ = ["GpuInfo", "cuda_check", "import_cudart", "import_tensorrt", "normalise_capability", "query_gpu"]
