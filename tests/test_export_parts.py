"""Parts of the export: shape plans, calibration frame sources, Triton repository, TensorRT builder."""

from __future__ import annotations

import importlib.util
import re

import cv2
import numpy as np
import onnxruntime as ort
import pytest
from tiny_checkpoints import save_tiny_checkpoint

from jrgr_deploy.artifact import ArtifactInfo, read_sidecar
from jrgr_deploy.errors import JRGRError, MissingDependencyError
from jrgr_deploy.export.exporter import ExportRequest, export_nets
from jrgr_deploy.export.frame_sets import fit_frame, load_calibration_and_holdout
from jrgr_deploy.export.shapes import plan_shapes
from jrgr_deploy.export.tensorrt_build import engine_name
from jrgr_deploy.export.triton_repo import TritonOptions, config_pbtxt, model_name, write_triton_model
from jrgr_deploy.image_files import write_rgb
from jrgr_deploy.runtime.backends.nvidia import GpuInfo

HAS_TENSORRT = importlib.util.find_spec("tensorrt") is not None


# --- shapes -------------------------------------------------------------------------------------------------


def test_default_plan_is_dynamic_at_640x360_padded_to_the_contract():
    plan = plan_shapes(16)
    assert plan.work == (1, 3, 368, 640) and not plan.fixed
    assert plan.input_shape() == [None, 3, None, None]
    assert plan_shapes(128).work == (1, 3, 384, 640)


def test_shape_options():
    fixed = plan_shapes(16, "2x3x64x96")
    assert fixed.fixed and fixed.input_shape() == [2, 3, 64, 96] and fixed.profile_max == (2, 3, 64, 96)
    ranged = plan_shapes(16, "1x3x64x96", max_shape="4x3x128x192", min_shape="1x3x32x32")
    assert not ranged.fixed and ranged.profile_min == (1, 3, 32, 32) and ranged.profile_max == (4, 3, 128, 192)
    with pytest.raises(JRGRError, match="min-shape <= --shape <= --max-shape"):
        plan_shapes(16, "1x3x64x96", max_shape="1x3x32x32")
    with pytest.raises(JRGRError, match="need --shape"):
        plan_shapes(16, max_shape="1x3x64x64")
    with pytest.raises(JRGRError, match="has 1 channels"):
        plan_shapes(16, "1x1x64x64")
    with pytest.raises(JRGRError, match="--max-shape size 70x96.*nearest valid size is 80x96"):
        plan_shapes(16, "1x3x64x96", max_shape="1x3x70x96")


# --- calibration / held-aside frames ------------------------------------------------------------------------


def test_fit_frame_covers_and_centre_crops():
    image = np.zeros((100, 300, 3), np.uint8)
    image[:, 100:200] = 255  # a white centre third
    out = fit_frame(image, 64, 64)
    assert out.shape == (64, 64, 3)
    assert out.min() == 255  # the centre crop of a 64-high, 192-wide resize is all white
    assert fit_frame(np.zeros((10, 12, 3), np.uint8), 32, 48).shape == (32, 48, 3)  # upscales small frames


def test_video_source_gives_disjoint_calibration_and_holdout(tmp_path):
    path = tmp_path / "rain.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (80, 48))
    assert writer.isOpened()
    for i in range(10):
        writer.write(np.full((48, 80, 3), 20 * i + 10, np.uint8))
    writer.release()
    calib, holdout = load_calibration_and_holdout(path, 4, 3, 32, 64)
    assert calib.frames.shape == (4, 32, 64, 3) and holdout.frames.shape == (3, 32, 64, 3)
    assert not set(calib.names) & set(holdout.names)
    assert calib.names[0] == "rain.avi#000000" and calib.names[-1] == "rain.avi#000009"
    # The frames really are the ones named: brightness encodes the index.
    index = int(holdout.names[0].split("#")[1])
    assert abs(float(holdout.frames[0].mean()) - (20 * index + 10)) < 4


def test_dataset_root_picks_the_net_domain(tmp_path):
    for folder, value in (("Os", 50), ("Bs", 60), ("Ot", 200)):
        for i in range(3):
            write_rgb(tmp_path / "train" / folder / f"{i}.png", np.full((40, 40, 3), value, np.uint8))
    write_rgb(tmp_path / "preview.png", np.zeros((40, 40, 3), np.uint8))  # as `jrgr data synth` leaves one
    real, held = load_calibration_and_holdout(tmp_path, 2, 2, 32, 32, domain="real")
    assert real.frames.mean() == 200 and "real rainy images" in real.source and len(held) == 1
    synthetic, _ = load_calibration_and_holdout(tmp_path, 2, 2, 32, 32, domain="synthetic")
    assert synthetic.frames.mean() == 50


def test_image_folder_with_an_unrelated_subfolder_is_a_folder(tmp_path):
    for i in range(3):
        write_rgb(tmp_path / f"{i}.png", np.full((40, 40, 3), 90, np.uint8))
    (tmp_path / "thumbs").mkdir()
    calib, held = load_calibration_and_holdout(tmp_path, 2, 1, 32, 32)
    assert calib.source == f"folder {tmp_path}" and len(calib) == 2 and len(held) == 1


def test_calibration_source_errors(tmp_path):
    with pytest.raises(JRGRError, match="does not exist"):
        load_calibration_and_holdout(tmp_path / "nope", 4, 1, 32, 32)
    (tmp_path / "empty").mkdir()
    with pytest.raises(JRGRError, match="holds no images"):
        load_calibration_and_holdout(tmp_path / "empty", 4, 1, 32, 32)
    with pytest.raises(JRGRError, match="calib-frames must be >= 1"):
        load_calibration_and_holdout(tmp_path, 0, 1, 32, 32)


# --- Triton -------------------------------------------------------------------------------------------------


def _parse_pbtxt(text: str) -> dict:
    """A strict reader of the protobuf text format subset config.pbtxt uses (repeated fields -> lists)."""
    tokens = re.findall(r'"[^"]*"|[{}\[\]:,]|[^\s{}\[\]:,]+', text)
    pos = 0

    def value():
        nonlocal pos
        token = tokens[pos]
        pos += 1
        if token == "{":
            return message("}")
        if token == "[":
            items = []
            while tokens[pos] != "]":
                items.append(value())
                if tokens[pos] == ",":
                    pos += 1
            pos += 1
            return items
        if token.startswith('"'):
            return token[1:-1]
        return int(token) if re.fullmatch(r"-?\d+", token) else token

    def message(end):
        nonlocal pos
        fields: dict = {}
        while pos < len(tokens) and tokens[pos] != end:
            key = tokens[pos]
            assert re.fullmatch(r"[a-z_]+", key), f"bad field name {key!r}"
            pos += 1
            if tokens[pos] == ":":
                pos += 1
            assert key not in fields, f"field {key} repeated"
            fields[key] = value()
        pos += 1
        return fields

    return message(None)


MODEL_CONFIG_FIELDS = {"name", "platform", "max_batch_size", "input", "output", "instance_group", "dynamic_batching"}
TENSOR_FIELDS = {"name", "data_type", "dims"}


def _check_config(config: dict, info: ArtifactInfo) -> None:
    assert set(config) <= MODEL_CONFIG_FIELDS
    for key, tensor_name in (("input", info.input_name), ("output", info.output_name)):
        (tensor,) = config[key]
        assert set(tensor) == TENSOR_FIELDS
        assert tensor["name"] == tensor_name and tensor["data_type"] == "TYPE_FP32"
        assert all(isinstance(d, int) and (d == -1 or d > 0) for d in tensor["dims"])
    (group,) = config["instance_group"]
    assert set(group) == {"count", "kind"} and group["kind"] in ("KIND_GPU", "KIND_CPU") and group["count"] >= 1


def _info(**overrides) -> ArtifactInfo:
    values = dict(kind="onnx", net="f_r", precision="fp32", input_name="rainy", output_name="clean",
                  size_multiple=16, input_shape=[None, 3, None, None])
    values.update(overrides)
    return ArtifactInfo(**values)


def test_config_pbtxt_dynamic_fixed_and_engine():
    dynamic = _parse_pbtxt(config_pbtxt("jrgr_f_r", _info(), 8, 2, "gpu"))
    _check_config(dynamic, _info())
    assert dynamic["platform"] == "onnxruntime_onnx" and dynamic["max_batch_size"] == 8
    assert dynamic["input"][0]["dims"] == [3, -1, -1]
    assert dynamic["dynamic_batching"]["preferred_batch_size"] == [1, 2, 4, 8]
    assert dynamic["instance_group"][0] == {"count": 2, "kind": "KIND_GPU"}

    fixed_info = _info(input_shape=[1, 3, 368, 640])
    fixed = _parse_pbtxt(config_pbtxt("jrgr_f_r", fixed_info, 8, 1, "cpu"))
    _check_config(fixed, fixed_info)
    assert fixed["max_batch_size"] == 0 and fixed["input"][0]["dims"] == [1, 3, 368, 640]
    assert "dynamic_batching" not in fixed

    engine_info = _info(kind="engine", profile_min=[1, 3, 368, 640], profile_opt=[4, 3, 368, 640],
                        profile_max=[8, 3, 368, 640])
    engine = _parse_pbtxt(config_pbtxt("jrgr_f_r", engine_info, 8, 1, "gpu"))
    assert engine["platform"] == "tensorrt_plan" and engine["input"][0]["dims"] == [3, 368, 640]
    with pytest.raises(JRGRError, match="exceeds the engine profile's max batch 8"):
        config_pbtxt("jrgr_f_r", engine_info, 16, 1, "gpu")
    with pytest.raises(JRGRError, match="only on a GPU"):
        config_pbtxt("jrgr_f_r", engine_info, 8, 1, "cpu")
    assert model_name("f_r", "int8-cpu") == "jrgr_f_r_int8_cpu" and model_name("g_r", "fp32") == "jrgr_g_r"


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    return save_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.safetensors", ("f_s", "f_r", "g_r"), seed=1)


def test_triton_repository(tiny_checkpoint, tmp_path):
    repo = tmp_path / "repo"
    result = export_nets(ExportRequest(out_dir=repo, weights=tiny_checkpoint, nets=("f_r", "g_r"), fmt="triton",
                                       shape="1x3x64x64", max_shape="4x3x128x128", verify_frames=1,
                                       triton=TritonOptions(max_batch_size=4, instances=2, device="cpu")))
    assert sorted(p.name for p in repo.iterdir()) == ["jrgr_f_r", "jrgr_g_r"]
    for exported in result.files:
        model_dir = repo / model_name(exported.net, "fp32")
        assert sorted(p.name for p in model_dir.rglob("*")) == ["1", "config.pbtxt", "model.onnx", "model.onnx.json"]
        config = _parse_pbtxt((model_dir / "config.pbtxt").read_text())
        info = read_sidecar(model_dir / "1" / "model.onnx")
        _check_config(config, info)
        assert config["name"] == model_dir.name and config["max_batch_size"] == 4
        assert config["input"][0]["dims"] == [3, -1, -1]
        # The served file runs with a batch Triton may form.
        session = ort.InferenceSession(str(model_dir / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
        out = session.run(None, {info.input_name: np.zeros((4, 3, 48, 80), np.float32)})[0]
        assert out.shape == (4, 3, 48, 80)


def test_triton_default_device_follows_the_artefact(tmp_path):
    artefact = tmp_path / "f_r.int8-cpu.onnx"
    artefact.write_bytes(b"onnx bytes")
    info = _info(precision="int8")
    cpu_dir = write_triton_model(tmp_path / "repo", artefact, info, "int8-cpu", TritonOptions())
    gpu_dir = write_triton_model(tmp_path / "repo", artefact, info, "int8", TritonOptions())
    assert cpu_dir.name == "jrgr_f_r_int8_cpu" and gpu_dir.name == "jrgr_f_r_int8"
    assert _parse_pbtxt((cpu_dir / "config.pbtxt").read_text())["instance_group"][0]["kind"] == "KIND_CPU"
    assert _parse_pbtxt((gpu_dir / "config.pbtxt").read_text())["instance_group"][0]["kind"] == "KIND_GPU"
    assert (cpu_dir / "1" / "model.onnx").read_bytes() == b"onnx bytes"
    assert read_sidecar(cpu_dir / "1" / "model.onnx") == info


def test_triton_config_parses_as_tritons_model_config(tiny_checkpoint, tmp_path):
    model_config = pytest.importorskip("tritonclient.grpc.model_config_pb2",
                                       reason="tritonclient[grpc] not installed (the strict field check runs anyway)")
    from google.protobuf import text_format

    text = config_pbtxt("jrgr_f_r", _info(), 8, 1, "gpu")
    parsed = text_format.Parse(text, model_config.ModelConfig())
    assert parsed.max_batch_size == 8 and list(parsed.input[0].dims) == [3, -1, -1]


# --- TensorRT -----------------------------------------------------------------------------------------------


def test_engine_file_name():
    gpu = GpuInfo("NVIDIA H100 80GB HBM3", "9.0")
    assert gpu.arch == "sm90"
    assert engine_name("f_r", "fp16", gpu, "10.8.0.43") == "f_r.fp16.sm90.trt10.8.plan"


@pytest.mark.skipif(HAS_TENSORRT, reason="TensorRT is installed: the missing-dependency error cannot be provoked")
def test_engine_without_tensorrt_names_the_trt_extra(tiny_checkpoint, tmp_path):
    with pytest.raises(MissingDependencyError, match=r"jrgr-deploy\[trt\]") as raised:
        export_nets(ExportRequest(out_dir=tmp_path, weights=tiny_checkpoint, nets=("f_r",), fmt="engine"))
    assert raised.value.extra == "trt"
    assert not list(tmp_path.iterdir())  # refused before any ONNX work


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_TENSORRT, reason="TensorRT is not installed (pip install 'jrgr-deploy[trt]' on a GPU)")
def test_engine_build_on_a_gpu(tiny_checkpoint, tmp_path):
    cache = tmp_path / "timing.cache"
    result = export_nets(ExportRequest(out_dir=tmp_path, weights=tiny_checkpoint, nets=("f_r",), fmt="engine",
                                       shape="1x3x64x64", max_shape="2x3x128x128", timing_cache=cache))
    onnx_file, plan_file = result.files
    assert plan_file.path.suffix == ".plan" and plan_file.path.name.startswith("f_r.fp32.sm")
    info = read_sidecar(plan_file.path)
    assert info.kind == "engine" and info.tensorrt_version and info.gpu_name and info.compute_capability
    assert info.profile_max == [2, 3, 128, 128] and cache.is_file() and cache.stat().st_size > 0
