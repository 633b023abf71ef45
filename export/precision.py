"""Precision conversion of an FP32 ONNX graph, calibrated on real frames (docs/ARCHITECTURE.md, "Export").

In TensorRT 10/11 strongly typed networks, precision is a property of the ONNX file, so every precision is
a separate graph, and every one of them runs (and is checked) in ONNX Runtime on the CPU:

- ``fp16``: ModelOpt AutoCast; the calibration frames decide which nodes stay FP32 (normalisations and
  reductions whose values overflow FP16). I/O stays float32 (`keep_io_types`), so the contract is unchanged.
- ``int8``: explicit Q/DQ by ModelOpt (entropy or max calibration), the form TensorRT builds INT8 kernels
  from. ORT's CPU provider runs it, but slower than FP32 (BENCHMARKS.md, Latency): it is a TensorRT artefact.
- ``int8-cpu``: ONNX Runtime's own static quantiser (QDQ, int8 weights, uint8 or int8 activations): the INT8
  artefact for ORT's CPU provider. How it quantises is `Int8CpuOptions` (`jrgr export --int8-*`): per-channel
  or per-tensor weights, 7-bit weights (`reduce_range`, for CPUs without VNNI, whose 8-bit products saturate),
  symmetric activations, and which boundary nodes stay FP32 (the first convolution, the last one, the output
  node: `keep_fp32`). The measured effect of each is in BENCHMARKS.md ("INT8 on the CPU").

ModelOpt is imported lazily; without it -> MissingDependencyError naming the ``export`` extra.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from jrgr_deploy.errors import JRGRError, MissingDependencyError
from jrgr_deploy.names import EXPORT_PRECISIONS

logger = logging.getLogger(__name__)

MIN_QDQ_OPSET = 19


def needs_calibration(precision: str) -> bool:
    return precision != "fp32"


def _import_modelopt(what: str) -> tuple[Any, Any]:
    try:
        from modelopt.onnx.autocast import convert_to_mixed_precision
        from modelopt.onnx.quantization import quantize
    except ImportError as error:
        raise MissingDependencyError("modelopt", "export", what) from error
    return convert_to_mixed_precision, quantize


def _check_calibration(calibration: np.ndarray | None, precision: str, src: Path) -> np.ndarray:
    """Validate (N,3,H,W) float32 calibration frames; for a fixed-batch graph, pad N to a multiple of it.

    The calibrators feed the graph whole batches, so a fixed batch B needs N % B == 0 (repeat the last frame).
    """
    import onnx

    if calibration is None or len(calibration) == 0:
        raise JRGRError(
            f"--precision {precision} needs calibration frames: pass --calib with a folder of rainy images, a "
            "video or a data-set root (refusing to write an uncalibrated file)"
        )
    if calibration.ndim != 4 or calibration.shape[1] != 3 or calibration.dtype != np.float32:
        raise JRGRError(f"calibration data must be (N,3,H,W) float32, got {calibration.shape} {calibration.dtype}")
    batch = graph_batch(onnx.load(str(src), load_external_data=False))
    missing = (-len(calibration)) % batch
    if missing:
        calibration = np.concatenate([calibration, np.repeat(calibration[-1:], missing, axis=0)])
    return calibration


def graph_batch(model: Any) -> int:
    """The fixed batch size of a graph's first input, or 1 when the batch axis is dynamic."""
    dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    return dim.dim_value if dim.HasField("dim_value") and dim.dim_value > 0 else 1


def convert_fp16(src: Path, dst: Path, input_name: str, calibration: np.ndarray | None) -> dict[str, Any]:
    """FP32 ONNX `src` -> mixed FP16/FP32 ONNX `dst` (ModelOpt AutoCast, float32 I/O kept).

    calibration: (N,3,H,W) float32 input frames; AutoCast runs them through the FP32 graph and keeps in
    FP32 every node whose activations exceed FP16's safe range. Returns the sidecar `quantization` entry.
    """
    import onnx

    calibration = _check_calibration(calibration, "fp16", src)
    convert_to_mixed_precision, _ = _import_modelopt("FP16 conversion (ModelOpt AutoCast)")
    # As an .npz file, AutoCast splits the frames into batches of the graph's own batch size (an in-memory
    # dict is taken as one single batch, which a fixed-batch graph refuses).
    frames_file = dst.with_name(dst.name + ".calib.npz")
    np.savez(frames_file, **{input_name: calibration})
    try:
        model = convert_to_mixed_precision(
            onnx_path=str(src),
            low_precision_type="fp16",
            keep_io_types=True,
            calibration_data=str(frames_file),
            providers=["cpu"],
        )
    finally:
        frames_file.unlink(missing_ok=True)
    onnx.save(model, str(dst))
    kept = sum(1 for node in model.graph.node if node.op_type == "Cast")
    return {
        "method": "modelopt.onnx.autocast.convert_to_mixed_precision",
        "low_precision_type": "fp16",
        "keep_io_types": True,
        "cast_nodes": kept,
        "calibration_frames": int(len(calibration)),
    }


def quantize_int8_modelopt(
    src: Path, dst: Path, input_name: str, calibration: np.ndarray | None, method: str = "entropy"
) -> dict[str, Any]:
    """FP32 ONNX `src` -> explicit Q/DQ INT8 ONNX `dst` for TensorRT (ModelOpt, calibrated on the CPU).

    The layers between the Q/DQ pairs are cast to FP16 (`high_precision_dtype="fp16"`, ModelOpt's default):
    a strongly typed TensorRT network runs each layer in the type the file gives it, so FP32 there would
    leave the non-INT8 layers at FP32 speed. The accuracy check (ORT, CPU) therefore covers INT8 + FP16.
    """
    import onnx

    calibration = _check_calibration(calibration, "int8", src)
    if method not in ("entropy", "max"):
        raise JRGRError(f"--calib-method '{method}' is not one ModelOpt INT8 offers: entropy or max")
    opset = max(op.version for op in onnx.load(str(src)).opset_import if op.domain in ("", "ai.onnx"))
    if opset < MIN_QDQ_OPSET:
        raise JRGRError(f"INT8 Q/DQ needs --opset >= {MIN_QDQ_OPSET}, the FP32 graph has opset {opset}")
    _, quantize = _import_modelopt("INT8 quantisation (ModelOpt)")
    quantize(
        onnx_path=str(src),
        quantize_mode="int8",
        calibration_data={input_name: calibration},
        calibration_method=method,
        calibration_eps=["cpu"],
        high_precision_dtype="fp16",
        output_path=str(dst),
        log_level="WARNING",
    )
    if not dst.is_file():
        raise JRGRError(f"ModelOpt INT8 quantisation wrote no file '{dst}'")
    model = onnx.load(str(dst))
    qdq = sum(1 for node in model.graph.node if node.op_type == "QuantizeLinear")
    if qdq == 0:
        raise JRGRError(f"ModelOpt INT8 quantisation of '{src.name}' inserted no Q/DQ node (nothing quantised)")
    return {
        "method": "modelopt.onnx.quantization.quantize",
        "format": "QDQ",
        "target": "tensorrt",
        "calibration_method": method,
        "calibration_frames": int(len(calibration)),
        "quantize_linear_nodes": qdq,
        "high_precision_dtype": "fp16",
    }


KEEP_FP32_CHOICES = ("first-conv", "last-conv", "output")
ACTIVATION_CHOICES = ("uint8", "int8-symmetric")


@dataclass(frozen=True)
class Int8CpuOptions:
    """How ONNX Runtime's static quantiser makes an `int8-cpu` file (`jrgr export --int8-*` options).

    per_channel: one weight scale per output channel (else one per tensor). reduce_range: 7-bit weights, so
    that the u8 x s8 pair sums of AVX2 kernels (no VNNI) cannot saturate int16. activations: ``uint8``
    (asymmetric, zero point from the calibrated range) or ``int8-symmetric`` (zero point 0). keep_fp32:
    nodes left unquantised, among ``first-conv`` (the convolutions reading the graph input), ``last-conv``
    (those whose output reaches the graph output through non-convolution nodes only: the predicted rain layer)
    and ``output`` (the nodes producing the graph output, e.g. the residual subtraction O - R). percentile:
    the kept share of values for the ``percentile`` calibration method.
    """

    per_channel: bool = True
    reduce_range: bool = False
    activations: str = "uint8"
    keep_fp32: tuple[str, ...] = ()
    percentile: float = 99.999

    def __post_init__(self) -> None:
        if self.activations not in ACTIVATION_CHOICES:
            raise JRGRError(f"--int8-activations '{self.activations}' is not one of {', '.join(ACTIVATION_CHOICES)}")
        unknown = [k for k in self.keep_fp32 if k not in KEEP_FP32_CHOICES]
        if unknown:
            raise JRGRError(f"--int8-keep-fp32 {' '.join(unknown)}: expected some of {', '.join(KEEP_FP32_CHOICES)}")
        if not 90.0 < self.percentile <= 100.0:
            raise JRGRError(f"--int8-percentile must be in (90, 100], got {self.percentile}")

    def describe(self) -> dict[str, Any]:
        """The sidecar's record of these options."""
        return {**asdict(self), "keep_fp32": list(self.keep_fp32)}


_CONV_OPS = ("Conv", "ConvTranspose")


def boundary_nodes(model: Any, keep: tuple[str, ...]) -> list[str]:
    """Names of the nodes of ONNX `model` that `keep` (see `Int8CpuOptions.keep_fp32`) leaves in FP32."""
    graph = model.graph
    inputs = {i.name for i in graph.input}
    outputs = {o.name for o in graph.output}
    producer = {out: node for node in graph.node for out in node.output}
    chosen: list[str] = []
    if "first-conv" in keep:
        chosen += [n.name for n in graph.node if n.op_type in _CONV_OPS and n.input[0] in inputs]
    if "output" in keep:
        chosen += [n.name for n in graph.node if outputs.intersection(n.output)]
    if "last-conv" in keep:
        # Walk back from the outputs through non-convolution nodes (activations, the residual subtraction);
        # the convolutions reached first produce what the net predicts.
        seen: set[str] = set()
        frontier = list(outputs)
        while frontier:
            node = producer.get(frontier.pop())
            if node is None or node.name in seen:
                continue
            seen.add(node.name)
            if node.op_type in _CONV_OPS:
                chosen.append(node.name)
            else:
                frontier += [name for name in node.input if name in producer]
    return list(dict.fromkeys(chosen))


def quantize_int8_ort(
    src: Path, dst: Path, input_name: str, calibration: np.ndarray | None, method: str = "entropy",
    options: Int8CpuOptions | None = None,
) -> dict[str, Any]:
    """FP32 ONNX `src` -> INT8 ONNX `dst` for the ONNX Runtime CPU provider (`quantize_static`).

    QDQ format, int8 weights, activations and boundary nodes as `options` says (`Int8CpuOptions`): the form
    ORT fuses into integer convolutions on x86-64. `method`: entropy, max (ORT's MinMax) or percentile.

    Runs in a fresh interpreter: ModelOpt's INT8 path monkey-patches ORT's calibrators for the rest of the
    process it ran in (`modelopt.onnx.quantization.ort_patching`), after which ORT's own quantiser collects
    nothing. A spawned worker (numpy + onnxruntime only) is immune to what ran before it.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    options = options or Int8CpuOptions()
    calibration = _check_calibration(calibration, "int8-cpu", src)
    if method not in ORT_CALIBRATION_METHODS:
        raise JRGRError(f"--calib-method '{method}' is not one of {', '.join(ORT_CALIBRATION_METHODS)}")
    import onnx

    batch = graph_batch(onnx.load(str(src), load_external_data=False))
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        kept = pool.submit(_quantize_int8_ort_here, str(src), str(dst), input_name, calibration, method, batch,
                           options).result()
    return {
        "method": "onnxruntime.quantization.quantize_static",
        "format": "QDQ",
        "target": "onnxruntime-cpu",
        "activations": options.activations,
        "weights": f"int{7 if options.reduce_range else 8} {'per-channel' if options.per_channel else 'per-tensor'}",
        "options": options.describe(),
        "fp32_nodes": kept,
        "calibration_method": method,
        "calibration_frames": int(len(calibration)),
    }


ORT_CALIBRATION_METHODS = ("entropy", "max", "percentile")


def _quantize_int8_ort_here(
    src: str, dst: str, input_name: str, calibration: np.ndarray, method: str, batch: int, options: Int8CpuOptions,
) -> list[str]:
    """The quantiser's worker (see `quantize_int8_ort`); returns the names of the nodes kept in FP32."""
    sys.stdout = sys.stderr  # a dedicated worker process: its progress output must not reach the parent's stdout
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    methods = {"entropy": CalibrationMethod.Entropy, "max": CalibrationMethod.MinMax,
               "percentile": CalibrationMethod.Percentile}

    class _Frames(CalibrationDataReader):
        def __init__(self) -> None:
            self._iter = iter(calibration[i : i + batch] for i in range(0, len(calibration), batch))

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self._iter, None)
            return None if batch is None else {input_name: batch}

    prepared = Path(dst).with_name(Path(dst).stem + ".pre.onnx")
    symmetric = options.activations == "int8-symmetric"
    try:
        # ONNX shape inference + graph optimisation first (ORT's documented preparation); its symbolic
        # shape inference cannot resolve the U-Net's dynamic H/W through the skip concatenations. The nodes
        # to keep in FP32 are found in the prepared graph, the one that is quantised.
        quant_pre_process(src, str(prepared), skip_symbolic_shape=True)
        kept = boundary_nodes(onnx.load(str(prepared)), options.keep_fp32)
        quantize_static(
            str(prepared),
            dst,
            _Frames(),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QInt8 if symmetric else QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=options.per_channel,
            reduce_range=options.reduce_range,
            nodes_to_exclude=kept,
            calibrate_method=methods[method],
            extra_options={"ActivationSymmetric": symmetric, "CalibPercentile": options.percentile},
        )
    finally:
        prepared.unlink(missing_ok=True)
    return kept


def convert_precision(
    precision: str, src: Path, dst: Path, input_name: str, calibration: np.ndarray | None, method: str,
    int8_cpu: Int8CpuOptions | None = None,
) -> dict[str, Any]:
    """Dispatch on `precision` (fp16, int8, int8-cpu); returns the sidecar `quantization` entry.

    The calibrators print progress bars on stdout; they are sent to stderr so that stdout stays the
    caller's (e.g. `jrgr export --json`).
    """
    with contextlib.redirect_stdout(sys.stderr):
        if precision == "fp16":
            return convert_fp16(src, dst, input_name, calibration)
        if precision == "int8":
            return quantize_int8_modelopt(src, dst, input_name, calibration, method)
        if precision == "int8-cpu":
            return quantize_int8_ort(src, dst, input_name, calibration, method, int8_cpu)
    allowed = ", ".join(EXPORT_PRECISIONS[1:])
    raise JRGRError(f"precision '{precision}' is not one of {allowed} (fp32 needs no conversion)")
