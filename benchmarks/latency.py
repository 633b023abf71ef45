"""Latency of F_r across backends, precisions and frame sizes, against the device's arithmetic limit.

    python benchmarks/latency.py                      # CPU: tiny + paper presets, 640x360 / 1280x720 / 1920x1080
    python benchmarks/latency.py --quick --out /tmp/l # CI smoke: tiny, one small size, 2 iterations
    python benchmarks/latency.py --backends gpu       # on a GPU machine (benchmarks/gpu_check.sh runs this)

For each preset the F_r checkpoint (a trained one from --weights / benchmarks/work/quality/, else random
weights: latency does not depend on weight values) is exported once with `jrgr export`'s pipeline to FP32,
FP16 (ModelOpt AutoCast), INT8 Q/DQ (ModelOpt) and INT8 for the CPU (ORT quantize_static), calibrated on
a synthesised rainy clip; the artefacts are cached under benchmarks/work/latency/. Then, per frame size
(padded up to the net's size multiple, as the runtime pads), every backend is warmed up and timed
round-robin in one process (`jrgr_deploy.runtime.call_latency.time_interleaved`), so the ratios hold on a
noisy, shared machine. Each row gets the net's FLOPs per frame (`count_flops`) and the achieved GFLOP/s
as a share of the measured fp32 matrix-multiply peak of the same device (the physical-limit column).

With trained weights, each path's deraining PSNR-Y on a 1280x720 driving-style clip with ground truth
(`jrgr_deploy.clips`) gives its accuracy cost against FP32, and the `--infer-size` mode (net at 640x360,
rain layer upsampled onto the 1280x720 frame) gets its fps gain and PSNR-Y cost.

Writes benchmarks/results/latency.json (+ machine report), latency.png and the "Latency" section of
BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import benchmark_logging, machine_report, matmul_peak_gflops  # noqa: E402
from markdown_sections import add_output_arguments, publish_section, resolve_markdown  # noqa: E402

from jrgr_deploy.errors import JRGRError  # noqa: E402

logger = logging.getLogger("latency")

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results"
DEFAULT_WORK = REPO / "benchmarks" / "work" / "latency"
QUALITY_WORK = REPO / "benchmarks" / "work" / "quality"
DEFAULT_MARKDOWN = REPO / "BENCHMARKS.md"
DEFAULT_SIZES = ("640x360", "1280x720", "1920x1080")
SNAPSHOT_SOURCES: dict[str, str] = {}  # private copy -> the trained checkpoint it was copied from
PRESETS = ("tiny", "paper")


@dataclass(frozen=True)
class BackendSpec:
    """One row kind: `runtime` is a runtime backend name (or "torch-cuda", this script's GPU torch runner);
    `precision` names the artefact (fp32, fp16, int8 = ModelOpt Q/DQ, int8-cpu = ORT quantiser)."""

    name: str
    label: str
    runtime: str
    precision: str
    gpu: bool = False
    graph: bool = False
    threads: int | None = None


SPECS = {
    spec.name: spec
    for spec in (
        BackendSpec("torch", "PyTorch eager FP32", "torch", "fp32"),
        BackendSpec("torch-1t", "PyTorch eager FP32, 1 thread", "torch", "fp32", threads=1),
        BackendSpec("ort-fp32", "ORT CPU FP32", "onnxruntime", "fp32"),
        BackendSpec("ort-fp16", "ORT CPU FP16 (AutoCast)", "onnxruntime", "fp16"),
        BackendSpec("ort-int8", "ORT CPU INT8 (ModelOpt Q/DQ)", "onnxruntime", "int8"),
        BackendSpec("ort-int8-cpu", "ORT CPU INT8 (ORT quantiser)", "onnxruntime", "int8-cpu"),
        BackendSpec("torch-cuda-fp32", "PyTorch CUDA FP32", "torch-cuda", "fp32", gpu=True),
        BackendSpec("torch-cuda-fp16", "PyTorch CUDA FP16", "torch-cuda", "fp16", gpu=True),
        BackendSpec("torch-cuda-fp32-graph", "PyTorch CUDA FP32 + CUDA graph", "torch-cuda", "fp32", True, True),
        BackendSpec("torch-cuda-fp16-graph", "PyTorch CUDA FP16 + CUDA graph", "torch-cuda", "fp16", True, True),
        BackendSpec("ort-cuda-fp32", "ORT CUDA EP FP32", "onnxruntime-cuda", "fp32", gpu=True),
        BackendSpec("ort-cuda-fp16", "ORT CUDA EP FP16", "onnxruntime-cuda", "fp16", gpu=True),
        BackendSpec("ort-trt-fp32", "ORT TensorRT EP FP32", "onnxruntime-trt", "fp32", gpu=True),
        BackendSpec("ort-trt-fp16", "ORT TensorRT EP FP16", "onnxruntime-trt", "fp16", gpu=True),
        BackendSpec("ort-trt-int8", "ORT TensorRT EP INT8 Q/DQ", "onnxruntime-trt", "int8", gpu=True),
        BackendSpec("trt-fp32", "TensorRT FP32", "tensorrt", "fp32", gpu=True),
        BackendSpec("trt-fp16", "TensorRT FP16", "tensorrt", "fp16", gpu=True),
        BackendSpec("trt-int8", "TensorRT INT8 Q/DQ", "tensorrt", "int8", gpu=True),
    )
}
CPU_BACKENDS = tuple(name for name, spec in SPECS.items() if not spec.gpu)
GPU_BACKENDS = tuple(name for name, spec in SPECS.items() if spec.gpu)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=list(PRESETS), choices=PRESETS)
    parser.add_argument("--sizes", nargs="+", default=list(DEFAULT_SIZES), metavar="WxH")
    parser.add_argument("--backends", nargs="+", default=["cpu"], metavar="NAME",
                        help=f"'cpu', 'gpu', 'all' or names: {', '.join(SPECS)} (default cpu)")
    parser.add_argument("--iters", type=int, default=10, help="timed rounds per size (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls per backend and size (default 2)")
    parser.add_argument("--paper-iters", type=int, default=3,
                        help="timed rounds for the paper preset, which takes seconds per frame on a CPU (default 3)")
    parser.add_argument("--paper-warmup", type=int, default=1, help="warm-up calls for the paper preset (default 1)")
    parser.add_argument("--weights", nargs="+", type=Path, default=[], metavar="CKPT",
                        help="trained JRGR checkpoints (matched to a preset by their config); default: the newest "
                             f"*.safetensors holding f_r under {QUALITY_WORK.relative_to(REPO)}/, else random weights")
    parser.add_argument("--random-weights", action="store_true", help="ignore trained checkpoints")
    parser.add_argument("--eval-size", default="1280x720", metavar="WxH",
                        help="frame size of the PSNR-Y clip and of the --infer-size comparison (default 1280x720)")
    parser.add_argument("--infer-size", default="640x360", metavar="WxH",
                        help="inference size of the rain-layer upsampling mode (default 640x360)")
    parser.add_argument("--infer-presets", nargs="*", default=["tiny"], help="presets to run --infer-size on")
    parser.add_argument("--eval-frames", type=int, default=6, help="clip frames for PSNR-Y (default 6)")
    parser.add_argument("--calib-frames", type=int, default=8, help="INT8/FP16 calibration frames (default 8)")
    parser.add_argument("--photo", type=Path, default=None,
                        help="photograph for the clip (default: a Debian wallpaper under benchmarks/work/backgrounds, "
                             "else scikit-image's coffee)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for every backend (default: cores)")
    add_output_arguments(parser, "latency", DEFAULT_OUT, DEFAULT_WORK)
    parser.add_argument("--quick", action="store_true",
                        help="CI smoke run: tiny preset, one small size, 2 iterations, torch + ORT FP32, random "
                             "weights unless --weights")
    args = parser.parse_args(argv)
    if args.quick:
        args.presets = ["tiny"]
        if args.sizes == list(DEFAULT_SIZES):
            args.sizes = ["160x96"]
        if args.backends == ["cpu"]:
            args.backends = ["torch", "ort-fp32"]
        args.iters, args.warmup = min(args.iters, 2), min(args.warmup, 1)
        args.eval_size, args.infer_size, args.eval_frames = args.sizes[0], "80x48", min(args.eval_frames, 2)
        args.calib_frames = min(args.calib_frames, 2)
        args.random_weights = args.random_weights or not args.weights  # CI: never pick up local training runs
    resolve_markdown(args, DEFAULT_MARKDOWN)
    return args


def resolve_backends(names: list[str]) -> list[BackendSpec]:
    chosen: list[str] = []
    for name in names:
        group = {"cpu": CPU_BACKENDS, "gpu": GPU_BACKENDS, "all": tuple(SPECS)}.get(name)
        if group is None and name not in SPECS:
            raise JRGRError(f"--backends: '{name}' is not cpu, gpu, all or one of {', '.join(SPECS)}")
        chosen += list(group or (name,))
    return [SPECS[name] for name in dict.fromkeys(chosen)]


# -- weights, clips, artefacts --------------------------------------------------------------------------


def random_checkpoint(preset: str, work: Path, overrides: tuple[str, ...] = (), name: str | None = None) -> Path:
    """A checkpoint of `preset` (changed by config `overrides`, e.g. ``model.removal.base_channels=24``) with
    random weights (seeded; f_s and f_r only), cached as `work/random_<name or preset>.safetensors`."""
    from jrgr_deploy.config import JRGRConfig

    config = JRGRConfig.from_preset(preset).with_overrides(list(overrides))
    path = work / f"random_{name or preset}.safetensors"
    if path.is_file():
        from jrgr_deploy.checkpoint import load_checkpoint

        if load_checkpoint(path).config == config:
            return path
    import torch

    from jrgr_deploy.checkpoint import save_checkpoint
    from jrgr_deploy.nn.build import build_net

    torch.manual_seed(0)
    nets = {name: build_net(config, name) for name in ("f_s", "f_r")}
    with torch.no_grad():  # residual nets start as the identity: perturb so every layer does real work
        for net in nets.values():
            for parameter in net.parameters():
                parameter.add_(torch.randn_like(parameter) * 0.02)
    work.mkdir(parents=True, exist_ok=True)
    save_checkpoint(path, config=config, nets=nets, stage="stage2", step=0)
    return path


def find_trained(weights: list[Path], random_only: bool) -> dict[str, Path]:
    """preset -> trained checkpoint: from --weights, else the newest one under benchmarks/work/quality/."""
    from jrgr_deploy.checkpoint import load_checkpoint

    if random_only:
        return {}
    candidates = list(weights)
    if not candidates and QUALITY_WORK.is_dir():
        # The quality benchmark's JRGR run first, then any other jointly trained checkpoint, newest first.
        candidates = sorted(QUALITY_WORK.rglob("*.safetensors"), key=lambda p: p.stat().st_mtime, reverse=True)
        candidates = [p for p in candidates if not p.name.endswith(".state.safetensors")]
        candidates.sort(key=lambda p: p != QUALITY_WORK / "jrgr" / "stage2.safetensors")
    found: dict[str, Path] = {}
    for path in candidates:
        try:
            checkpoint = load_checkpoint(path)
        except JRGRError as error:
            if weights:
                raise
            logger.info("skipping %s: %s", path, error)
            continue
        if "f_r" not in checkpoint.net_names:
            if weights:
                raise JRGRError(f"--weights '{path}' holds no f_r; it holds {', '.join(checkpoint.net_names)}")
            continue
        if checkpoint.stage != "stage2" and not weights:
            continue  # found, not given: only the jointly trained F_r
        found.setdefault(checkpoint.config.preset.split("+")[0], path)  # "tiny+overrides" is still a tiny net
    return found


def _split_photo(part: str, preferred: str) -> tuple[np.ndarray, str] | None:
    """A photograph of the quality benchmark's `part` split (test: never trained on), if that data set exists."""
    from jrgr_deploy.image_files import IMAGE_SUFFIXES, read_rgb

    manifest = QUALITY_WORK / "data" / "manifest.json"
    if not manifest.is_file():
        return None
    backgrounds = json.loads(manifest.read_text()).get("backgrounds", {})
    names = backgrounds.get(part) or []
    root = REPO / backgrounds.get("source", "benchmarks/work/backgrounds")
    for name in sorted(names, key=lambda n: n != preferred):
        for suffix in IMAGE_SUFFIXES:
            path = root / f"{name}{suffix}"
            if path.is_file():
                return read_rgb(path), rel(path)
    return None


def _fallback_photo(wallpaper: str, skimage_name: str) -> tuple[np.ndarray, str]:
    from jrgr_deploy.image_files import read_rgb

    path = REPO / "benchmarks" / "work" / "backgrounds" / "debian" / wallpaper
    if path.is_file():
        return read_rgb(path), rel(path)
    from jrgr_deploy.backgrounds import load_skimage_photos

    photos = {b.name: b for b in load_skimage_photos()}
    return photos[skimage_name].image, photos[skimage_name].source


def snapshot(path: Path, work: Path) -> Path:
    """A private copy of a trained checkpoint, so a training run that rewrites it meanwhile cannot mix two
    versions into one benchmark (export, timing and PSNR all read the copy, named by its own hash)."""
    import shutil

    from jrgr_deploy.checkpoint import checkpoint_sha256, load_checkpoint

    work.mkdir(parents=True, exist_ok=True)
    partial = work / "trained_copy.partial.safetensors"
    shutil.copyfile(path, partial)
    checkpoint = load_checkpoint(partial)
    copy = work / f"trained_{checkpoint_sha256(partial)[:12]}_{checkpoint.stage}_step{checkpoint.step}.safetensors"
    partial.replace(copy)
    logger.info("trained checkpoint %s (stage %s, step %d) copied to %s", path, checkpoint.stage, checkpoint.step,
                copy)
    SNAPSHOT_SOURCES[str(copy)] = str(path)
    return copy


def default_photo(photo: Path | None) -> tuple[np.ndarray, str]:
    """The evaluation clip's photograph: --photo, else one of the quality benchmark's *test* backgrounds (the
    trained model never saw it), else a Debian wallpaper / scikit-image photograph."""
    from jrgr_deploy.image_files import read_rgb

    if photo is not None:
        return read_rgb(photo), str(photo)
    return _split_photo("test", "debian/plasma-Path") or _fallback_photo("plasma-Path.jpg", "rocket")


def calibration_photo() -> tuple[np.ndarray, str]:
    """A different photograph for the INT8/FP16 calibration clip (a 'real'-split one: rainy frames like those a
    deployment would calibrate on), so calibration never sees the evaluation frames."""
    return _split_photo("real", "debian/mate-Dune") or _fallback_photo("mate-Dune.jpg", "coffee")


def render_clip_cached(folder: Path, photo: tuple[np.ndarray, str], width: int, height: int, frames: int,
                       seed: int, vanishing_point: tuple[float, float] | None = None) -> Path:
    """A model-B (realistic, temporal) rainy dash-camera clip with ground truth in `folder`, rendered once."""
    from jrgr_deploy.clips import ClipSpec, render_clip

    spec = ClipSpec(width=width, height=height, n_frames=frames, seed=seed)
    if vanishing_point is not None:
        spec = dataclasses.replace(spec, vanishing_point=vanishing_point)
    stamp = folder / "spec.json"
    wanted = json.loads(json.dumps({"width": width, "height": height, "frames": frames, "seed": seed,
                                    "photo": photo[1], "camera": dataclasses.asdict(spec)}))  # as stored
    if stamp.is_file() and json.loads(stamp.read_text()) == wanted and (folder / "rainy.mp4").is_file():
        return folder
    render_clip(photo[0], folder, spec)
    stamp.write_text(json.dumps(wanted))
    return folder


def read_frames(video: Path) -> list[np.ndarray]:
    """Every frame of `video` (BGR uint8), by the package's one video reader (clear errors on bad files)."""
    from jrgr_deploy.video_files import read_video

    return read_video(video)


def read_clip(folder: Path, count: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """`count` frames spread over the clip: (rainy BGR uint8 frames, clean RGB uint8 frames)."""
    from jrgr_deploy.image_files import list_images, read_rgb

    clean_paths = list_images(folder / "clean")
    rainy_all = read_frames(folder / "rainy.mp4")
    total = min(len(rainy_all), len(clean_paths))
    picks = sorted({round(i * (total - 1) / max(count - 1, 1)) for i in range(count)}) if total else []
    return [rainy_all[i] for i in picks], [read_rgb(clean_paths[i]) for i in picks]


def export_artifacts(
    checkpoint: Path,
    precisions: list[str],
    out_dir: Path,
    calib_video: Path | None,
    calib_frames: int,
    work_hw: tuple[int, int],
    engine_profile: tuple[tuple[int, int], tuple[int, int], tuple[int, int]] | None = None,
) -> tuple[dict[str, Path], dict[str, Path], dict[str, Any]]:
    """Export F_r at `precisions` (cached by a manifest). Returns ({precision: onnx}, {precision: engine},
    {precision: export accuracy report}). `engine_profile` = (min, opt, max) (H, W): build TensorRT engines
    too (on a GPU machine). Every file is kept whatever its accuracy (this measures, the export gates)."""
    from jrgr_deploy.export.accuracy import Gate
    from jrgr_deploy.export.exporter import ExportRequest, export_nets

    manifest_path = out_dir / "manifest.json"
    wanted = sorted(set(precisions) | {"fp32"})
    needs_calib = [p for p in wanted if p != "fp32"]
    stamp = calib_video.with_name("spec.json") if calib_video is not None else None
    calib_key = stamp.read_text() if needs_calib and stamp is not None and stamp.is_file() else None
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text())
        files = [Path(p) for p in (*manifest["onnx"].values(), *manifest["engines"].values())]
        same = (manifest["precisions"] == wanted and manifest["engines_wanted"] == bool(engine_profile)
                and manifest.get("calibration") == calib_key and manifest.get("work_hw") == list(work_hw))
        if same and all(p.is_file() for p in files):
            return ({k: Path(v) for k, v in manifest["onnx"].items()},
                    {k: Path(v) for k, v in manifest["engines"].items()}, manifest["accuracy"])
    fmt, shape, min_shape, max_shape = "onnx", f"1x3x{work_hw[0]}x{work_hw[1]}", None, None
    if engine_profile is not None:
        low, opt, high = engine_profile
        fmt = "engine"
        shape, min_shape, max_shape = (f"1x3x{h}x{w}" for h, w in (opt, low, high))
    request = ExportRequest(
        out_dir=out_dir, weights=checkpoint, nets=("f_r",), fmt=fmt, precisions=tuple(wanted),
        calib=calib_video if needs_calib else None, calib_frames=calib_frames, verify_frames=2,
        shape=shape, min_shape=min_shape, max_shape=max_shape or shape,
        gate=Gate(max_drop_db=math.inf, min_psnr_db=-math.inf),
    )
    started = time.perf_counter()
    result = export_nets(request)
    logger.info("exported %s in %.0f s", ", ".join(wanted), time.perf_counter() - started)
    onnx = {f.precision: f.path for f in result.files if f.path.suffix == ".onnx"}
    engines = {f.precision: f.path for f in result.files if f.path.suffix in (".plan", ".engine")}
    accuracy = {precision: report for _, precision, report, _ in result.rows}
    manifest_path.write_text(json.dumps({
        "precisions": wanted, "engines_wanted": bool(engine_profile), "accuracy": accuracy,
        "calibration": calib_key, "work_hw": list(work_hw),
        "onnx": {k: str(v) for k, v in onnx.items()}, "engines": {k: str(v) for k, v in engines.items()},
    }, indent=2, default=float))
    return onnx, engines, accuracy


# -- backends ---------------------------------------------------------------------------------------------


class TorchCudaBackend:
    """F_r in PyTorch on the GPU, FP32 or FP16, optionally replayed from a CUDA graph (one per input shape).

    Same protocol as the runtime backends: (N, 3, H, W) float32 host array in, float32 host array out; the
    host<->device copies are inside the call, as they are for the ORT/TensorRT GPU backends.
    """

    name = "torch-cuda"
    device = "cuda"

    def __init__(self, checkpoint: Path, fp16: bool, graph: bool) -> None:
        try:
            import torch
        except ImportError as error:
            raise JRGRError("PyTorch is not installed") from error
        if not torch.cuda.is_available():
            raise JRGRError(f"PyTorch {torch.__version__} sees no CUDA GPU (CUDA build: {torch.version.cuda})")
        from jrgr_deploy.checkpoint import load_checkpoint, load_net
        from jrgr_deploy.nn.build import size_multiple
        from jrgr_deploy.runtime.backends.base import InputContract

        torch.backends.cudnn.benchmark = True
        self._torch = torch
        self.path = Path(checkpoint)
        self.dtype = torch.float16 if fp16 else torch.float32
        self.graph = graph
        self.module = load_net(checkpoint, "f_r").to("cuda").to(self.dtype).eval()
        multiple = size_multiple(load_checkpoint(checkpoint).config, "f_r")
        self.input_contract = InputContract("rainy", "clean", int(multiple), (None, 3, None, None),
                                            "fp16" if fp16 else "fp32")
        self._graphs: dict[tuple[int, ...], Any] = {}

    def _capture(self, shape: tuple[int, ...]) -> Any:
        torch = self._torch
        static_in = torch.zeros(shape, device="cuda", dtype=self.dtype)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side), torch.no_grad():
            for _ in range(3):  # cuDNN picks its algorithms before capture
                self.module(static_in)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.no_grad(), torch.cuda.graph(graph):
            static_out = self.module(static_in)
        self._graphs[shape] = (graph, static_in, static_out)
        return self._graphs[shape]

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        torch = self._torch
        self.input_contract.check(batch)
        host = torch.from_numpy(np.ascontiguousarray(batch))
        with torch.no_grad():
            if not self.graph:
                out = self.module(host.to("cuda").to(self.dtype))
            else:
                graph, static_in, static_out = self._graphs.get(tuple(batch.shape)) or self._capture(tuple(batch.shape))
                static_in.copy_(host.to("cuda").to(self.dtype))
                graph.replay()
                out = static_out
            return out.float().cpu().numpy()  # .cpu() waits for the GPU

    def close(self) -> None:
        self._graphs.clear()
        self.module = None


class TorchThreads:
    """A torch backend that runs with its own thread count: torch's intra-op pool is process-wide, so two
    torch rows with different counts must each set theirs before every call."""

    def __init__(self, backend: Any, threads: int) -> None:
        import torch

        self._torch = torch
        self.backend = backend
        self.threads = threads
        self.input_contract = backend.input_contract
        self.name = backend.name

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        self._torch.set_num_threads(self.threads)
        return self.backend(batch)

    def close(self) -> None:
        self.backend.close()


def unavailable_reason(spec: BackendSpec) -> str | None:
    """Why a GPU row cannot run here (checked before any export work), or None."""
    import importlib.util

    if not spec.gpu:
        return None
    if spec.runtime == "torch-cuda":
        import torch

        if not torch.cuda.is_available():
            return f"PyTorch {torch.__version__} sees no CUDA GPU (CUDA build: {torch.version.cuda})"
        return None
    if spec.runtime.startswith("onnxruntime"):
        import onnxruntime

        provider = "CUDAExecutionProvider" if spec.runtime == "onnxruntime-cuda" else "TensorrtExecutionProvider"
        if provider not in onnxruntime.get_available_providers():
            return (f"onnxruntime {onnxruntime.__version__} has no {provider} "
                    "(install onnxruntime-gpu, not onnxruntime, on a CUDA machine)")
        return None
    if importlib.util.find_spec("tensorrt") is None:
        return "TensorRT is not installed (pip install 'jrgr-deploy[trt]')"
    return None


def open_spec(spec: BackendSpec, checkpoint: Path, onnx: dict[str, Path], engines: dict[str, Path],
              threads: int) -> Any:
    """Open the backend of one row; raises JRGRError (or the library's error) saying what is missing."""
    from jrgr_deploy.runtime.backends import open_backend

    if spec.runtime == "torch":
        return TorchThreads(open_backend(checkpoint, "torch", net="f_r"), spec.threads or threads)
    if spec.runtime == "torch-cuda":
        return TorchCudaBackend(checkpoint, fp16=spec.precision == "fp16", graph=spec.graph)
    if spec.runtime == "tensorrt":
        if spec.precision not in engines:
            raise JRGRError(f"no TensorRT engine for {spec.precision} (TensorRT missing or its build failed)")
        return open_backend(engines[spec.precision], "tensorrt")
    if spec.precision not in onnx:
        raise JRGRError(f"no {spec.precision} ONNX artefact (its export failed)")
    return open_backend(onnx[spec.precision], spec.runtime, threads=threads)


# -- measuring --------------------------------------------------------------------------------------------


def measure_preset(preset: str, checkpoint: Path, trained: bool, specs: list[BackendSpec], args: argparse.Namespace,
                   clip: Path | None, calib: Path | None, peak_gflops: dict[str, float]) -> dict[str, Any]:
    from jrgr_deploy.checkpoint import checkpoint_sha256, load_checkpoint
    from jrgr_deploy.flops import count_flops
    from jrgr_deploy.frames import padded_hw, parse_wh
    from jrgr_deploy.nn.build import size_multiple
    from jrgr_deploy.runtime.call_latency import bench_batch, time_interleaved

    loaded = load_checkpoint(checkpoint)
    config = loaded.config
    multiple = int(size_multiple(config, "f_r"))
    sizes = [parse_wh(s) for s in args.sizes]
    padded = [padded_hw(h, w, multiple) for w, h in sizes]
    sha = checkpoint_sha256(checkpoint)
    threads = args.threads
    iters, warmup = (args.paper_iters, args.paper_warmup) if preset == "paper" else (args.iters, args.warmup)

    skipped: dict[str, str] = {}
    for spec in specs:
        reason = unavailable_reason(spec)
        if reason is not None:
            skipped[spec.name] = reason
            logger.warning("skipping %s: %s", spec.name, reason)
    specs = [s for s in specs if s.name not in skipped]
    cpu_precisions = sorted({s.precision for s in specs if s.runtime == "onnxruntime"})
    gpu_precisions = sorted({s.precision for s in specs if s.gpu and s.runtime != "torch-cuda"})
    onnx, engines, accuracy = export_artifacts(
        checkpoint, cpu_precisions, args.work / f"{preset}-{sha[:12]}" / "cpu", calib, args.calib_frames,
        min(padded))
    if gpu_precisions:
        want_engines = any(s.runtime == "tensorrt" for s in specs)
        profile = (min(padded), padded[len(padded) // 2], max(padded))
        gpu_dir = args.work / f"{preset}-{sha[:12]}" / "gpu"
        try:
            gpu_onnx, engines, gpu_accuracy = export_artifacts(
                checkpoint, [p for p in gpu_precisions if p != "int8-cpu"], gpu_dir, calib, args.calib_frames,
                profile[1], profile if want_engines else None)
        except JRGRError as error:  # TensorRT missing / no GPU: the ORT GPU providers can still run
            logger.warning("no TensorRT engines: %s", error)
            for spec in specs:
                if spec.runtime == "tensorrt":
                    skipped[spec.name] = f"engine build unavailable: {error}"
            gpu_onnx, engines, gpu_accuracy = export_artifacts(
                checkpoint, [p for p in gpu_precisions if p != "int8-cpu"], gpu_dir / "onnx", calib,
                args.calib_frames, profile[1])
        accuracy = {**accuracy, **{f"gpu-{k}": v for k, v in gpu_accuracy.items()}}
        gpu_specs_onnx = gpu_onnx
    else:
        gpu_specs_onnx = {}

    backends: dict[str, Any] = {}
    for spec in specs:
        if spec.name in skipped:
            continue
        artefacts = gpu_specs_onnx if spec.gpu else onnx
        try:
            backends[spec.name] = open_spec(spec, checkpoint, artefacts, engines, threads)
        except (JRGRError, ImportError, RuntimeError, OSError) as error:
            skipped[spec.name] = str(error).splitlines()[0]
            logger.warning("skipping %s: %s", spec.name, skipped[spec.name])

    rows: list[dict[str, Any]] = []
    try:
        for (width, height), (ph, pw) in zip(sizes, padded, strict=True):
            flops = count_flops(onnx["fp32"], (1, 3, ph, pw)).flops
            if not backends:
                break
            first = next(iter(backends.values()))
            batch = bench_batch(first.input_contract, (height, width))

            def call(backend: Any, batch: np.ndarray = batch) -> Any:
                return backend(batch)

            calls = {name: (lambda b=backend: call(b)) for name, backend in backends.items()}
            logger.info("%s %dx%d (padded %dx%d): timing %s, %d warm-up + %d rounds", preset, width, height, pw, ph,
                        ", ".join(calls), warmup, iters)
            started = time.perf_counter()
            timings = time_interleaved(calls, warmup=warmup, iters=iters)
            load = os.getloadavg()[0]
            logger.info("  done in %.0f s (load %.1f)", time.perf_counter() - started, load)
            torch_p50 = timings["torch"].summary()["p50"] if "torch" in timings else None
            for name, timing in timings.items():
                spec = SPECS[name]
                summary = timing.summary()
                p50_s = summary["p50"] / 1e3
                achieved = flops / p50_s / 1e9
                peak = peak_gflops.get("cuda" if spec.gpu else "cpu")
                rows.append({
                    "preset": preset, "backend": name, "label": spec.label, "precision": spec.precision,
                    "device": "cuda" if spec.gpu else "cpu", "frame_wh": [width, height], "input_hw": [ph, pw],
                    "gflop_per_frame": round(flops / 1e9, 3), "latency_ms": summary,
                    "throughput_fps": summary["throughput_fps"], "achieved_gflop_per_s": round(achieved, 2),
                    "percent_of_peak": round(100 * achieved / peak, 1) if peak else None,
                    "speedup_vs_torch": round(torch_p50 / summary["p50"], 2) if torch_p50 else None,
                    "load_average_1min": round(load, 2),
                })
        quality = evaluate_psnr(backends, clip, args) if clip is not None and (trained or args.quick) else {}
        infer = (measure_infer_size(backends, rows, clip, args)
                 if clip is not None and preset in args.infer_presets else None)
    finally:
        for backend in backends.values():
            backend.close()
    for row in rows:
        q = quality.get(row["backend"])
        if q:
            row["psnr_y_db"] = q["psnr_y_db"]
            row["psnr_y_cost_db"] = q["cost_db"]
    return {
        "preset": preset,
        "weights": {"path": str(checkpoint), "copied_from": SNAPSHOT_SOURCES.get(str(checkpoint)), "sha256": sha,
                    "stage": loaded.stage, "step": loaded.step,
                    "trained": trained, "config_preset": config.preset,
                    "f_r": dataclasses.asdict(config.model.removal)},
        "size_multiple": multiple,
        "iters": iters, "warmup": warmup,
        "artefacts": {k: str(v) for k, v in {**onnx, **{f"engine-{k}": v for k, v in engines.items()}}.items()},
        "export_accuracy": accuracy,
        "skipped": skipped,
        "rows": rows,
        "psnr": quality,
        "infer_size": infer,
    }


def _derain_psnr(processor: Any, rainy: list[np.ndarray], clean: list[np.ndarray]) -> float:
    from jrgr_deploy.metrics import psnr_y

    values = [psnr_y(processor(frame)[..., ::-1], truth) for frame, truth in zip(rainy, clean, strict=True)]
    return float(np.mean(values))


def evaluate_psnr(backends: dict[str, Any], clip: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Deraining PSNR-Y of every backend on the clip's frames at full resolution; cost vs ORT FP32 (or torch)."""
    from jrgr_deploy.metrics import psnr_y
    from jrgr_deploy.runtime.processing import FrameProcessor

    rainy, clean = read_clip(clip, args.eval_frames)
    if not rainy:
        return {}
    results: dict[str, Any] = {"rainy_input": {"psnr_y_db": round(float(np.mean(
        [psnr_y(r[..., ::-1], c) for r, c in zip(rainy, clean, strict=True)])), 3)}}
    for name, backend in backends.items():
        results[name] = {"psnr_y_db": round(_derain_psnr(FrameProcessor(backend), rainy, clean), 3)}
    reference = results.get("ort-fp32") or results.get("torch") or results.get("ort-cuda-fp32")
    for name in backends:
        results[name]["cost_db"] = (round(reference["psnr_y_db"] - results[name]["psnr_y_db"], 3)
                                    if reference else None)
    results["frames"] = len(rainy)
    return results


def measure_infer_size(backends: dict[str, Any], rows: list[dict[str, Any]], clip: Path,
                       args: argparse.Namespace) -> dict[str, Any] | None:
    """Full-resolution vs --infer-size processing (pre + infer + post) on the fastest CPU backend."""
    from jrgr_deploy.frames import parse_wh
    from jrgr_deploy.runtime.call_latency import time_interleaved
    from jrgr_deploy.runtime.processing import FrameProcessor

    eval_wh = list(parse_wh(args.eval_size, "--eval-size"))
    candidates = [r for r in rows if r["frame_wh"] == eval_wh and r["device"] == "cpu" and r["backend"] in backends]
    if not candidates:
        candidates = [r for r in rows if r["device"] == "cpu" and r["backend"] in backends]
    if not candidates:
        return None
    fastest = min(candidates, key=lambda r: (r["frame_wh"] != eval_wh, r["latency_ms"]["p50"]))["backend"]
    backend = backends[fastest]
    infer_wh = parse_wh(args.infer_size, "--infer-size")
    full, small = FrameProcessor(backend), FrameProcessor(backend, infer_hw=(infer_wh[1], infer_wh[0]))
    rainy, clean = read_clip(clip, args.eval_frames)
    frame = rainy[0]
    timings = time_interleaved({"full": lambda: full(frame), "infer": lambda: small(frame)},
                               warmup=args.warmup, iters=args.iters)
    full_s, small_s = timings["full"].summary(), timings["infer"].summary()
    psnr_full, psnr_small = _derain_psnr(full, rainy, clean), _derain_psnr(small, rainy, clean)
    return {
        "backend": fastest, "frame_wh": eval_wh, "infer_wh": list(infer_wh),
        "full_ms": full_s, "infer_size_ms": small_s,
        "fps_full": full_s["throughput_fps"], "fps_infer_size": small_s["throughput_fps"],
        "fps_gain": round(small_s["throughput_fps"] / full_s["throughput_fps"], 2),
        "psnr_y_full_db": round(psnr_full, 3), "psnr_y_infer_size_db": round(psnr_small, 3),
        "psnr_y_cost_db": round(psnr_full - psnr_small, 3), "frames": len(rainy),
    }


# -- outputs ----------------------------------------------------------------------------------------------


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    presets = [p for p in results["presets"] if p["rows"]]
    if not presets:
        return
    fig, axes = plt.subplots(1, len(presets), figsize=(7 * len(presets), 5.4), squeeze=False)
    for ax, preset in zip(axes[0], presets, strict=True):
        sizes = list(dict.fromkeys(tuple(r["frame_wh"]) for r in preset["rows"]))
        names = list(dict.fromkeys(r["backend"] for r in preset["rows"]))
        width = 0.8 / len(names)
        for i, name in enumerate(names):
            xs, p50, err = [], [], []
            for j, size in enumerate(sizes):
                row = next((r for r in preset["rows"] if r["backend"] == name and tuple(r["frame_wh"]) == size), None)
                if row is None:
                    continue
                xs.append(j + (i - (len(names) - 1) / 2) * width)
                p50.append(row["latency_ms"]["p50"])
                err.append(row["latency_ms"]["p95"] - row["latency_ms"]["p50"])
            ax.bar(xs, p50, width, yerr=[np.zeros(len(err)), err], capsize=2, label=SPECS[name].label)
        ax.set_xticks(range(len(sizes)), [f"{w}x{h}" for w, h in sizes])
        ax.set_yscale("log")
        ax.set_ylabel("latency p50 (ms, log; whisker to p95)")
        weights = "trained" if preset["weights"]["trained"] else "random weights"
        ax.set_title(f"F_r, preset {preset['preset']} ({weights}), batch 1")
        ax.grid(axis="y", which="both", alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 3), fontsize=8, frameon=False)
    machine = results["machine"]
    fig.suptitle(f"{machine['cpu']} ({machine['cores']} logical CPUs){' + ' + machine['gpu'] if machine['gpu'] else ''}"
                 f", {machine['date_utc']} UTC", fontsize=9)
    fig.tight_layout(rect=(0, 0.1, 1, 1))  # room for the shared legend below
    fig.savefig(path, dpi=110)
    plt.close(fig)


def rel(path: str | Path) -> str:
    """`path` relative to the repository when it lies inside it (for the Markdown tables)."""
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def _fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def goals(results: dict[str, Any], eval_wh: list[int]) -> list[str]:
    """The benchmark's goals, each as met / not met with its figure."""
    lines = []
    for preset in results["presets"]:
        rows = {r["backend"]: r for r in preset["rows"] if r["frame_wh"] == [1280, 720]}
        if "torch" in rows and "ort-fp32" in rows:
            ratio = rows["torch"]["latency_ms"]["p50"] / rows["ort-fp32"]["latency_ms"]["p50"]
            one = ""
            if "torch-1t" in rows:
                one_ratio = rows["torch-1t"]["latency_ms"]["p50"] / rows["ort-fp32"]["latency_ms"]["p50"]
                one = (f" (against PyTorch on 1 thread, its best on this contended machine: {one_ratio:.2f}×, "
                       f"{'met' if one_ratio >= 2 else 'not met'})")
            lines.append(f"- ORT FP32 ≥ 2× PyTorch eager at 1280×720, preset `{preset['preset']}`, same threads: "
                         f"**{ratio:.2f}×** — {'met' if ratio >= 2 else 'not met'}{one}.")
        cpu_rows = {r["backend"]: r for r in preset["rows"] if r["frame_wh"] == eval_wh and r["device"] == "cpu"}
        if cpu_rows:
            best = min(cpu_rows.values(), key=lambda r: r["latency_ms"]["p50"])
            cost = best.get("psnr_y_cost_db") if preset["weights"]["trained"] else None
            cost_text = (f"PSNR-Y cost vs FP32 **{cost:+.2f} dB** ({best['psnr_y_db']:.2f} dB)" if cost is not None
                         else "PSNR-Y cost not measured (random weights: no meaningful deraining PSNR)")
            speedup = best["speedup_vs_torch"]  # None when no PyTorch CPU row was timed (e.g. `--backends gpu`)
            versus = f", {speedup:.2f}× PyTorch" if speedup else ""
            lines.append(f"- Fastest CPU path at {eval_wh[0]}×{eval_wh[1]}, preset `{preset['preset']}`: "
                         f"**{best['label']}**, p50 {best['latency_ms']['p50']:.0f} ms "
                         f"({best['throughput_fps']:.2f} fps{versus}); {cost_text}.")
        infer = preset.get("infer_size")
        if infer:
            psnr_text = (f"PSNR-Y {infer['psnr_y_full_db']:.2f} → {infer['psnr_y_infer_size_db']:.2f} dB "
                         f"(cost **{infer['psnr_y_cost_db']:+.2f} dB**)" if preset["weights"]["trained"]
                         else "PSNR-Y cost not measured (random weights)")
            lines.append(f"- `--infer-size {infer['infer_wh'][0]}x{infer['infer_wh'][1]}` at "
                         f"{infer['frame_wh'][0]}×{infer['frame_wh'][1]} ({infer['backend']}, preset "
                         f"`{preset['preset']}`, whole frame processing): {infer['fps_full']:.2f} → "
                         f"{infer['fps_infer_size']:.2f} fps, **{infer['fps_gain']:.2f}×**; {psnr_text}.")
    return lines


def _peak_note(results: dict[str, Any]) -> str:
    detail = results.get("cpu_peak_detail")
    if not detail:
        return ""
    parts = [f"{when}: {d['together_gflops']:.0f} on {d['threads']} threads together, {d['one_thread_gflops']:.0f} "
             "on one" for when, d in detail.items()]
    return (" (CPU: the best of the threads together and threads × one thread, measured at the start and the end — "
            + "; ".join(parts) + ")")


def markdown(results: dict[str, Any], png_name: str) -> str:
    machine = results["machine"]
    libs = ", ".join(f"{k} {v}" for k, v in machine["libraries"].items())
    peak = results["peak_gflops"]
    load = results["load_average"]
    lines = [
        f"Command: `{results['command']}` ({results['wall_s'] / 60:.1f} min).",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} logical CPUs"
        f"{', GPU ' + machine['gpu'] if machine['gpu'] else ', no GPU'}; Python {machine['python']}; {libs}. "
        f"Date {machine['date_utc']} UTC. Threads per backend: {results['threads']} (ORT intra-op pool, torch), "
        "except the 1-thread PyTorch row.",
        "",
        "Physical limit: fp32 matrix-multiply peak (2048² `torch.mm`, best of 10) "
        + ", ".join(f"{dev}: **{value:.0f} GFLOP/s**" for dev, value in peak.items())
        + _peak_note(results)
        + ". FLOPs = 2 × MACs of Conv/ConvTranspose/MatMul/Gemm (`jrgr_deploy.flops`); "
        "% of peak = (GFLOP per frame / p50) / peak (the INT8 and FP16 rows are measured against the fp32 peak). "
        "Above 100 % means the backend does fewer multiplications than the direct convolution counted here "
        "(ONNX Runtime's CPU kernels may use Winograd-style 3x3 convolutions) or that the matmul peak was "
        "measured during a load spike: it is an efficiency ratio, not a bound.",
        "",
        f"**Shared machine**: 1-minute load average {load['start'][0]:.1f} at the start, {load['end'][0]:.1f} at the "
        "end (other people's tests and training runs share these cores; each row records the load after its "
        "size), so absolute latencies vary from run to run; the backends of one size were timed round-robin in "
        "the same process, so their *ratios* are comparable. PyTorch's 2-thread pool suffers most from sharing "
        "(its threads wait for each other at every layer), hence the extra 1-thread PyTorch row.",
        "",
    ]
    for preset in results["presets"]:
        weights = preset["weights"]
        trained = weights["trained"]
        wtext = (f"trained checkpoint `{rel(weights['copied_from'] or weights['path'])}` ({weights['stage']}, step "
                 f"{weights['step']}, sha256 {weights['sha256'][:12]}…)" if weights["trained"]
                 else "random weights (latency does not depend on weight values; no PSNR-Y)")
        lines += [
            f"### Preset `{preset['preset']}` — {wtext}",
            "",
            f"{preset['warmup']} warm-up call(s) + {preset['iters']} timed rounds per backend and size"
            + (" (few: this 7-level U-Net takes seconds per frame here)" if preset["preset"] == "paper" else "")
            + f"; sizes padded to multiples of {preset['size_multiple']}.",
            "",
            "| frame (padded input) | GFLOP/frame | backend | p50 ms | p95 ms | p99 ms | fps | GFLOP/s | % of peak "
            "| × PyTorch | PSNR-Y dB | cost vs FP32 dB |",
            "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for row in preset["rows"]:
            (w, h), (ph, pw) = row["frame_wh"], row["input_hw"]
            lat = row["latency_ms"]
            lines.append(
                f"| {w}×{h} ({pw}×{ph}) | {row['gflop_per_frame']:.1f} | {row['label']} | {lat['p50']:.0f} | "
                f"{lat['p95']:.0f} | {lat['p99']:.0f} | {_fmt(row['throughput_fps'], 2)} | "
                f"{_fmt(row['achieved_gflop_per_s'])} | {_fmt(row['percent_of_peak'])} | "
                f"{_fmt(row['speedup_vs_torch'], 2)} | {_fmt(row.get('psnr_y_db'), 2) if trained else '–'} | "
                f"{_fmt(row.get('psnr_y_cost_db'), 2) if trained else '–'} |"
            )
        if preset["skipped"]:
            lines += ["", "Not measured: " + "; ".join(f"`{k}` ({v})" for k, v in preset["skipped"].items()) + "."]
        if weights["trained"] and preset["psnr"].get("rainy_input"):
            rainy_db = preset["psnr"]["rainy_input"]["psnr_y_db"]
            lines += ["", f"PSNR-Y on {preset['psnr']['frames']} frames of the {results['eval_wh'][0]}×"
                      f"{results['eval_wh'][1]} model-B clip (`{rel(results['clip']['path'])}`, photograph "
                      f"`{results['clip']['photo']}`; rainy input: {rainy_db:.2f} dB)."]
            reference = preset["psnr"].get("ort-fp32") or preset["psnr"].get("torch")
            if reference and reference["psnr_y_db"] < rainy_db:
                lines[-1] += (
                    f" **This F_r lowers PSNR-Y on the full-resolution clip** ({reference['psnr_y_db']:.2f} dB FP32 "
                    f"vs {rainy_db:.2f} dB rainy): so the costs here are each path's numerical cost on a real "
                    "deployment input, not a deraining gain lost. A net trained on small crops sees rain streaks "
                    "at another scale in a 1280×720 frame, which is also why running it at a lower resolution "
                    "(`--infer-size` below) scores higher."
                )
        infer = preset.get("infer_size")
        if infer:
            lines += [
                "",
                f"`--infer-size` ({infer['backend']}, frame {infer['frame_wh'][0]}×{infer['frame_wh'][1]}, whole "
                "per-frame processing: resize/pad, net, rain-layer upsampling):",
                "",
                "| mode | p50 ms | p95 ms | fps | PSNR-Y dB |",
                "|---|---:|---:|---:|---:|",
                f"| full resolution | {infer['full_ms']['p50']:.0f} | {infer['full_ms']['p95']:.0f} | "
                f"{infer['fps_full']:.2f} | {infer['psnr_y_full_db'] if weights['trained'] else '–'} |",
                f"| net at {infer['infer_wh'][0]}×{infer['infer_wh'][1]}, rain layer upsampled | "
                f"{infer['infer_size_ms']['p50']:.0f} | {infer['infer_size_ms']['p95']:.0f} | "
                f"{infer['fps_infer_size']:.2f} | {infer['psnr_y_infer_size_db'] if weights['trained'] else '–'} |",
            ]
            if trained and preset["psnr"].get("rainy_input"):
                rainy_db = preset["psnr"]["rainy_input"]["psnr_y_db"]
                lines.append(f"| rainy input (no deraining) | – | – | – | {rainy_db} |")
        lines.append("")
    lines += ["#### Goals", "", *goals(results, results["eval_wh"]), "", f"![latency]({png_name})", ""]
    return "\n".join(lines)


def cpu_peak(threads: int, quick: bool) -> dict[str, float]:
    """The CPU's fp32 matmul peak: the best of `threads` threads and `threads` x one thread.

    On a contended machine torch's multi-threaded matmul loses most of its speed to threads waiting for each
    other (the same happens to PyTorch eager), while the cores themselves still run at full speed; the
    per-core rate times the cores is the physical limit the backends are compared with.
    """
    import torch

    n = 512 if quick else 2048
    together = matmul_peak_gflops(n, threads=threads, repeats=10)
    single = matmul_peak_gflops(n, threads=1, repeats=10)
    torch.set_num_threads(threads)
    return {"threads": threads, "together_gflops": round(together, 1), "one_thread_gflops": round(single, 1),
            "peak": round(max(together, threads * single), 1)}


def main(argv: list[str] | None = None) -> int:
    benchmark_logging()
    args = parse_args(argv)
    from jrgr_deploy.frames import parse_wh
    from jrgr_deploy.runtime.backends.base import physical_core_count

    if args.from_json is not None:
        results = json.loads(args.from_json.read_text())
        write_outputs(results, args)
        return 0
    started = time.perf_counter()
    specs = resolve_backends(args.backends)
    args.threads = args.threads or physical_core_count()
    args.work.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    load_start = os.getloadavg()

    eval_w, eval_h = parse_wh(args.eval_size, "--eval-size")
    photo = default_photo(args.photo)
    clip = render_clip_cached(args.work / f"clip_{eval_w}x{eval_h}", photo, eval_w, eval_h,
                              max(args.eval_frames, 8) if not args.quick else 3, seed=1)
    calib_w, calib_h = min(parse_wh(s, "--sizes") for s in args.sizes)
    calib = render_clip_cached(args.work / f"calib_{calib_w}x{calib_h}", calibration_photo(), calib_w, calib_h,
                               args.calib_frames + 4, seed=2)
    calib_video = calib / "rainy.mp4"

    peak_detail = {"start": cpu_peak(args.threads, args.quick)}
    peak = {"cpu": peak_detail["start"]["peak"]}
    if any(s.gpu for s in specs):
        try:
            peak["cuda"] = round(matmul_peak_gflops(8192, device="cuda"), 1)
        except Exception as error:  # noqa: BLE001 - no CUDA torch: the GPU rows say why they are missing
            logger.warning("no CUDA matmul peak: %s", error)

    trained = {preset: snapshot(path, args.work) for preset, path in
               find_trained(args.weights, args.random_weights).items()}
    presets = []
    for preset in args.presets:
        checkpoint = trained.get(preset) or random_checkpoint(preset, args.work)
        logger.info("preset %s: %s (%s)", preset, checkpoint, "trained" if preset in trained else "random weights")
        presets.append(measure_preset(preset, checkpoint, preset in trained, specs, args, clip, calib_video, peak))

    peak_detail["end"] = cpu_peak(args.threads, args.quick)
    peak["cpu"] = max(peak["cpu"], peak_detail["end"]["peak"])
    # The rows were computed with the start peak; the best of both is the limit.
    for preset in presets:
        for row in preset["rows"]:
            if row["device"] == "cpu":
                row["percent_of_peak"] = round(100 * row["achieved_gflop_per_s"] / peak["cpu"], 1)
    results = {
        "benchmark": "latency",
        "command": "python benchmarks/latency.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
        "machine": machine_report(),
        "threads": args.threads,
        "peak_gflops": peak,
        "cpu_peak_detail": peak_detail,
        "load_average": {"start": [round(v, 2) for v in load_start],
                         "end": [round(v, 2) for v in os.getloadavg()]},
        "clip": {"path": str(clip), "photo": photo[1], "calibration": str(calib_video)},
        "eval_wh": [eval_w, eval_h],
        "presets": presets,
        "wall_s": round(time.perf_counter() - started, 1),
    }
    results["goals"] = goals(results, results["eval_wh"])
    json_path = args.out / f"{args.name}.json"
    json_path.write_text(json.dumps(results, indent=2, default=float) + "\n")
    print(f"wrote {json_path}")
    write_outputs(results, args)
    return 0


def write_outputs(results: dict[str, Any], args: argparse.Namespace) -> None:
    """The plot, the goals on stdout and the Markdown section, from a results dict."""
    png_path = args.out / f"{args.name}.png"
    plot(results, png_path)
    print(f"wrote {png_path}")
    for line in goals(results, results["eval_wh"]):
        print(line)
    publish_section(args.markdown, "Latency", png_path, lambda ref: markdown(results, ref))


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except JRGRError as error:
        print(f"latency.py: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
