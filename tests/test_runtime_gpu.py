"""GPU backends, run only where a CUDA GPU and the optional packages are present (skipped with a reason
elsewhere): the native TensorRT backend on an engine built by the export stage, and ONNX Runtime's CUDA
execution provider; both must agree with the ONNX Runtime CPU backend on the same frames.

On a GPU machine: `pip install 'jrgr-deploy[trt]'` (or `[gpu]`) and `pytest -m gpu tests/test_runtime_gpu.py`.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from tiny_checkpoints import save_tiny_checkpoint

from jrgr_deploy.runtime import FrameProcessor, open_backend

HAS_TENSORRT = importlib.util.find_spec("tensorrt") is not None
HAS_ORT_CUDA = "CUDAExecutionProvider" in ort.get_available_providers()


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    return save_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.safetensors")


def _frames() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, size=shape, dtype=np.uint8) for shape in ((90, 150, 3), (90, 150, 3), (64, 100, 3))]


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_TENSORRT, reason="TensorRT is not installed (pip install 'jrgr-deploy[trt]' on a GPU)")
def test_tensorrt_backend_agrees_with_onnxruntime_cpu(tiny_checkpoint: Path, tmp_path: Path) -> None:
    from jrgr_deploy.export.exporter import ExportRequest, export_nets

    result = export_nets(ExportRequest(out_dir=tmp_path, weights=tiny_checkpoint, nets=("f_r",), fmt="engine",
                                       shape="1x3x96x160", max_shape="1x3x128x192"))  # fmt: skip
    onnx_file = next(f.path for f in result.files if f.path.suffix == ".onnx")
    plan_file = next(f.path for f in result.files if f.path.suffix == ".plan")
    with open_backend(onnx_file) as cpu, open_backend(plan_file) as trt_backend:
        assert trt_backend.name == "tensorrt" and trt_backend.input_contract.max_hw == (128, 192)
        reference, engine = FrameProcessor(cpu), FrameProcessor(trt_backend)
        for frame in _frames():  # same shape twice (CUDA-graph replay), then a new shape (re-capture)
            assert np.abs(engine(frame).astype(int) - reference(frame)).max() <= 1


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_ORT_CUDA, reason="onnxruntime-gpu with CUDA is not installed")
def test_onnxruntime_cuda_agrees_with_cpu(tiny_checkpoint: Path, tmp_path: Path) -> None:
    from jrgr_deploy.export.exporter import ExportRequest, export_nets

    result = export_nets(ExportRequest(out_dir=tmp_path, weights=tiny_checkpoint, nets=("f_r",), verify_frames=1))
    onnx_file = result.files[0].path
    with open_backend(onnx_file) as cpu, open_backend(onnx_file, "onnxruntime-cuda") as cuda:
        assert cuda.device == "cuda"
        for frame in _frames():
            assert np.abs(FrameProcessor(cuda)(frame).astype(int) - FrameProcessor(cpu)(frame)).max() <= 1
