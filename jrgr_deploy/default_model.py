"""The embedded default model shipped in `jrgr_deploy/weights/` (see its README.md, the model card).

Files (all optional until a default model is trained and shipped):
- `jrgr_tiny.safetensors`        the JRGR checkpoint after joint training (all four generators)
- `jrgr_tiny_stage1.safetensors` the supervised stage-1 baseline
- `f_r.onnx`, `g_r.onnx`         FP32 exports of the real-rain removal / generation nets (+ `.json` sidecars)
- `f_r.int8-cpu.onnx` etc.       the best CPU precision that passed the accuracy gate (+ sidecar)
"""

from __future__ import annotations

from pathlib import Path

from jrgr_deploy.artifact import artifact_name
from jrgr_deploy.errors import JRGRError

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
CHECKPOINT_NAME = "jrgr_tiny.safetensors"
STAGE1_NAME = "jrgr_tiny_stage1.safetensors"


def _require(path: Path, what: str) -> Path:
    if not path.is_file():
        raise JRGRError(
            f"no default {what} is installed (looked for '{path}'); pass --weights, or train one with "
            "'jrgr train' and export it with 'jrgr export'"
        )
    return path


def default_checkpoint(stage1: bool = False) -> Path:
    """The shipped JRGR checkpoint (or its supervised stage-1 baseline)."""
    name = STAGE1_NAME if stage1 else CHECKPOINT_NAME
    return _require(WEIGHTS_DIR / name, "stage-1 checkpoint" if stage1 else "checkpoint")


def default_onnx(net: str = "f_r", precision: str = "fp32") -> Path:
    """The shipped ONNX export of `net` ("f_r" or "g_r") at `precision` ("fp32" or a CPU precision)."""
    return _require(WEIGHTS_DIR / artifact_name(net, precision), f"{net} ONNX model ({precision})")


def fastest_cpu_onnx(net: str = "f_r") -> Path:
    """The fastest shipped CPU artefact of `net`: the quantised one when it exists, else FP32.

    The quantised file is shipped only after it passed the export accuracy gate (model card).
    """
    for precision in ("int8-cpu", "fp32"):
        path = WEIGHTS_DIR / artifact_name(net, precision)
        if path.is_file():
            return path
    return default_onnx(net)


def shipped_files() -> list[Path]:
    """Everything in the weights folder, sorted (for `jrgr info`)."""
    return sorted(p for p in WEIGHTS_DIR.iterdir() if p.is_file()) if WEIGHTS_DIR.is_dir() else []
