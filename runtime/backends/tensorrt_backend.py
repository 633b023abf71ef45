"""Native TensorRT backend (TensorRT 10/11 Python API + cuda-python `cuda.bindings.runtime`).

Kept thin on purpose: everything before the engine (pre/post-processing, padding, the input contract)
is shared with the ONNX Runtime path and tested on the CPU. This module only moves one float32 NCHW
batch through pinned host buffers -> device buffers -> `execute_async_v3` -> back, on its own stream.

An engine is tied to the TensorRT version and GPU it was built with; the sidecar records both
(`tensorrt_version`, `compute_capability`) and a mismatch is refused before deserialisation with a
message saying how to rebuild. For a fixed input shape the enqueue can be captured once in a CUDA graph
and replayed (`cuda_graph=True`), which removes the per-kernel launch overhead of small nets.
"""

from __future__ import annotations

import ctypes
import logging
from pathlib import Path
from typing import Any

import numpy as np

from jrgr_deploy.artifact import ArtifactInfo, read_sidecar
from jrgr_deploy.errors import JRGRError
from jrgr_deploy.runtime.backends.base import Backend, InputContract
from jrgr_deploy.runtime.backends.nvidia import cuda_check as _check
from jrgr_deploy.runtime.backends.nvidia import import_cudart, import_tensorrt, normalise_capability, query_gpu
from jrgr_deploy.runtime.backends.onnxruntime_backend import contract_from_info

logger = logging.getLogger(__name__)


def check_engine_compatibility(
    info: ArtifactInfo, path: Path, tensorrt_version: str, capability: str, gpu_name: str
) -> None:
    """Refuse an engine built by another TensorRT version or for another GPU architecture.

    TensorRT plans are not portable: deserialising one from a different version fails (or worse, on
    a different GPU it can run with kernels tuned for another architecture). Compared: the major.minor
    of the TensorRT version and the compute capability.
    """
    built_version = info.tensorrt_version
    if built_version:
        built = ".".join(built_version.split(".")[:2])
        here = ".".join(tensorrt_version.split(".")[:2])
        if built != here:
            raise JRGRError(
                f"engine '{path}' was built with TensorRT {built_version}, this machine has TensorRT "
                f"{tensorrt_version}; rebuild it here from the ONNX file with 'jrgr export'"
            )
    built_cc = normalise_capability(info.compute_capability)
    if built_cc and built_cc != normalise_capability(capability):
        raise JRGRError(
            f"engine '{path}' was built for a GPU of compute capability {built_cc} "
            f"({info.gpu_name or 'unknown GPU'}), this GPU is {gpu_name} with compute capability "
            f"{capability}; rebuild the engine on this GPU with 'jrgr export'"
        )


class _PinnedBuffer:
    """A page-locked host array (fast, asynchronous copies) and a device allocation of `nbytes`."""

    def __init__(self, cudart: Any, nbytes: int, dtype: np.dtype) -> None:
        self._cudart = cudart
        self.nbytes = nbytes
        self.host_ptr = _check(cudart, cudart.cudaMallocHost(nbytes), "cudaMallocHost")
        count = nbytes // dtype.itemsize
        pointer = ctypes.cast(int(self.host_ptr), ctypes.POINTER(np.ctypeslib.as_ctypes_type(dtype)))
        self.host = np.ctypeslib.as_array(pointer, (count,))
        self.device_ptr = _check(cudart, cudart.cudaMalloc(nbytes), "cudaMalloc")

    def free(self) -> None:
        if self.device_ptr is not None:
            self._cudart.cudaFree(self.device_ptr)
            self._cudart.cudaFreeHost(self.host_ptr)
            self.device_ptr = None


class TensorRTBackend(Backend):
    """Run a serialised TensorRT engine (`.plan` / `.engine`) described by its sidecar.

    Buffers are allocated once for the largest shape the engine accepts (the optimisation profile's
    max, or the fixed shape); smaller dynamic shapes use a prefix of them. `cuda_graph=True` captures
    the enqueue in a CUDA graph the first time a shape is seen and replays it while the shape stays
    (video frames all have one size); a new shape re-captures.
    """

    name = "tensorrt"
    device = "cuda"

    def __init__(
        self, path: str | Path, info: ArtifactInfo | None = None, cuda_graph: bool = True, device_id: int = 0
    ) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise JRGRError(f"TensorRT engine '{self.path}' does not exist")
        self.info = info if info is not None else read_sidecar(self.path)
        if self.info.kind != "engine":
            raise JRGRError(f"'{self.path}' is described by its sidecar as '{self.info.kind}', not an engine")
        trt = import_tensorrt("the TensorRT backend")
        cudart = import_cudart("the TensorRT backend")
        self._trt, self._cudart = trt, cudart
        self._buffers: dict[str, _PinnedBuffer] = {}
        self._stream = None
        self._graph = None
        self._graph_exec = None
        self._graph_shape: tuple[int, ...] | None = None
        self._context = None
        self._engine = None

        _check(cudart, cudart.cudaSetDevice(device_id), "cudaSetDevice")
        gpu = query_gpu(device_id, "the TensorRT backend", cudart)
        gpu_name, capability = gpu.name, gpu.compute_capability
        check_engine_compatibility(self.info, self.path, trt.__version__, capability, gpu_name)

        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self._engine = self._runtime.deserialize_cuda_engine(self.path.read_bytes())
        if self._engine is None:
            raise JRGRError(
                f"TensorRT {trt.__version__} could not deserialise '{self.path}' (corrupt file, or built by "
                "another TensorRT version / for another GPU); rebuild it with 'jrgr export'"
            )
        self._use_graph = cuda_graph
        try:
            self._context = self._engine.create_execution_context()
            if self._context is None:
                raise JRGRError(f"TensorRT could not create an execution context for '{self.path}' (GPU memory?)")
            self._find_io()
            self.input_contract = self._contract()
            self._stream = _check(cudart, cudart.cudaStreamCreate(), "cudaStreamCreate")
            self._allocate()
        except BaseException:
            self._close()
            raise
        logger.info("loaded TensorRT engine %s on %s (sm %s)", self.path, gpu_name, capability)

    def _find_io(self) -> None:
        trt, engine = self._trt, self._engine
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        if inputs != [self.info.input_name] or self.info.output_name not in outputs:
            raise JRGRError(
                f"engine '{self.path}' has inputs {inputs} and outputs {outputs}, but its sidecar promises "
                f"input '{self.info.input_name}' and output '{self.info.output_name}'"
            )
        self._input_name = self.info.input_name
        self._output_name = self.info.output_name
        for name in (self._input_name, self._output_name):
            dtype = engine.get_tensor_dtype(name)
            if dtype != trt.DataType.FLOAT:
                raise JRGRError(
                    f"engine '{self.path}' tensor '{name}' is {dtype}; the runtime exchanges float32 "
                    "(export with keep_io_types so the I/O stays FP32)"
                )

    def _contract(self) -> InputContract:
        engine_shape = tuple(self._engine.get_tensor_shape(self._input_name))
        contract = contract_from_info(self.info)
        shape = tuple(None if d < 0 else int(d) for d in engine_shape)
        profile = None
        if any(d is None for d in shape):
            profile = self._engine.get_tensor_profile_shape(self._input_name, 0)  # (min, opt, max)
        return InputContract(
            input_name=self._input_name,
            output_name=self._output_name,
            size_multiple=contract.size_multiple,
            shape=shape,
            precision=self.info.precision,
            min_hw=(int(profile[0][2]), int(profile[0][3])) if profile is not None else None,
            max_hw=(int(profile[2][2]), int(profile[2][3])) if profile is not None else None,
            profile_max_batch=int(profile[2][0]) if profile is not None else None,
        )

    def _max_shape(self) -> tuple[int, ...]:
        engine_shape = tuple(self._engine.get_tensor_shape(self._input_name))
        if all(d >= 0 for d in engine_shape):
            return tuple(int(d) for d in engine_shape)
        return tuple(int(d) for d in self._engine.get_tensor_profile_shape(self._input_name, 0)[2])

    def _allocate(self) -> None:
        nbytes = int(np.prod(self._max_shape())) * 4
        for name in (self._input_name, self._output_name):
            self._buffers[name] = _PinnedBuffer(self._cudart, nbytes, np.dtype(np.float32))
            self._context.set_tensor_address(name, int(self._buffers[name].device_ptr))

    def _release_graph(self) -> None:
        cudart = self._cudart
        if self._graph_exec is not None:
            cudart.cudaGraphExecDestroy(self._graph_exec)
        if self._graph is not None:
            cudart.cudaGraphDestroy(self._graph)
        self._graph = self._graph_exec = None
        self._graph_shape = None

    def _enqueue(self, shape: tuple[int, ...]) -> None:
        cudart, context, stream = self._cudart, self._context, self._stream
        if not self._use_graph:
            if not context.execute_async_v3(int(stream)):
                raise JRGRError(f"TensorRT execute_async_v3 failed on '{self.path}'")
            return
        if self._graph_shape != shape:
            self._release_graph()
            # One ordinary launch first: TensorRT defers shape-dependent set-up to the first enqueue
            # after set_input_shape, and that set-up must not land inside the captured graph.
            if not context.execute_async_v3(int(stream)):
                raise JRGRError(f"TensorRT execute_async_v3 failed on '{self.path}'")
            _check(cudart, cudart.cudaStreamSynchronize(stream), "cudaStreamSynchronize")
            mode = cudart.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal
            _check(cudart, cudart.cudaStreamBeginCapture(stream, mode), "cudaStreamBeginCapture")
            ok = context.execute_async_v3(int(stream))
            graph = _check(cudart, cudart.cudaStreamEndCapture(stream), "cudaStreamEndCapture")
            if not ok:
                cudart.cudaGraphDestroy(graph)
                raise JRGRError(f"TensorRT enqueue could not be captured in a CUDA graph for '{self.path}'")
            self._graph = graph
            self._graph_exec = _check(cudart, cudart.cudaGraphInstantiate(graph, 0), "cudaGraphInstantiate")
            self._graph_shape = shape
        _check(cudart, cudart.cudaGraphLaunch(self._graph_exec, stream), "cudaGraphLaunch")

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        cudart, stream = self._cudart, self._stream
        shape = tuple(int(d) for d in batch.shape)
        if self._graph_shape != shape and not self._context.set_input_shape(self._input_name, shape):
            raise JRGRError(f"engine '{self.path}' rejects input shape {shape}")
        out_shape = tuple(int(d) for d in self._context.get_tensor_shape(self._output_name))
        in_buf, out_buf = self._buffers[self._input_name], self._buffers[self._output_name]
        count_in = batch.size
        count_out = int(np.prod(out_shape))
        np.copyto(in_buf.host[:count_in], batch.reshape(-1))
        h2d = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        d2h = cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        _check(
            cudart,
            cudart.cudaMemcpyAsync(in_buf.device_ptr, in_buf.host_ptr, count_in * 4, h2d, stream),
            "cudaMemcpyAsync H2D",
        )
        self._enqueue(shape)
        _check(
            cudart,
            cudart.cudaMemcpyAsync(out_buf.host_ptr, out_buf.device_ptr, count_out * 4, d2h, stream),
            "cudaMemcpyAsync D2H",
        )
        _check(cudart, cudart.cudaStreamSynchronize(stream), "cudaStreamSynchronize")
        # Copy out of the pinned buffer: the next call overwrites it.
        return out_buf.host[:count_out].reshape(out_shape).copy()

    def _close(self) -> None:
        """Free the CUDA graph, buffers and stream."""
        self._release_graph()
        for buffer in self._buffers.values():
            buffer.free()
        self._buffers.clear()
        if self._stream is not None:
            self._cudart.cudaStreamDestroy(self._stream)
            self._stream = None
        self._context = None
        self._engine = None


__all__ = ["TensorRTBackend", "check_engine_compatibility"]
