"""The embedded default model shipped in `jrgr_deploy/weights/` (see its README.md, the model card).

Files (all optional until a default model is trained and shipped):
- `jrgr_tiny.safetensors`        the JRGR checkpoint after joint training (all four generators)
- `jrgr_tiny_stage1.safetensors` the supervised stage-1 baseline
- `f_r.onnx`, `g_r.onnx`         FP32 exports of the real-rain removal / generation nets (+ `.json` sidecars)
- `f_r.int8-cpu.onnx` etc.       the CPU's INT8 export, shipped when it passed the accuracy gate (+ sidecar)

On a CPU the runtime runs `f_r.int8-cpu.onnx` when it is there and its sidecar records that it passed the export
gate, else `f_r.onnx` (`cpu_onnx_choice`, which also says why; `jrgr info` prints it).
"""

from __future__ import annotations

from pathlib import Path

from jrgr_deploy.artifact import artifact_name, read_sidecar
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


def _gate_text(accuracy: dict) -> str:
    gate = accuracy.get("gate", {})
    deraining = accuracy.get("deraining")
    if deraining is not None:
        drop_db = deraining["drop_db"]  # FP32's PSNR-Y minus this file's: positive is a loss
        return (f"deraining PSNR-Y {abs(drop_db):.2f} dB {'below' if drop_db >= 0 else 'above'} FP32 on "
                f"{deraining['pairs']} validation pairs, gate {gate.get('max_drop_db')} dB")
    agreement = accuracy.get("vs_pytorch_fp32", {})
    return f"PSNR vs FP32 {agreement.get('psnr_db', float('nan')):.1f} dB, gate {gate.get('min_psnr_db')} dB"


def cpu_onnx_choice(net: str = "f_r") -> tuple[Path, str]:
    """The shipped artefact of `net` the runtime runs on a CPU, and why: the CPU's INT8 file when it is there
    and its sidecar records that it passed the export accuracy gate, else FP32."""
    int8 = WEIGHTS_DIR / artifact_name(net, "int8-cpu")
    if not int8.is_file():
        why = f"no {int8.name} is shipped"
    else:
        try:
            accuracy = read_sidecar(int8).accuracy
        except JRGRError as error:
            why = f"{int8.name} is not usable: {error}"
        else:
            if accuracy.get("gate", {}).get("passed") is True:
                return int8, f"INT8 for the CPU; it passed the export gate ({_gate_text(accuracy)})"
            why = f"{int8.name}'s sidecar does not record a passed export gate"
    return default_onnx(net), f"FP32; {why}"


def fastest_cpu_onnx(net: str = "f_r") -> Path:
    """The shipped CPU artefact of `net` the runtime runs by default (see `cpu_onnx_choice`)."""
    return cpu_onnx_choice(net)[0]


def shipped_files() -> list[Path]:
    """Everything in the weights folder, sorted (for `jrgr info`)."""
    return sorted(p for p in WEIGHTS_DIR.iterdir() if p.is_file()) if WEIGHTS_DIR.is_dir() else []
