"""Accuracy of an exported file: agreement with the FP32 PyTorch net, deraining quality, and the gate.

Agreement is measured on output tensors mapped to the image scale, v -> (v + 1) * 127.5 (not clipped, not
rounded): for F nets that is the 0..255 image; for G nets (rain layers in [-2, 2]) it is the same scale, so a
G-net PSNR says how much the rain added to an image would differ. PSNR = 20 log10(255 / RMSE) (capped at
`PSNR_CAP_DB` for identical outputs, so the JSON stays finite), SSIM of Wang et al. on RGB (`jrgr_deploy.metrics`).
Deraining quality is PSNR-Y (the deraining benchmarks' Y channel, `jrgr_deploy.metrics`) of the output against
ground truth, averaged in dB. Every file is run through the runtime's ONNX Runtime backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from jrgr_deploy.artifact import ArtifactInfo
from jrgr_deploy.errors import JRGRError
from jrgr_deploy.frames import nchw_to_rgb
from jrgr_deploy.metrics import psnr, psnr_y, ssim

PSNR_CAP_DB = 200.0
# An FP32 graph must reproduce the PyTorch net up to float reordering; more means a broken export.
FP32_MAX_ABS_ERROR = 1e-3
DEFAULT_MAX_DROP_DB = 1.0
DEFAULT_MIN_PSNR_DB = 30.0


def _image_scale(batch: np.ndarray) -> np.ndarray:
    """(3,H,W) output tensor -> (H,W,3) float64 on the 0..255 image scale (unclipped)."""
    return (np.asarray(batch, np.float64).transpose(1, 2, 0) + 1.0) * 127.5


def run_artifact(path: Path, info: ArtifactInfo, inputs: np.ndarray) -> np.ndarray:
    """Run an ONNX file through the runtime's own ONNX Runtime backend (CPU), as `jrgr derain` would: what is
    verified is what runs, the sidecar `info` it will be written with included (names, contract).

    inputs: (N,3,H,W) float32 -> (N,3,H,W) float32 outputs. A graph with a fixed batch B gets chunks of B, the
    last one padded with copies of the last frame (dropped from the result).
    """
    from jrgr_deploy.runtime.backends.onnxruntime_backend import OnnxRuntimeBackend

    with OnnxRuntimeBackend(path, device="cpu", info=info) as backend:
        batch = backend.input_contract.shape[0] or 1
        count = len(inputs)
        padded = np.concatenate([inputs, np.repeat(inputs[-1:], (-count) % batch, axis=0)])
        outputs = [backend(np.ascontiguousarray(padded[i : i + batch])) for i in range(0, len(padded), batch)]
    return np.concatenate(outputs)[:count].astype(np.float32, copy=False)


def run_torch(net: Any, inputs: np.ndarray) -> np.ndarray:
    """The PyTorch net (eval mode) on (N,3,H,W) float32, one frame at a time -> (N,3,H,W) float32."""
    import torch

    with torch.no_grad():
        outputs = [net(torch.from_numpy(inputs[i : i + 1])).numpy() for i in range(len(inputs))]
    return np.concatenate(outputs).astype(np.float32, copy=False)


def output_agreement(reference: np.ndarray, candidate: np.ndarray) -> dict[str, float]:
    """PSNR (mean and worst frame, dB), SSIM (mean) and max abs error of `candidate` vs `reference`.

    Both (N,3,H,W) float32 in the nets' tensor units.
    """
    if reference.shape != candidate.shape:
        raise JRGRError(f"output shapes differ: reference {reference.shape}, candidate {candidate.shape}")
    psnrs, ssims = [], []
    for ref, cand in zip(reference, candidate, strict=True):
        a, b = _image_scale(ref), _image_scale(cand)
        psnrs.append(min(psnr(a, b), PSNR_CAP_DB))
        ssims.append(ssim(a, b))
    return {
        "psnr_db": float(np.mean(psnrs)),
        "psnr_db_min": float(np.min(psnrs)),
        "ssim": float(np.mean(ssims)),
        "max_abs_error": float(np.max(np.abs(reference - candidate))),
        "frames": len(psnrs),
    }


def deraining_psnr_y(outputs: np.ndarray, clean: np.ndarray) -> float:
    """Mean PSNR-Y (dB) of (N,3,H,W) outputs in [-1, 1] against (N,H,W,3) uint8 RGB ground truth."""
    restored = nchw_to_rgb(outputs)
    if restored.shape != clean.shape:
        raise JRGRError(f"restored frames {restored.shape} and ground truth {clean.shape} differ in shape")
    return float(np.mean([min(psnr_y(r, c), PSNR_CAP_DB) for r, c in zip(restored, clean, strict=True)]))


@dataclass(frozen=True)
class Gate:
    """When a file is refused.

    FP32 files: max abs error vs PyTorch above `fp32_max_abs_error` (a broken export).
    Reduced precision with ground truth: deraining PSNR-Y drop vs FP32 PyTorch above `max_drop_db`.
    Reduced precision without ground truth (or a G net): mean PSNR vs FP32 PyTorch below `min_psnr_db`.
    """

    max_drop_db: float = DEFAULT_MAX_DROP_DB
    min_psnr_db: float = DEFAULT_MIN_PSNR_DB
    fp32_max_abs_error: float = FP32_MAX_ABS_ERROR

    def check(self, precision: str, report: dict[str, Any]) -> str | None:
        """None when `report` (see `accuracy_report`) passes, else the reason with the numbers."""
        agreement = report["vs_pytorch_fp32"]
        if precision == "fp32":
            if not agreement["max_abs_error"] <= self.fp32_max_abs_error:
                return (f"max abs error vs PyTorch {agreement['max_abs_error']:.3g} > "
                        f"{self.fp32_max_abs_error:g} (the FP32 graph does not reproduce the net)")
            return None
        deraining = report.get("deraining")
        if deraining is not None:
            if not deraining["drop_db"] <= self.max_drop_db:
                return (f"deraining PSNR-Y {deraining['psnr_y_db']:.2f} dB vs FP32 "
                        f"{deraining['psnr_y_db_fp32']:.2f} dB: drop {deraining['drop_db']:.2f} dB > "
                        f"--max-drop-db {self.max_drop_db:g}")
            return None
        if not agreement["psnr_db"] >= self.min_psnr_db:
            return (f"PSNR vs FP32 PyTorch {agreement['psnr_db']:.2f} dB < --min-psnr-db {self.min_psnr_db:g} "
                    "(no ground truth given: pass --val-rainy/--val-clean to gate on deraining PSNR-Y instead)")
        return None


def accuracy_report(
    reference: np.ndarray,
    candidate: np.ndarray,
    frames_source: str,
    clean: np.ndarray | None = None,
    reference_on_clean: np.ndarray | None = None,
    candidate_on_clean: np.ndarray | None = None,
) -> dict[str, Any]:
    """The sidecar's `accuracy` entry.

    reference / candidate: (N,3,H,W) outputs of FP32 PyTorch and of the file on the held-aside frames.
    With ground truth `clean` ((M,H,W,3) uint8 RGB) and the two nets' outputs on its rainy frames, adds
    `deraining`: PSNR-Y of FP32 PyTorch, of this file, and the drop (positive = this file is worse).
    """
    report: dict[str, Any] = {
        "frames_source": frames_source,
        "vs_pytorch_fp32": output_agreement(reference, candidate),
    }
    if clean is not None and reference_on_clean is not None and candidate_on_clean is not None:
        fp32_db = deraining_psnr_y(reference_on_clean, clean)
        this_db = deraining_psnr_y(candidate_on_clean, clean)
        report["deraining"] = {
            "psnr_y_db_fp32": fp32_db,
            "psnr_y_db": this_db,
            "drop_db": fp32_db - this_db,
            "pairs": int(len(clean)),
        }
    return report


def format_table(rows: list[tuple[str, str, dict[str, Any], str]]) -> str:
    """A plain-text table of (file, precision, accuracy report, verdict) rows."""
    header = ("file", "precision", "PSNR vs PyTorch dB (min)", "SSIM", "max |err|", "PSNR-Y FP32/this (drop)", "gate")
    lines = []
    for name, precision, report, verdict in rows:
        agreement = report["vs_pytorch_fp32"]
        deraining = report.get("deraining")
        derain = "-" if deraining is None else (
            f"{deraining['psnr_y_db_fp32']:.2f}/{deraining['psnr_y_db']:.2f} ({deraining['drop_db']:+.2f})")
        lines.append((
            name, precision, f"{agreement['psnr_db']:.2f} ({agreement['psnr_db_min']:.2f})",
            f"{agreement['ssim']:.4f}", f"{agreement['max_abs_error']:.2e}", derain, verdict,
        ))
    widths = [max(len(str(row[i])) for row in [header, *lines]) for i in range(len(header))]
    text = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
            for row in [header, *lines]]
    text.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(text)

