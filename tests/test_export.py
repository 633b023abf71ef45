"""`jrgr export`: FP32 / FP16 / INT8 ONNX of f_r and g_r from a tiny checkpoint, verified in ONNX Runtime.

Real parts throughout: a tiny-preset checkpoint with perturbed random weights (the residual nets start as the
identity, which would make every precision trivially exact), torch's exporter, ModelOpt, ONNX Runtime.
"""

from __future__ import annotations

import importlib.util
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from tiny_checkpoints import save_tiny_checkpoint

from jrgr_deploy.app.cli import main
from jrgr_deploy.artifact import read_sidecar
from jrgr_deploy.checkpoint import load_net
from jrgr_deploy.errors import MissingDependencyError
from jrgr_deploy.export.accuracy import Gate, output_agreement
from jrgr_deploy.export.exporter import ExportRequest, export_nets
from jrgr_deploy.export.precision import convert_fp16
from jrgr_deploy.image_files import write_rgb

requires_modelopt = pytest.mark.skipif(
    importlib.util.find_spec("modelopt") is None,
    reason="FP16/INT8 export needs the [export] extra (NVIDIA ModelOpt): pip install 'jrgr-deploy[export]'",
)

SMALL = "1x3x64x96"
SMALL_MAX = "2x3x128x128"


def _rainy_images(folder, count, seed, size=(72, 104)):
    """Smooth scenes with bright streaks: structured like rainy frames, unlike white noise."""
    rng = np.random.default_rng(seed)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    folder.mkdir(parents=True, exist_ok=True)
    cleans = []
    for i in range(count):
        base = np.stack([
            127 + 100 * np.sin(xx / (9 + i) + c) * np.cos(yy / (13 + 2 * c)) for c in range(3)
        ], axis=-1)
        clean = np.clip(base, 0, 255).astype(np.uint8)
        streaks = np.zeros((h, w), np.float32)
        for _ in range(25):
            x0, y0 = rng.integers(0, w), rng.integers(0, h - 12)
            streaks[y0 : y0 + 12, x0] = 120
        rainy = np.clip(clean.astype(np.float32) + streaks[..., None], 0, 255).astype(np.uint8)
        write_rgb(folder / f"frame_{i:02d}.png", rainy)
        cleans.append(clean)
    return cleans


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    ckpt = save_tiny_checkpoint(root / "tiny.safetensors")
    _rainy_images(root / "calib", 8, seed=1)
    cleans = _rainy_images(root / "val" / "rainy", 2, seed=2)
    for i, clean in enumerate(cleans):
        write_rgb(root / "val" / "clean" / f"frame_{i:02d}.png", clean)
    return root, ckpt


@pytest.fixture(scope="module")
def all_precisions(assets):
    """One export of f_r and g_r at every precision, dynamic H/W, verified on ground-truth pairs."""
    root, ckpt = assets
    request = ExportRequest(
        out_dir=root / "all", weights=ckpt, nets=("f_r", "g_r"), precisions=("fp32", "fp16", "int8", "int8-cpu"),
        calib=root / "calib", calib_frames=6, shape=SMALL, max_shape=SMALL_MAX,
        val_rainy=root / "val" / "rainy", val_clean=root / "val" / "clean",
        gate=Gate(max_drop_db=3.0, min_psnr_db=20.0),
    )
    return export_nets(request), ckpt


EXPECTED_FILES = {
    ("f_r", "fp32"): "f_r.onnx", ("f_r", "fp16"): "f_r.fp16.onnx", ("f_r", "int8"): "f_r.int8.onnx",
    ("f_r", "int8-cpu"): "f_r.int8-cpu.onnx", ("g_r", "fp32"): "g_r.onnx", ("g_r", "fp16"): "g_r.fp16.onnx",
    ("g_r", "int8"): "g_r.int8.onnx", ("g_r", "int8-cpu"): "g_r.int8-cpu.onnx",
}
# Lowest acceptable PSNR (dB) against the FP32 PyTorch net on a fresh frame, per precision.
FLOOR_DB = {"fp32": 90.0, "fp16": 50.0, "int8": 22.0, "int8-cpu": 22.0}


@requires_modelopt
def test_every_precision_is_written_and_runs_in_onnxruntime(all_precisions):
    result, ckpt = all_precisions
    assert not result.refused
    written = {(f.net, f.precision): f.path.name for f in result.files}
    assert written == EXPECTED_FILES
    rng = np.random.default_rng(5)
    # A frame size and batch the export never saw: the graph is dynamic in N, H and W.
    frames = rng.uniform(-1, 1, (2, 3, 48, 112)).astype(np.float32)
    for exported in result.files:
        info = exported.info
        session = ort.InferenceSession(str(exported.path), providers=["CPUExecutionProvider"])
        (inp,), (out,) = session.get_inputs(), session.get_outputs()
        assert (inp.name, out.name) == ((info.input_name, info.output_name))
        assert inp.type == out.type == "tensor(float)"  # FP16/INT8 keep float32 I/O
        got = session.run(None, {inp.name: frames})[0]
        with torch.no_grad():
            want = load_net(ckpt, exported.net)(torch.from_numpy(frames)).numpy()
        assert got.shape == want.shape
        agreement = output_agreement(want, got)
        assert agreement["psnr_db"] >= FLOOR_DB[exported.precision], (exported.path.name, agreement)
    fp16 = onnx.load(str(result.files[1].path))
    assert any(node.op_type == "Cast" for node in fp16.graph.node)
    int8 = onnx.load(str(result.files[2].path))
    assert sum(node.op_type == "QuantizeLinear" for node in int8.graph.node) >= 10


@requires_modelopt
def test_io_names_contract_and_sidecar(all_precisions):
    result, ckpt = all_precisions
    by_name = {f.path.name: f for f in result.files}
    f_r, g_r = by_name["f_r.onnx"], by_name["g_r.int8.onnx"]
    assert (f_r.info.input_name, f_r.info.output_name) == ("rainy", "clean")
    assert (g_r.info.input_name, g_r.info.output_name) == ("rain_layer", "real_rain_layer")
    for exported in result.files:
        info = read_sidecar(exported.path)
        assert info == exported.info  # round trip through JSON
        assert info.size_multiple == 16 and info.input_shape == [None, 3, None, None] and info.preset == "tiny"
        assert info.opset == 19 and info.source_checkpoint_sha256 and len(info.source_checkpoint_sha256) == 64
        assert {"torch", "onnx", "onnxruntime", "onnxslim", "modelopt"} <= set(info.tool_versions)
        assert info.accuracy["gate"]["passed"] is True
        assert info.accuracy["vs_pytorch_fp32"]["frames"] == 2
        graph_input = onnx.load(str(exported.path)).graph.input[0].type.tensor_type.shape.dim
        assert [d.dim_param or d.dim_value for d in graph_input] == ["batch", 3, "height", "width"]
    assert g_r.info.value_range == (-2.0, 2.0) and f_r.info.value_range == (-1.0, 1.0)
    assert by_name["f_r.int8.onnx"].info.quantization["method"] == "modelopt.onnx.quantization.quantize"
    assert by_name["f_r.int8-cpu.onnx"].info.quantization["method"] == "onnxruntime.quantization.quantize_static"
    assert by_name["f_r.int8-cpu.onnx"].info.precision == "int8"


@requires_modelopt
def test_accuracy_report_has_deraining_drop_for_f_r_only(all_precisions):
    result, _ = all_precisions
    by_name = {f.path.name: f.info.accuracy for f in result.files}
    fp32 = by_name["f_r.onnx"]["deraining"]
    int8 = by_name["f_r.int8.onnx"]["deraining"]
    # The FP32 graph derains exactly like the FP32 PyTorch net; INT8 has its own (measured) drop.
    assert abs(fp32["drop_db"]) < 1e-3 and fp32["pairs"] == 2
    assert int8["psnr_y_db_fp32"] == pytest.approx(fp32["psnr_y_db_fp32"])
    assert int8["drop_db"] == pytest.approx(int8["psnr_y_db_fp32"] - int8["psnr_y_db"])
    assert "deraining" not in by_name["g_r.onnx"]  # a rain layer has no ground truth to derain towards
    assert "PSNR vs PyTorch" in result.table and "f_r.int8-cpu.onnx" in result.table


@requires_modelopt
def test_fixed_shape_export(assets, tmp_path):
    root, ckpt = assets
    # 3 calibration frames for a fixed batch of 2: the calibrators get whole batches (last frame repeated).
    result = export_nets(ExportRequest(out_dir=tmp_path, weights=ckpt, nets=("f_r",), shape="2x3x64x96",
                                       precisions=("fp32", "fp16", "int8", "int8-cpu"),
                                       calib=root / "calib", calib_frames=3, verify_frames=3,
                                       gate=Gate(min_psnr_db=20.0)))
    assert [f.precision for f in result.files] == ["fp32", "fp16", "int8", "int8-cpu"]
    for exported in result.files:
        dims = onnx.load(str(exported.path)).graph.input[0].type.tensor_type.shape.dim
        assert [d.dim_value for d in dims] == [2, 3, 64, 96]
        assert exported.info.input_shape == [2, 3, 64, 96]
        assert exported.info.accuracy["frames_source"].startswith(f"folder {root / 'calib'} (held aside)")
        assert exported.info.accuracy["vs_pytorch_fp32"]["frames"] == 3
    assert result.files[1].info.quantization["calibration_frames"] == 4


@requires_modelopt
def test_gate_refuses_a_file_that_loses_too_much(assets, tmp_path, capsys):
    root, ckpt = assets
    code = main(["export", "--weights", str(ckpt), "--nets", "f_r", "--out", str(tmp_path), "--shape", SMALL,
                 "--precision", "fp32", "fp16", "--calib", str(root / "calib"), "--calib-frames", "4",
                 "--min-psnr-db", "150"])
    captured = capsys.readouterr()
    assert code == 2
    assert "f_r fp16: PSNR vs FP32 PyTorch" in captured.err and "< --min-psnr-db 150" in captured.err
    assert (tmp_path / "f_r.onnx").is_file()  # FP32 reproduces the net exactly and passes
    assert not (tmp_path / "f_r.fp16.onnx").exists() and not (tmp_path / "f_r.fp16.onnx.json").exists()
    assert "REFUSED" in captured.out
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left behind


@requires_modelopt
def test_gate_on_deraining_drop(assets, tmp_path):
    root, ckpt = assets
    result = export_nets(ExportRequest(
        out_dir=tmp_path, weights=ckpt, nets=("f_r",), precisions=("int8",), shape=SMALL, calib=root / "calib",
        calib_frames=4, val_rainy=root / "val" / "rainy", val_clean=root / "val" / "clean",
        gate=Gate(max_drop_db=-50.0),  # demands INT8 derain 50 dB better than FP32: impossible
    ))
    assert not result.files
    ((net, precision, reason),) = result.refused
    assert (net, precision) == ("f_r", "int8") and "drop" in reason and "--max-drop-db -50" in reason


def _cli(*args):
    return main(["export", *map(str, args)])


def test_errors_are_clear(assets, tmp_path, capsys):
    root, ckpt = assets
    not_a_checkpoint = tmp_path / "bad.safetensors"
    not_a_checkpoint.write_text("not weights")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images here")
    partial = save_tiny_checkpoint(tmp_path / "stage1.safetensors", ("f_s", "f_r"))
    cases = [
        (("--weights", not_a_checkpoint, "--out", tmp_path / "o"), "bad.safetensors"),
        (("--weights", tmp_path / "missing.safetensors", "--out", tmp_path / "o"), "does not exist"),
        (("--weights", ckpt, "--nets", "f_x", "--out", tmp_path / "o"), "net 'f_x' cannot be exported"),
        (("--weights", partial, "--nets", "g_r", "--out", tmp_path / "o"), "has no net 'g_r'"),
        (("--weights", ckpt, "--out", tmp_path / "o", "--precision", "int8"), "needs calibration data"),
        (("--weights", ckpt, "--out", tmp_path / "o", "--precision", "int8", "--calib", empty),
         "holds no images"),
        (("--weights", ckpt, "--out", tmp_path / "o", "--shape", "1x3x60x96"), "nearest valid size is 64x96"),
        (("--weights", ckpt, "--out", tmp_path / "o", "--shape", "1x3x64"), "is not NxCxHxW"),
        (("--weights", ckpt, "--out", tmp_path / "o", "--precision", "bf16"), "'bf16' is not one of"),
    ]
    for args, expected in cases:
        assert _cli(*args) == 2, args
        err = capsys.readouterr().err
        assert expected in err, (args, err)
        assert err.count("\n") == 1  # one clear line, no traceback


def test_without_weights_uses_the_default_model_or_says_none_is_installed(tmp_path, capsys):
    from jrgr_deploy.default_model import CHECKPOINT_NAME, WEIGHTS_DIR

    if (WEIGHTS_DIR / CHECKPOINT_NAME).is_file():
        pytest.skip("a default model is installed; the missing-model message cannot be provoked")
    assert _cli("--out", tmp_path) == 2
    assert "no default checkpoint is installed" in capsys.readouterr().err


def test_json_output(assets, tmp_path, capsys):
    _, ckpt = assets
    assert _cli("--weights", ckpt, "--nets", "g_r", "--out", tmp_path, "--shape", SMALL, "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert [f["precision"] for f in report["files"]] == ["fp32"] and not report["refused"]
    assert report["accuracy"][0]["vs_pytorch_fp32"]["max_abs_error"] < 1e-3
    # No calibration source and no validation pairs: verified on scikit-image's photographs (as rain layers).
    assert report["accuracy"][0]["frames_source"].startswith("scikit-image sample photographs, as rain layers")


@requires_modelopt
def test_json_stdout_stays_clean_while_calibrating(assets, tmp_path, capsys):
    root, ckpt = assets
    # The calibrators' progress output (ModelOpt in-process, ORT's quantiser in a worker) goes to stderr.
    assert _cli("--weights", ckpt, "--nets", "f_r", "--out", tmp_path, "--shape", SMALL, "--json",
                "--precision", "int8", "int8-cpu", "--calib", root / "calib", "--min-psnr-db", "20") == 0
    report = json.loads(capsys.readouterr().out)
    assert [f["precision"] for f in report["files"]] == ["int8", "int8-cpu"]


def test_missing_modelopt_names_the_export_extra(tmp_path, monkeypatch):
    src = tmp_path / "f_r.onnx"
    onnx.save(onnx.helper.make_model(onnx.helper.make_graph(
        [onnx.helper.make_node("Identity", ["rainy"], ["clean"])], "g",
        [onnx.helper.make_tensor_value_info("rainy", onnx.TensorProto.FLOAT, [None, 3, None, None])],
        [onnx.helper.make_tensor_value_info("clean", onnx.TensorProto.FLOAT, [None, 3, None, None])],
    )), str(src))
    for module in ("modelopt", "modelopt.onnx", "modelopt.onnx.autocast", "modelopt.onnx.quantization"):
        monkeypatch.setitem(sys.modules, module, None)  # what an environment without ModelOpt looks like
    frames = np.zeros((1, 3, 16, 16), np.float32)
    with pytest.raises(MissingDependencyError, match=r"jrgr-deploy\[export\]"):
        convert_fp16(src, tmp_path / "f_r.fp16.onnx", "rainy", frames)


def _conv_weights_quantized(model: onnx.ModelProto) -> dict[str, bool]:
    """{Conv node name: whether its weight reaches it through a DequantizeLinear} of a QDQ model."""
    producer = {out: node for node in model.graph.node for out in node.output}
    return {node.name: getattr(producer.get(node.input[1]), "op_type", None) == "DequantizeLinear"
            for node in model.graph.node if node.op_type in ("Conv", "ConvTranspose")}


def test_int8_cpu_options_and_the_training_frame_size_reach_the_file_and_sidecar(assets, tmp_path, capsys):
    """--int8-* options make a real quantiser run as asked: the boundary convolutions stay FP32 (no Q/DQ on
    their weights) while the others are INT8; the sidecar records the options, the FP32 nodes and the
    --train-frame-size that `--infer-size auto` reads; without the flag the size is measured from the
    training data the checkpoint's config names (here: the calibration folder, 72x104 frames)."""
    root, ckpt = assets
    assert _cli("--weights", ckpt, "--nets", "f_r", "--out", tmp_path / "kept", "--precision", "int8-cpu",
                "--calib", root / "calib", "--min-psnr-db", "15", "--int8-reduce-range", "--int8-keep-fp32",
                "first-conv", "last-conv", "output", "--train-frame-size", "640x360") == 0
    path = tmp_path / "kept" / "f_r.int8-cpu.onnx"
    info = read_sidecar(path)
    quantization = info.quantization
    assert quantization["options"]["keep_fp32"] == ["first-conv", "last-conv", "output"]
    assert quantization["options"]["reduce_range"] is True and quantization["weights"] == "int7 per-channel"
    kept = set(quantization["fp32_nodes"])
    convs = _conv_weights_quantized(onnx.load(str(path)))
    fp32_convs = {name for name, quantized in convs.items() if not quantized}
    assert len(fp32_convs) >= 2 and fp32_convs <= kept  # the first and the last convolution, nothing else
    assert sum(convs.values()) >= len(convs) - len(fp32_convs) > 0  # the rest are INT8
    assert info.train_frame_hw == [360, 640]

    from jrgr_deploy.checkpoint import load_checkpoint, save_checkpoint
    from jrgr_deploy.config import JRGRConfig

    checkpoint = load_checkpoint(ckpt)
    config = JRGRConfig.from_preset("tiny").with_overrides([f"data.real={root / 'calib'}"])
    nets = {name: load_net(ckpt, name) for name in checkpoint.state_dicts}
    trained = save_checkpoint(tmp_path / "trained.safetensors", config=config, nets=nets, stage="stage2", step=1)
    assert _cli("--weights", trained, "--nets", "f_r", "--out", tmp_path / "measured", "--shape", SMALL) == 0
    assert read_sidecar(tmp_path / "measured" / "f_r.onnx").train_frame_hw == [72, 104]
    capsys.readouterr()


def test_the_veil_strength_goes_into_f_rs_sidecar_only(assets, tmp_path, capsys):
    """`--veil S` writes the runtime's veil strength into F_r's sidecar (G_r's says 0: it derains nothing); a
    strength out of range is refused before anything is exported."""
    _, ckpt = assets
    assert _cli("--weights", ckpt, "--nets", "f_r", "g_r", "--out", tmp_path / "out", "--shape", SMALL,
                "--veil", "0.3") == 0
    assert read_sidecar(tmp_path / "out" / "f_r.onnx").veil_strength == 0.3
    assert read_sidecar(tmp_path / "out" / "g_r.onnx").veil_strength == 0.0
    capsys.readouterr()
    assert _cli("--weights", ckpt, "--nets", "f_r", "--out", tmp_path / "refused", "--veil", "1.0") == 2
    err = capsys.readouterr().err
    assert "--veil 1: expected a number from 0 (off) to below 1" in err and "Traceback" not in err
    assert not (tmp_path / "refused").exists()
