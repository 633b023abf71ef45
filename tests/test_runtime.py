"""Backends, their selection and contract, and frame processing (pad/unpad, --infer-size), on real ONNX
files run by the real ONNX Runtime."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from runtime_fixtures import export_fixture_net, index_frame
from tiny_checkpoints import save_tiny_checkpoint

from jrgr_deploy.artifact import ArtifactInfo, sidecar_path, write_sidecar
from jrgr_deploy.errors import JRGRError, MissingDependencyError
from jrgr_deploy.frames import (
    auto_infer_hw,
    bgr_to_nchw,
    nchw_to_bgr,
    pad_to_multiple,
    parse_hw,
    parse_infer_size,
    parse_wh,
    unpad,
)
from jrgr_deploy.runtime import FrameProcessor, backend_for_path, open_backend
from jrgr_deploy.runtime.backends.base import physical_core_count
from jrgr_deploy.runtime.backends.onnxruntime_backend import OnnxRuntimeBackend
from jrgr_deploy.runtime.backends.tensorrt_backend import check_engine_compatibility


@pytest.fixture(scope="module")
def nets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("nets")
    return {
        "tiny": export_fixture_net(folder / "f_r.onnx"),
        "offset": export_fixture_net(folder / "f_r_offset.onnx", kind="offset"),
        "identity": export_fixture_net(folder / "f_r_identity.onnx", kind="identity"),
        "fixed": export_fixture_net(folder / "f_r_fixed.onnx", fixed_shape=(96, 160)),
        "offset_trained_small": export_fixture_net(folder / "f_r_offset_small.onnx", kind="offset",
                                                   train_frame_hw=[36, 60]),
    }


def test_ort_backend_matches_plain_onnxruntime(nets: dict[str, Path]) -> None:
    batch = np.random.default_rng(0).uniform(-1, 1, size=(2, 3, 40, 64)).astype(np.float32)
    expected = ort.InferenceSession(str(nets["tiny"]), providers=["CPUExecutionProvider"]).run(
        None, {"rainy": batch}
    )[0]
    with open_backend(nets["tiny"]) as backend:
        assert isinstance(backend, OnnxRuntimeBackend)
        assert backend.name == "onnxruntime" and backend.device == "cpu"
        contract = backend.input_contract
        assert (contract.input_name, contract.output_name, contract.size_multiple) == ("rainy", "clean", 4)
        assert contract.dynamic and contract.precision == "fp32"
        out = backend(batch)
    assert out.shape == batch.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, expected, atol=1e-5)
    assert np.abs(out - batch).max() > 1e-3  # the net does something: the comparison can fail
    with pytest.raises(JRGRError, match="closed"):
        backend(batch)


def test_contract_rejects_bad_batches(nets: dict[str, Path]) -> None:
    with open_backend(nets["tiny"]) as backend:
        with pytest.raises(JRGRError, match="multiple of 4"):
            backend(np.zeros((1, 3, 30, 64), np.float32))
        with pytest.raises(JRGRError, match="float32"):
            backend(np.zeros((1, 3, 32, 64), np.float64))
        with pytest.raises(JRGRError, match="Nx3xHxW"):
            backend(np.zeros((3, 32, 64), np.float32))


def test_backend_choice_by_suffix_and_explicit_errors(nets: dict[str, Path], tmp_path: Path) -> None:
    assert backend_for_path("a/f_r.onnx") == "onnxruntime"
    assert backend_for_path("f_r.fp16.sm86.trt10.8.plan") == "tensorrt"
    assert backend_for_path("f_r.engine") == "tensorrt"
    assert backend_for_path("run/stage2.safetensors") == "torch"
    with pytest.raises(JRGRError, match="suffix '.pt'"):
        backend_for_path("model.pt")
    with pytest.raises(JRGRError, match="runs .plan/.engine files"):
        open_backend(nets["tiny"], "tensorrt")
    with pytest.raises(JRGRError, match="not one of"):
        open_backend(nets["tiny"], "openvino")
    with pytest.raises(JRGRError, match="does not exist"):
        open_backend(tmp_path / "missing.onnx")


@pytest.mark.skipif(
    "CUDAExecutionProvider" in ort.get_available_providers(), reason="onnxruntime-gpu is installed here"
)
def test_ort_gpu_backends_refuse_without_the_provider(nets: dict[str, Path]) -> None:
    for name, provider in (("onnxruntime-cuda", "CUDAExecutionProvider"), ("onnxruntime-trt", "Tensorrt")):
        with pytest.raises(JRGRError, match=provider) as caught:
            open_backend(nets["tiny"], name)
        assert "onnxruntime-gpu" in str(caught.value)


def test_missing_or_mismatched_sidecar_is_a_clear_error(nets: dict[str, Path], tmp_path: Path) -> None:
    lonely = tmp_path / "lonely.onnx"
    lonely.write_bytes(nets["tiny"].read_bytes())
    with pytest.raises(JRGRError, match="no sidecar"):
        open_backend(lonely)
    info = json.loads(sidecar_path(nets["tiny"]).read_text())
    info["input_name"] = "input"
    sidecar_path(lonely).write_text(json.dumps(info))
    with pytest.raises(JRGRError, match="sidecar promises input 'input'"):
        open_backend(lonely)


def test_tensorrt_backend_names_the_extra_when_missing(tmp_path: Path) -> None:
    try:
        import tensorrt  # noqa: F401

        pytest.skip("tensorrt is installed here")
    except ImportError:
        pass
    plan = tmp_path / "f_r.fp16.sm86.trt10.8.plan"
    plan.write_bytes(b"not really an engine")
    write_sidecar(
        plan,
        ArtifactInfo(
            kind="engine", net="f_r", precision="fp16", input_name="rainy", output_name="clean",
            size_multiple=16, input_shape=[None, 3, None, None], tensorrt_version="10.8.0",
            compute_capability="8.6",
        ),
    )  # fmt: skip
    with pytest.raises(MissingDependencyError, match=r"jrgr-deploy\[trt\]"):
        open_backend(plan)


def test_engine_compatibility_is_checked_before_loading(tmp_path: Path) -> None:
    info = ArtifactInfo(
        kind="engine", net="f_r", precision="fp16", input_name="rainy", output_name="clean",
        size_multiple=16, input_shape=[None, 3, None, None], tensorrt_version="10.8.0.43",
        gpu_name="NVIDIA A10", compute_capability="8.6",
    )  # fmt: skip
    plan = tmp_path / "f_r.plan"
    check_engine_compatibility(info, plan, "10.8.0.43", "8.6", "NVIDIA A10")  # same: fine
    check_engine_compatibility(info, plan, "10.8.1", "8.6", "NVIDIA A10G")  # patch level and name: fine
    with pytest.raises(JRGRError, match=r"built with TensorRT 10\.8\.0\.43, this machine has TensorRT 11\.0"):
        check_engine_compatibility(info, plan, "11.0.0", "8.6", "NVIDIA A10")
    with pytest.raises(JRGRError, match=r"compute capability 8\.6 .*H100.* 9\.0; rebuild"):
        check_engine_compatibility(info, plan, "10.8.0", "9.0", "NVIDIA H100")
    sm_style = ArtifactInfo(**{**info.to_dict(), "value_range": (-1.0, 1.0), "compute_capability": "sm_90"})
    check_engine_compatibility(sm_style, plan, "10.8.0", "9.0", "NVIDIA H100")


def test_processing_pads_infers_and_unpads_like_direct_inference(nets: dict[str, Path]) -> None:
    frame = index_frame(5, height=90, width=150)  # neither side a multiple of 4
    session = ort.InferenceSession(str(nets["tiny"]), providers=["CPUExecutionProvider"])
    padded, size = pad_to_multiple(bgr_to_nchw(frame), 4)
    expected = nchw_to_bgr(unpad(session.run(None, {"rainy": padded})[0], size))[0]
    with open_backend(nets["tiny"]) as backend:
        processor = FrameProcessor(backend)
        prepared = processor.preprocess(frame)
        assert prepared.batch.shape == (1, 3, 92, 152) and prepared.net_hw == (90, 150)
        out = processor(frame)
        assert out.shape == frame.shape and out.dtype == np.uint8
        np.testing.assert_array_equal(out, expected)
        assert np.abs(out.astype(int) - frame).max() > 0
        both = FrameProcessor(backend, side_by_side=True)(frame)
    assert both.shape == (90, 300, 3)
    np.testing.assert_array_equal(both[:, :150], frame)
    np.testing.assert_array_equal(both[:, 150:], expected)


def test_infer_size_subtracts_the_upsampled_rain_layer(nets: dict[str, Path]) -> None:
    frame = index_frame(3, height=90, width=150)
    with open_backend(nets["offset"]) as backend:  # F(x) = x − 0.1: the rain layer is 0.1 everywhere
        processor = FrameProcessor(backend, infer_hw=(24, 40))
        prepared = processor.preprocess(frame)
        assert prepared.batch.shape == (1, 3, 24, 40)
        out = processor(frame)
    assert out.shape == frame.shape
    # full-resolution detail survives: the result is the frame minus 0.1 * 127.5 levels, pixel for pixel
    expected = np.clip(np.rint(frame.astype(np.float32) - 12.75), 0, 255).astype(np.uint8)
    assert np.abs(out.astype(int) - expected).max() <= 1
    with open_backend(nets["identity"]) as backend:  # no rain found: the frame comes back untouched
        np.testing.assert_array_equal(FrameProcessor(backend, infer_hw=(24, 40))(frame), frame)


def test_auto_infer_size_shows_the_net_the_training_scale(nets: dict[str, Path]) -> None:
    """`auto`: frames larger than the training frames (sidecar: 36x60, short side 36) are shrunk until their
    short side is 36, each side rounded to the size multiple (4); smaller ones, and models without a recorded
    training size, run at full resolution. The rain layer still reaches every full-resolution pixel."""
    frame = index_frame(3, height=90, width=150)
    with open_backend(nets["offset_trained_small"]) as backend:
        processor = FrameProcessor(backend, infer_hw="auto")
        assert processor.infer_size == "auto" and processor.infer_hw is None
        prepared = processor.preprocess(frame)
        assert prepared.batch.shape == (1, 3, 36, 60) and processor.infer_hw == (36, 60)
        out = processor(frame)
        expected = np.clip(np.rint(frame.astype(np.float32) - 12.75), 0, 255).astype(np.uint8)
        assert out.shape == frame.shape and np.abs(out.astype(int) - expected).max() <= 1
        small = index_frame(3, height=30, width=50)  # smaller than the training frames: full resolution
        assert processor.preprocess(small).batch.shape == (1, 3, 32, 52) and processor.infer_hw is None
    with open_backend(nets["offset"]) as backend:  # no train_frame_hw in the sidecar: full resolution
        processor = FrameProcessor(backend, infer_hw="auto")
        assert processor.preprocess(frame).batch.shape == (1, 3, 92, 152) and processor.infer_hw is None
    with open_backend(nets["offset"]) as backend, pytest.raises(JRGRError, match="'big'"):
        FrameProcessor(backend, infer_hw="big")


def test_auto_infer_hw_rounds_to_the_multiple_and_never_enlarges() -> None:
    assert auto_infer_hw((720, 1280), (192, 192), 16) == (192, 336)  # 341.3 -> 336
    assert auto_infer_hw((720, 1280), [360, 640], 16) == (352, 640)  # 360 -> 352 (nearest multiple of 16)
    assert auto_infer_hw((1080, 1920), (512, 683), 16) == (512, 912)
    assert auto_infer_hw((360, 640), (512, 683), 16) is None  # smaller than the training frames
    assert auto_infer_hw((720, 1280), None, 16) is None  # unknown training scale
    assert auto_infer_hw((100, 1279), (98, 98), 16) == (96, 1248)
    assert auto_infer_hw((40, 30), (8, 8), 16) == (16, 16)  # at least one multiple


def test_parse_infer_size() -> None:
    assert parse_infer_size("auto") == "auto" and parse_infer_size("AUTO") == "auto"
    assert parse_infer_size("full") is None
    assert parse_infer_size("640x360") == (360, 640)
    with pytest.raises(JRGRError, match="--infer-size 'big' is not 'auto', 'full' or WIDTHxHEIGHT"):
        parse_infer_size("big")


def test_fixed_shape_models_pad_up_or_ask_for_infer_size(nets: dict[str, Path]) -> None:
    with open_backend(nets["fixed"]) as backend:
        assert backend.input_contract.fixed_hw == (96, 160)
        processor = FrameProcessor(backend)
        out = processor(index_frame(1, height=90, width=150))
        assert out.shape == (90, 150, 3)
        with pytest.raises(JRGRError, match="--infer-size 160x96"):
            processor(index_frame(1, height=120, width=200))
        assert FrameProcessor(backend, infer_hw=(96, 160))(index_frame(1, 120, 200)).shape == (120, 200, 3)


def test_sizes_are_wh_at_the_command_line_and_hw_inside() -> None:
    assert parse_wh("640x360") == (640, 360)
    assert parse_hw("320X180") == (180, 320)
    for bad in ("640", "axb", "0x10", "640x360x3"):
        with pytest.raises(JRGRError, match="--infer-size '.*' .*WIDTHxHEIGHT"):
            parse_hw(bad, "--infer-size")


def test_physical_core_count_is_sane() -> None:
    import os

    cores = physical_core_count()
    assert cores >= 1
    assert cores <= len(os.sched_getaffinity(0))


def test_runtime_never_imports_torch_or_training(nets: dict[str, Path]) -> None:
    code = f"""
import sys
import numpy as np
import jrgr_deploy.runtime
from jrgr_deploy.runtime import Deraining, open_backend
with Deraining({str(nets['tiny'])!r}) as model:
    out = model(np.full((36, 52, 3), 128, np.uint8))
assert out.shape == (36, 52, 3)
with open_backend({str(nets['tiny'])!r}) as backend:
    backend(np.zeros((1, 3, 32, 32), np.float32))
    from jrgr_deploy.runtime.rainify import RainifyProcessor  # jrgr rainify's path: rain synthesis + a net
    assert RainifyProcessor(backend, preset="light")(np.full((36, 52, 3), 128, np.uint8)).shape == (36, 52, 3)
import jrgr_deploy.runtime.backends.tensorrt_backend, jrgr_deploy.runtime.backends.torch_backend
bad = sorted(m for m in sys.modules if m == 'torch' or m.startswith(('torch.', 'jrgr_deploy.training')))
print('BAD', bad)
assert not bad, bad
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "BAD []" in result.stdout


def test_torch_backend_matches_the_checkpoint_net(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from jrgr_deploy.checkpoint import load_net

    path = save_tiny_checkpoint(tmp_path / "tiny.safetensors")
    batch = np.random.default_rng(1).uniform(-1, 1, size=(1, 3, 32, 48)).astype(np.float32)
    with open_backend(path) as backend:
        assert backend.name == "torch" and backend.input_contract.size_multiple == 16
        out = backend(batch)
    with torch.no_grad():
        expected = load_net(path, "f_r")(torch.from_numpy(batch)).numpy()
    np.testing.assert_allclose(out, expected, atol=1e-6)
    assert np.abs(out - batch).max() > 1e-3
