"""Versions of the tools that produced an artefact, for its sidecar (read from package metadata)."""

from __future__ import annotations

from importlib import metadata

# distribution name -> sidecar key. onnxruntime may be either distribution (they own the same module).
_DISTRIBUTIONS = (
    ("torch", "torch"),
    ("onnx", "onnx"),
    ("onnxruntime", "onnxruntime"),
    ("onnxruntime-gpu", "onnxruntime"),
    ("onnxslim", "onnxslim"),
    ("nvidia-modelopt", "modelopt"),
    ("jrgr-deploy", "jrgr_deploy"),
)


def tool_versions() -> dict[str, str]:
    """{"torch": "2.13.0+cpu", "onnx": ..., ...}: only the installed ones."""
    versions: dict[str, str] = {}
    for distribution, key in _DISTRIBUTIONS:
        try:
            versions.setdefault(key, metadata.version(distribution))
        except metadata.PackageNotFoundError:
            continue
    return versions
