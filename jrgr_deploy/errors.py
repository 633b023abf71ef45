"""Exceptions the CLI reports as one clear line instead of a traceback, and which extra provides what.

The package's dependencies come by role (pyproject.toml): the base runs nothing heavy, `[cpu]` / `[gpu]` /
`[trt]` bring an inference engine, `[train]` torch and its companions, `[export]` ONNX and ModelOpt, `[demo]`
scikit-image's photographs. `EXTRA_OF_MODULE` says which extra brings an importable module.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping

# import name -> the extra that installs it (`pip install 'jrgr-deploy[EXTRA]'`).
EXTRA_OF_MODULE = {
    "onnxruntime": "cpu",
    "tensorrt": "trt",
    "cuda": "trt",
    "torch": "train",
    "safetensors": "train",
    "yaml": "train",
    "skimage": "train",
    "matplotlib": "train",
    "onnx": "export",
    "onnxslim": "export",
    "modelopt": "export",
}


class JRGRError(Exception):
    """A user-facing error: bad input, a missing optional dependency, an incompatible artefact.

    The message names the offending file or value and what was expected.
    """


class MissingDependencyError(JRGRError):
    """An optional dependency is not installed; the message names the extra that provides it."""

    def __init__(self, module: str, extra: str, purpose: str) -> None:
        alternative = " (or [gpu] on a machine with CUDA)" if extra == "cpu" else ""
        super().__init__(
            f"{purpose} needs the Python module '{module}', which is not installed: "
            f"pip install 'jrgr-deploy[{extra}]'{alternative}"
        )
        self.module = module
        self.extra = extra


def require(modules: Mapping[str, str], purpose: str) -> None:
    """Raise MissingDependencyError for the first of `modules` (import name -> extra) that is not installed.

    Checked before any work starts, so a command never stops half-way for want of a package.
    """
    for module, extra in modules.items():
        if importlib.util.find_spec(module) is None:
            raise MissingDependencyError(module, extra, purpose)


def missing_dependency(error: ModuleNotFoundError, purpose: str) -> MissingDependencyError | None:
    """The MissingDependencyError for an ImportError of an optional module (None for anything else)."""
    top = (error.name or "").split(".")[0]
    if top not in EXTRA_OF_MODULE:
        return None
    return MissingDependencyError(top, EXTRA_OF_MODULE[top], purpose)
