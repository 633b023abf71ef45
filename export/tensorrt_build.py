"""TensorRT engine build from a verified ONNX file (TensorRT 10/11 Python API only; docs/ARCHITECTURE.md, "Export").

Precision is a property of the ONNX file (FP16 AutoCast / INT8 Q/DQ graphs), so the builder gets no FP16/INT8
flags and no calibrator (both removed in TensorRT 11). TensorRT 10 needs the network created strongly typed to
honour the file's types; TensorRT 11 always is (its flag is kept only for compatibility), so the flag is set
when the installed TensorRT still has it. The optimisation profile spans --min-shape / --shape / --max-shape;
the timing cache file is loaded before and saved after every build, so rebuilding the same layers on the same
GPU is fast. An engine only runs on the GPU architecture and TensorRT version it was built with: both are in
its file name (``f_r.fp16.sm90.trt10.8.plan``) and its sidecar.

`tensorrt` and `cuda-python` are imported lazily (`jrgr_deploy.runtime.backends.nvidia`, shared with the TensorRT
backend); without them -> MissingDependencyError naming ``[trt]``.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from jrgr_deploy.artifact import ArtifactInfo, write_sidecar
from jrgr_deploy.errors import JRGRError
from jrgr_deploy.export.shapes import ShapePlan
from jrgr_deploy.runtime.backends.nvidia import GpuInfo, import_tensorrt, query_gpu

logger = logging.getLogger(__name__)


def engine_name(net: str, precision: str, gpu: GpuInfo, tensorrt_version: str) -> str:
    """``f_r.fp16.sm90.trt10.8.plan``: net, precision variant, GPU architecture, TensorRT major.minor."""
    major_minor = ".".join(tensorrt_version.split(".")[:2])
    return f"{net}.{precision}.{gpu.arch}.trt{major_minor}.plan"


def _parse_onnx(trt: Any, network: Any, logger_trt: Any, onnx_path: Path) -> None:
    parser = trt.OnnxParser(network, logger_trt)
    if not parser.parse_from_file(str(onnx_path)):
        errors = []
        for index in range(parser.num_errors):
            error = parser.get_error(index)
            errors.append(f"{error.code()}: {error.desc()}")
        raise JRGRError(f"TensorRT's ONNX parser rejected '{onnx_path}': " + "; ".join(errors or ["no detail"]))


def _load_timing_cache(config: Any, path: Path) -> Any:
    data = path.read_bytes() if path.is_file() else b""
    cache = config.create_timing_cache(data)
    # A cache from another GPU or TensorRT version is not an error: TensorRT refuses it and times afresh.
    if not config.set_timing_cache(cache, False):
        logger.warning("timing cache '%s' does not match this GPU/TensorRT; starting an empty one", path)
        cache = config.create_timing_cache(b"")
        config.set_timing_cache(cache, False)
    return cache


def build_engine(
    onnx_path: Path,
    out_dir: Path,
    onnx_info: ArtifactInfo,
    precision: str,
    plan: ShapePlan,
    *,
    workspace_bytes: int = 2 << 30,
    timing_cache: Path | None = None,
) -> tuple[Path, ArtifactInfo]:
    """Build `onnx_path` into a serialized engine in `out_dir` and write its sidecar.

    The sidecar copies the ONNX file's (checkpoint, contract, accuracy) and adds the profile shapes,
    TensorRT version, GPU name and compute capability. Returns (engine path, engine sidecar info).
    """
    trt = import_tensorrt("building a TensorRT engine")
    gpu = query_gpu(purpose="building a TensorRT engine")
    logger_trt = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger_trt)
    flags = 0
    if hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED") and int(trt.__version__.split(".")[0]) < 11:
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    _parse_onnx(trt, network, logger_trt, onnx_path)
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_bytes)
    if not plan.fixed:
        # A dynamic input needs its min/opt/max; a fixed-shape graph needs (and gets) no profile.
        profile = builder.create_optimization_profile()
        profile.set_shape(onnx_info.input_name, plan.profile_min, plan.work, plan.profile_max)
        config.add_optimization_profile(profile)
    cache_path = Path(timing_cache) if timing_cache is not None else None
    if cache_path is not None:
        _load_timing_cache(config, cache_path)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise JRGRError(f"TensorRT failed to build an engine from '{onnx_path}' (see the TensorRT log above)")
    from jrgr_deploy.output_files import atomic_write, ensure_parent

    if cache_path is not None:
        with atomic_write(ensure_parent(cache_path, "timing cache")) as tmp:
            tmp.write_bytes(bytes(config.get_timing_cache().serialize()))
    path = Path(out_dir) / engine_name(onnx_info.net, precision, gpu, trt.__version__)
    with atomic_write(path) as tmp:  # never half an engine under its name
        tmp.write_bytes(bytes(serialized))
    info = dataclasses.replace(
        onnx_info,
        kind="engine",
        input_shape=onnx_info.input_shape,
        profile_min=list(plan.profile_min),
        profile_opt=list(plan.work),
        profile_max=list(plan.profile_max),
        tensorrt_version=trt.__version__,
        gpu_name=gpu.name,
        compute_capability=gpu.compute_capability,
        tool_versions={**onnx_info.tool_versions, "tensorrt": trt.__version__},
        accuracy={**onnx_info.accuracy, "measured_on": f"{onnx_path.name} in ONNX Runtime (CPU), before the build"},
    )
    write_sidecar(path, info)
    logger.info("wrote engine %s (+ sidecar)", path)
    return path, info
