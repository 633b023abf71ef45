"""ONNX Runtime backend: CPU provider (tuned session options), CUDA and TensorRT execution providers.

The CUDA / TensorRT execution providers come with `onnxruntime-gpu` (extra `[gpu]`); asking for one
that the installed onnxruntime cannot give is an error, never a silent fall-back to the CPU.
On a GPU provider the output is bound on the device with IO binding, so ORT does not allocate a
fresh output buffer per frame; the copy back to the host happens once per call.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from jrgr_deploy.artifact import ArtifactInfo, read_sidecar
from jrgr_deploy.errors import JRGRError, MissingDependencyError
from jrgr_deploy.runtime.backends.base import Backend, InputContract, physical_core_count

logger = logging.getLogger(__name__)

# device -> the execution provider that must end up first in the session.
ORT_DEVICES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}
# backend name (`jrgr_deploy.names.BACKENDS`) -> device
ORT_BACKEND_DEVICE = {"onnxruntime": "cpu", "onnxruntime-cuda": "cuda", "onnxruntime-trt": "tensorrt"}


def _import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as error:
        raise MissingDependencyError("onnxruntime", "cpu", "the ONNX Runtime backend") from error
    return onnxruntime


def contract_from_info(info: ArtifactInfo) -> InputContract:
    """The backend contract an artefact's sidecar promises."""
    shape = tuple(None if d is None or (isinstance(d, int) and d < 0) else int(d) for d in info.input_shape)
    if len(shape) != 4:
        raise JRGRError(f"sidecar input_shape {info.input_shape} is not NCHW (4 axes)")
    min_hw = tuple(info.profile_min[2:4]) if info.profile_min else None
    max_hw = tuple(info.profile_max[2:4]) if info.profile_max else None
    return InputContract(
        input_name=info.input_name,
        output_name=info.output_name,
        size_multiple=info.size_multiple,
        shape=shape,
        precision=info.precision,
        min_hw=min_hw,  # type: ignore[arg-type]
        max_hw=max_hw,  # type: ignore[arg-type]
    )


def _shape_string(name: str, shape: list[int]) -> str:
    return f"{name}:" + "x".join(str(int(d)) for d in shape)


class OnnxRuntimeBackend(Backend):
    """Run an exported ONNX file (with its sidecar) in ONNX Runtime.

    device: "cpu" (default), "cuda" (CUDA EP) or "tensorrt" (TensorRT EP, engines cached beside the
    file in `<file>.ort-trt-cache/`). `threads`: intra-op threads for the CPU provider (default: the
    physical cores). `allow_spinning`: let idle ORT workers busy-wait; faster alone, but on a shared
    machine (or beside the capture/encode threads of the stream pipeline) the spinning steals the
    cores those threads need, so it is off by default.
    """

    def __init__(
        self,
        path: str | Path,
        device: str = "cpu",
        threads: int | None = None,
        allow_spinning: bool = False,
        info: ArtifactInfo | None = None,
    ) -> None:
        self.path = Path(path)
        if device not in ORT_DEVICES:
            raise JRGRError(f"ONNX Runtime device '{device}' is not one of {sorted(ORT_DEVICES)}")
        if not self.path.is_file():
            raise JRGRError(f"ONNX file '{self.path}' does not exist")
        self.info = info if info is not None else read_sidecar(self.path)
        if self.info.kind != "onnx":
            raise JRGRError(f"'{self.path}' is described by its sidecar as a '{self.info.kind}', not an ONNX file")
        self.input_contract = contract_from_info(self.info)
        self.device = device
        self.name = next(name for name, on in ORT_BACKEND_DEVICE.items() if on == device)
        ort = _import_onnxruntime()
        self._ort = ort

        wanted = ORT_DEVICES[device]
        available = ort.get_available_providers()
        if wanted not in available:
            raise JRGRError(
                f"backend '{self.name}' needs ONNX Runtime's {wanted}, but the installed onnxruntime "
                f"{ort.__version__} offers only {available}; install onnxruntime-gpu "
                "(pip install 'jrgr-deploy[gpu]', after uninstalling onnxruntime) on a machine with CUDA"
            )

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.enable_mem_pattern = True
        options.enable_cpu_mem_arena = True
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = threads if threads else physical_core_count()
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if allow_spinning else "0")
        options.log_severity_level = 3

        providers = self._providers(device)
        try:
            self._session = ort.InferenceSession(str(self.path), sess_options=options, providers=providers)
        except Exception as error:  # ORT raises its own exception types (Fail, InvalidGraph, ...)
            raise JRGRError(f"ONNX Runtime could not load '{self.path}': {error}") from error

        got = self._session.get_providers()
        if not got or got[0] != wanted:
            raise JRGRError(
                f"backend '{self.name}' asked ONNX Runtime for {wanted} but the session got {got} "
                "(CUDA/cuDNN/TensorRT libraries missing or no GPU?); refusing to fall back silently"
            )
        self._check_names()
        self._input_dtype = (
            np.float16 if self._session.get_inputs()[0].type == "tensor(float16)" else np.float32
        )
        self._binding = self._session.io_binding() if device != "cpu" else None
        # InferenceSession.run is thread-safe; the one IO binding of a GPU session is not
        self.concurrent_calls = self._binding is None
        self._output_names = [self.input_contract.output_name]
        logger.info("loaded %s with %s", self.path, got)

    def _providers(self, device: str) -> list[Any]:
        if device == "cpu":
            return ["CPUExecutionProvider"]
        cuda = ("CUDAExecutionProvider", {"device_id": 0, "cudnn_conv_algo_search": "EXHAUSTIVE"})
        if device == "cuda":
            return [cuda, "CPUExecutionProvider"]
        trt_options: dict[str, Any] = {
            "device_id": 0,
            "trt_engine_cache_enable": True,
            "trt_engine_cache_path": str(self.path.with_name(self.path.name + ".ort-trt-cache")),
            "trt_timing_cache_enable": True,
        }
        info = self.info
        if info.profile_min and info.profile_opt and info.profile_max:
            name = info.input_name
            trt_options["trt_profile_min_shapes"] = _shape_string(name, info.profile_min)
            trt_options["trt_profile_opt_shapes"] = _shape_string(name, info.profile_opt)
            trt_options["trt_profile_max_shapes"] = _shape_string(name, info.profile_max)
        return [("TensorrtExecutionProvider", trt_options), cuda, "CPUExecutionProvider"]

    def _check_names(self) -> None:
        inputs = [i.name for i in self._session.get_inputs()]
        outputs = [o.name for o in self._session.get_outputs()]
        contract = self.input_contract
        if inputs != [contract.input_name] or contract.output_name not in outputs:
            raise JRGRError(
                f"'{self.path}' has inputs {inputs} and outputs {outputs}, but its sidecar promises "
                f"input '{contract.input_name}' and output '{contract.output_name}'"
            )

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        feed = np.ascontiguousarray(batch, dtype=self._input_dtype)
        if self._binding is None:
            (out,) = self._session.run(self._output_names, {self.input_contract.input_name: feed})
        else:
            binding = self._binding
            binding.clear_binding_inputs()
            binding.clear_binding_outputs()
            binding.bind_cpu_input(self.input_contract.input_name, feed)
            binding.bind_output(self.input_contract.output_name, "cuda", 0)
            self._session.run_with_iobinding(binding)
            out = binding.copy_outputs_to_cpu()[0]
        return np.asarray(out, dtype=np.float32)

    def _close(self) -> None:
        self._binding = None
        self._session = None


__all__ = ["ORT_BACKEND_DEVICE", "ORT_DEVICES", "OnnxRuntimeBackend", "contract_from_info"]
