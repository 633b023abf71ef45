"""PyTorch generator -> checked, simplified ONNX graph (FP32). Verification is `accuracy`'s job.

Uses torch's TorchScript-based exporter (`dynamo=False`): it exports the U-Net's skip concatenations with
dynamic H/W directly from `dynamic_axes`, whereas the torch.export-based one needs every H/W relation
spelt out as symbolic-shape constraints and the onnxscript package. torch is pinned (2.13.0), where the
TorchScript exporter is still shipped.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np

from jrgr_deploy.errors import JRGRError
from jrgr_deploy.export.net_io import NetIO

logger = logging.getLogger(__name__)

MIN_OPSET = 17


def export_fp32_onnx(
    net: object, path: str | Path, io: NetIO, example: np.ndarray, *, fixed: bool, opset: int = 19
) -> Path:
    """Trace `net` (an eval-mode torch.nn.Module) on `example` ((N,3,H,W) float32) and write an FP32 ONNX.

    fixed=False: batch, height and width are dynamic axes named ``batch``, ``height``, ``width`` on both
    the input and the output. The graph is checked with the ONNX checker (full check, with shape
    inference) and simplified with onnxslim (constant folding, redundant-node removal); the simplified
    graph is checked again. Returns `path`.
    """
    import onnx
    import onnxslim
    import torch

    if opset < MIN_OPSET:
        raise JRGRError(f"--opset {opset} is too old: need >= {MIN_OPSET} (>= 19 for INT8 Q/DQ)")
    path = Path(path)
    dynamic_axes = None
    if not fixed:
        axes = {0: "batch", 2: "height", 3: "width"}
        dynamic_axes = {io.input_name: axes, io.output_name: axes}
    with warnings.catch_warnings():
        # The deprecation notice of the TorchScript exporter, tracer notes on the nets' Python-side size
        # checks (they hold for every contract-abiding shape), and InstanceNorm's "train=True" (it
        # normalises with the frame's own statistics in eval mode too, which is what the net does).
        warnings.simplefilter("ignore")
        with torch.no_grad():
            torch.onnx.export(
                net,
                (torch.from_numpy(np.ascontiguousarray(example, dtype=np.float32)),),
                str(path),
                dynamo=False,
                opset_version=opset,
                input_names=[io.input_name],
                output_names=[io.output_name],
                dynamic_axes=dynamic_axes,
                do_constant_folding=True,
            )
    model = onnx.load(str(path))
    _check(model, path, "exported")
    slim = onnxslim.slim(model)
    _check(slim, path, "onnxslim-simplified")
    onnx.save(slim, str(path))
    logger.info("ONNX %s: %d nodes after onnxslim (was %d)", path.name, len(slim.graph.node), len(model.graph.node))
    return path


def _check(model: object, path: Path, what: str) -> None:
    import onnx

    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as error:
        raise JRGRError(f"the {what} ONNX graph for '{path.name}' fails the ONNX checker: {error}") from error
