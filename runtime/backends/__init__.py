"""Inference backends behind one base class (`Backend`), chosen explicitly or by the artefact's suffix.

    .onnx                 -> onnxruntime (CPU; onnxruntime-cuda / onnxruntime-trt on request)
    .plan / .engine       -> tensorrt (native)
    .safetensors          -> torch (reference)

A backend that was asked for and cannot load is an error; nothing falls back silently. The backend
modules import their heavy dependency (onnxruntime, tensorrt, torch) only when constructed.
"""

from __future__ import annotations

from pathlib import Path

from jrgr_deploy.errors import JRGRError
from jrgr_deploy.names import BACKENDS
from jrgr_deploy.runtime.backends.base import Backend, InputContract

ONNX_SUFFIXES = (".onnx",)
ENGINE_SUFFIXES = (".plan", ".engine")
CHECKPOINT_SUFFIXES = (".safetensors",)

# Which file kinds each backend runs.
_BACKEND_SUFFIXES = {
    "onnxruntime": ONNX_SUFFIXES,
    "onnxruntime-cuda": ONNX_SUFFIXES,
    "onnxruntime-trt": ONNX_SUFFIXES,
    "tensorrt": ENGINE_SUFFIXES,
    "torch": CHECKPOINT_SUFFIXES,
}


def backend_for_path(path: str | Path) -> str:
    """The default backend for an artefact, from its suffix."""
    suffix = Path(path).suffix.lower()
    if suffix in ONNX_SUFFIXES:
        return "onnxruntime"
    if suffix in ENGINE_SUFFIXES:
        return "tensorrt"
    if suffix in CHECKPOINT_SUFFIXES:
        return "torch"
    raise JRGRError(
        f"cannot tell the backend for '{path}' from its suffix '{suffix}': expected .onnx (ONNX Runtime), "
        ".plan/.engine (TensorRT) or .safetensors (PyTorch checkpoint), or pass --backend"
    )


def open_backend(
    path: str | Path,
    backend: str | None = None,
    net: str = "f_r",
    threads: int | None = None,
    cuda_graph: bool = True,
) -> Backend:
    """Load `path` on `backend` (None: chosen by suffix). `net` names the network inside a checkpoint
    (torch backend only); `threads` caps CPU threads; `cuda_graph` enables graph replay (tensorrt)."""
    path = Path(path)
    name = backend or backend_for_path(path)
    if name not in BACKENDS:
        raise JRGRError(f"backend '{name}' is not one of {list(BACKENDS)}")
    if not path.exists():
        raise JRGRError(f"weights file '{path}' does not exist")
    suffixes = _BACKEND_SUFFIXES[name]
    if path.suffix.lower() not in suffixes:
        raise JRGRError(
            f"backend '{name}' runs {'/'.join(suffixes)} files, not '{path.name}'"
            + ("; build an engine with 'jrgr export'" if name == "tensorrt" else "")
        )
    if name.startswith("onnxruntime"):
        from jrgr_deploy.runtime.backends.onnxruntime_backend import ORT_BACKEND_DEVICE, OnnxRuntimeBackend

        return OnnxRuntimeBackend(path, device=ORT_BACKEND_DEVICE[name], threads=threads)
    if name == "tensorrt":
        from jrgr_deploy.runtime.backends.tensorrt_backend import TensorRTBackend

        return TensorRTBackend(path, cuda_graph=cuda_graph)
    from jrgr_deploy.runtime.backends.torch_backend import TorchBackend

    return TorchBackend(path, net=net, threads=threads)


__all__ = [
    "Backend",
    "InputContract",
    "backend_for_path",
    "open_backend",
]
