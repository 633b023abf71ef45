"""A Triton Inference Server model repository for exported nets (serving many cameras from one server).

Layout, one model per (net, precision):

    <repo>/jrgr_f_r/config.pbtxt            platform onnxruntime_onnx or tensorrt_plan
    <repo>/jrgr_f_r/1/model.onnx            (or 1/model.plan) + model.onnx.json, the artefact's sidecar
    <repo>/jrgr_f_r_int8_cpu/...            other precisions get a suffix

Dynamic graphs get `max_batch_size` > 0 and dynamic batching (requests from several cameras are batched on
the server), so `dims` omit the batch axis and use -1 for a dynamic H or W. Fixed-shape graphs get
`max_batch_size: 0` and their full shape.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from jrgr_deploy.artifact import ArtifactInfo, write_sidecar
from jrgr_deploy.errors import JRGRError
from jrgr_deploy.output_files import atomic_write, ensure_folder, write_text_atomic

PLATFORMS = {"onnx": ("onnxruntime_onnx", "model.onnx"), "engine": ("tensorrt_plan", "model.plan")}
DEVICES = {"gpu": "KIND_GPU", "cpu": "KIND_CPU"}


@dataclass(frozen=True)
class TritonOptions:
    """Model-configuration choices: dynamic batching up to `max_batch_size`, `instances` per device.

    plan: serve a TensorRT engine built on this machine (platform tensorrt_plan) instead of the ONNX file.
    device: "gpu" or "cpu"; None = CPU instances for the ``int8-cpu`` artefact, GPU instances otherwise.
    """

    max_batch_size: int = 8
    instances: int = 1
    device: str | None = None
    max_queue_delay_us: int = 2000
    plan: bool = False


def model_name(net: str, precision: str) -> str:
    """``jrgr_f_r`` for FP32, ``jrgr_f_r_fp16``, ``jrgr_f_r_int8``, ``jrgr_f_r_int8_cpu``."""
    suffix = "" if precision == "fp32" else "_" + precision.replace("-", "_")
    return f"jrgr_{net}{suffix}"


def _dims(values: list[int | None]) -> str:
    return "[ " + ", ".join("-1" if v is None else str(v) for v in values) + " ]"


def config_pbtxt(name: str, info: ArtifactInfo, max_batch_size: int, instances: int, device: str,
                 max_queue_delay_us: int = 2000) -> str:
    """The text-format `ModelConfig` for one model (see the module doc for the batching rule)."""
    if info.kind not in PLATFORMS:
        raise JRGRError(f"Triton serves onnx or engine artefacts, not '{info.kind}'")
    if device not in DEVICES:
        raise JRGRError(f"Triton instance device '{device}' is not one of {', '.join(DEVICES)}")
    if info.kind == "engine" and device != "gpu":
        raise JRGRError("a TensorRT plan runs only on a GPU instance (--triton-device gpu)")
    if instances < 1:
        raise JRGRError(f"--triton-instances must be >= 1, got {instances}")
    shape = list(info.input_shape)
    dynamic_batch = shape[0] is None
    if dynamic_batch:
        if max_batch_size < 1:
            raise JRGRError(f"--triton-max-batch must be >= 1 for a dynamic-batch model, got {max_batch_size}")
        if info.profile_max is not None and max_batch_size > info.profile_max[0]:
            raise JRGRError(
                f"--triton-max-batch {max_batch_size} exceeds the engine profile's max batch {info.profile_max[0]}"
            )
        dims, batch_line = shape[1:], f"max_batch_size: {max_batch_size}"
    else:
        dims, batch_line = shape, "max_batch_size: 0"
    if info.kind == "engine" and info.profile_min is not None and info.profile_max is not None:
        # An engine's H/W are dynamic exactly where its profile spans more than one size.
        offset = 1 if dynamic_batch else 0
        dims = [None if info.profile_min[i + offset] != info.profile_max[i + offset] else info.profile_max[i + offset]
                for i in range(len(dims))]
    platform, _ = PLATFORMS[info.kind]
    lines = [
        f'name: "{name}"',
        f'platform: "{platform}"',
        batch_line,
        "input [",
        "  {",
        f'    name: "{info.input_name}"',
        "    data_type: TYPE_FP32",
        f"    dims: {_dims(dims)}",
        "  }",
        "]",
        "output [",
        "  {",
        f'    name: "{info.output_name}"',
        "    data_type: TYPE_FP32",
        f"    dims: {_dims(dims)}",
        "  }",
        "]",
        "instance_group [",
        "  {",
        f"    count: {instances}",
        f"    kind: {DEVICES[device]}",
        "  }",
        "]",
    ]
    if dynamic_batch:
        preferred = sorted({b for b in (1, 2, 4, 8, max_batch_size) if b <= max_batch_size})
        lines += [
            "dynamic_batching {",
            f"  preferred_batch_size: [ {', '.join(map(str, preferred))} ]",
            f"  max_queue_delay_microseconds: {max_queue_delay_us}",
            "}",
        ]
    return "\n".join(lines) + "\n"


def write_triton_model(repo: Path, artifact: Path, info: ArtifactInfo, precision: str, options: TritonOptions) -> Path:
    """Copy `artifact` into `<repo>/<model>/1/` with its sidecar and write `config.pbtxt`; returns the model dir."""
    name = model_name(info.net, precision)
    model_dir = Path(repo) / name
    version_dir = model_dir / "1"
    ensure_folder(version_dir, "Triton model folder")
    device = options.device or ("cpu" if precision == "int8-cpu" else "gpu")
    text = config_pbtxt(name, info, options.max_batch_size, options.instances, device, options.max_queue_delay_us)
    _, file_name = PLATFORMS[info.kind]
    target = version_dir / file_name
    with atomic_write(target) as tmp:  # Triton never sees half a model file
        shutil.copyfile(artifact, tmp)
    write_sidecar(target, info)
    write_text_atomic(model_dir / "config.pbtxt", text)
    return model_dir
