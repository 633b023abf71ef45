"""`jrgr export` end to end: checkpoint -> FP32 ONNX -> precision variants -> verified artefacts + sidecars.

For each net: frames are loaded (calibration + held-aside, disjoint), the FP32 graph is exported into a
private temporary folder, every requested precision is derived from it and run through the runtime's ONNX
Runtime backend (with the sidecar it will be written with: what is verified is what runs) on the held-aside
frames against the FP32 PyTorch net, and only files that pass the accuracy gate are moved into the output
folder (ONNX files, TensorRT plans, or a Triton model repository), each with its sidecar JSON.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from jrgr_deploy.artifact import ArtifactInfo, artifact_name, write_sidecar
from jrgr_deploy.errors import JRGRError
from jrgr_deploy.export.accuracy import Gate, accuracy_report, format_table, run_artifact, run_torch
from jrgr_deploy.export.frame_sets import (
    FrameSet,
    fit_frame,
    load_calibration_and_holdout,
    load_photo_frames,
    median_frame_hw,
)
from jrgr_deploy.export.net_io import NetIO, net_io
from jrgr_deploy.export.onnx_export import export_fp32_onnx
from jrgr_deploy.export.precision import Int8CpuOptions, convert_precision, needs_calibration
from jrgr_deploy.export.shapes import ShapePlan, plan_shapes
from jrgr_deploy.export.tool_versions import tool_versions
from jrgr_deploy.export.triton_repo import TritonOptions, write_triton_model
from jrgr_deploy.frames import rgb_to_nchw
from jrgr_deploy.moment_transfer import check_tone_strength
from jrgr_deploy.names import EXPORT_PRECISIONS, SIDECAR_PRECISION
from jrgr_deploy.output_files import atomic_write

logger = logging.getLogger(__name__)

FORMATS = ("onnx", "engine", "triton")


@dataclass(frozen=True)
class ExportRequest:
    """Everything `jrgr export` was asked to do (see `jrgr export --help` for each field)."""

    out_dir: Path
    weights: Path | None = None
    nets: tuple[str, ...] = ("f_r", "g_r")
    fmt: str = "onnx"
    precisions: tuple[str, ...] = ("fp32",)
    calib: Path | None = None
    calib_frames: int = 16
    calib_method: str = "entropy"
    int8_cpu: Int8CpuOptions = field(default_factory=Int8CpuOptions)
    train_frame_hw: tuple[int, int] | None = None
    veil_strength: float = 0.0  # F_r's sidecar only: the runtime's veil removal after the net (0: off)
    tone_strength: float = 0.0  # F_r's sidecar only: the population tone map after the net (0: none)
    tone_real: Path | None = None  # real rainy images the tone map is fitted on (F_r's outputs on them)
    tone_clean: Path | None = None  # clean images of like scenes (the same camera's dry footage, at best)
    tone_match_light: bool = True  # bring the clean images' light to the footage's (`moment_transfer.light_gain`)
    # the strength instead of tone_strength where the light cannot be matched (None: tone_strength all the same);
    # `jrgr adapt --dry`'s default, since a map that keeps another day's light is safe only at a lower strength
    tone_strength_unmatched: float | None = None
    tone_grid: int = 4
    tone_images: int = 128  # at most this many images of each set, evenly spaced
    shape: str | None = None
    max_shape: str | None = None
    min_shape: str | None = None
    opset: int = 19
    gate: Gate = field(default_factory=Gate)
    val_rainy: Path | None = None
    val_clean: Path | None = None
    verify_frames: int = 4
    workspace_mib: int = 2048
    timing_cache: Path | None = None
    triton: TritonOptions = field(default_factory=TritonOptions)


@dataclass(frozen=True)
class ExportedFile:
    net: str
    precision: str
    path: Path
    info: ArtifactInfo


@dataclass
class ExportResult:
    """Files written, files refused by the gate (net, precision, reason), and the printable accuracy table."""

    files: list[ExportedFile] = field(default_factory=list)
    refused: list[tuple[str, str, str]] = field(default_factory=list)
    rows: list[tuple[str, str, dict[str, Any], str]] = field(default_factory=list)

    @property
    def table(self) -> str:
        return format_table(self.rows)


def _validate(request: ExportRequest) -> None:
    if request.fmt not in FORMATS:
        raise JRGRError(f"--format '{request.fmt}' is not one of {', '.join(FORMATS)}")
    if not request.nets:
        raise JRGRError("--nets needs at least one net")
    for name in request.nets:
        net_io(name)
    for precision in request.precisions:
        if precision not in EXPORT_PRECISIONS:
            raise JRGRError(f"--precision '{precision}' is not one of {', '.join(EXPORT_PRECISIONS)}")
    calibrated = [p for p in request.precisions if needs_calibration(p)]
    if calibrated and request.calib is None:
        raise JRGRError(
            f"--precision {' '.join(calibrated)} needs calibration data: pass --calib with a folder of rainy "
            "images, a video or a data-set root (refusing to write an uncalibrated file)"
        )
    if (request.val_rainy is None) != (request.val_clean is None):
        raise JRGRError("--val-rainy and --val-clean go together (rainy frames and their ground truth)")
    if request.verify_frames < 1:
        raise JRGRError(f"--verify-frames must be >= 1, got {request.verify_frames}")
    if not 0.0 <= request.veil_strength < 1.0:
        raise JRGRError(f"--veil {request.veil_strength:g}: expected a number from 0 (off) to below 1")
    check_tone_strength(request.tone_strength, "--tone")
    if request.tone_strength_unmatched is not None:
        check_tone_strength(request.tone_strength_unmatched, "tone strength where the light cannot be matched")
    if request.tone_strength and (request.tone_real is None or request.tone_clean is None):
        raise JRGRError("--tone needs --tone-real (real rainy images or footage) and --tone-clean (clean images "
                        "of like scenes, e.g. the same camera's dry footage): the map is fitted between them")
    if request.tone_strength and "f_r" not in request.nets:
        raise JRGRError("--tone is a stage after F_r: export f_r (--nets f_r)")
    for flag, path in (("--tone-real", request.tone_real), ("--tone-clean", request.tone_clean)):
        if request.tone_strength and not Path(path).exists():
            raise JRGRError(f"{flag} '{path}' does not exist (expected a folder of images or a video)")
    if request.tone_grid < 1 or request.tone_images < 1:
        raise JRGRError(f"--tone-grid and --tone-images must be >= 1, got {request.tone_grid}, {request.tone_images}")
    if request.calib is not None and request.val_rainy is not None and (
        Path(request.calib).resolve() == Path(request.val_rainy).resolve()
    ):
        raise JRGRError(f"--val-rainy '{request.val_rainy}' is the calibration source: the frames that judge a "
                        "file's accuracy must be held aside from the ones it was calibrated on")
    if request.fmt == "engine" or (request.fmt == "triton" and request.triton.plan):
        from jrgr_deploy.runtime.backends.nvidia import import_tensorrt, query_gpu

        # Before any ONNX work: an engine needs TensorRT and a GPU on this machine.
        import_tensorrt("building a TensorRT engine")
        query_gpu(purpose="building a TensorRT engine")


def _resolve_weights(weights: Path | None) -> Path:
    if weights is not None:
        return Path(weights)
    from jrgr_deploy.default_model import default_checkpoint

    return default_checkpoint()


@dataclass(frozen=True)
class _Frames:
    """A net's input tensors: calibration (or None), held-aside, and optional ground truth for the latter."""

    calibration: np.ndarray | None
    calibration_source: str | None
    holdout: np.ndarray
    holdout_source: str
    clean: np.ndarray | None


def _load_val_pairs(request: ExportRequest, height: int, width: int) -> tuple[FrameSet, np.ndarray]:
    from jrgr_deploy.image_files import read_rgb
    from jrgr_deploy.pairing import match_pairs

    pairs = match_pairs(request.val_rainy, request.val_clean)
    if not pairs:
        raise JRGRError(f"no (rainy, clean) pairs matched between '{request.val_rainy}' and '{request.val_clean}'")
    pairs = pairs[: max(request.verify_frames, 1)]
    rainy = np.stack([fit_frame(read_rgb(r), height, width) for r, _ in pairs])
    clean = np.stack([fit_frame(read_rgb(c), height, width) for _, c in pairs])
    return FrameSet(rainy, [r.name for r, _ in pairs], f"validation pairs {request.val_rainy}"), clean


class _NetInputs:
    """Turns uint8 RGB frames into a net's input: the image itself (F) or its rain layer O - F(O) (G)."""

    def __init__(self, checkpoint: Any, name: str, io: NetIO) -> None:
        self.layer_net = None
        self.layer_net_name: str | None = None
        if io.takes_rain_layer:
            from jrgr_deploy.checkpoint import load_net

            candidates = [io.layer_source_net, "f_s" if io.layer_source_net == "f_r" else "f_r"]
            available = [c for c in candidates if c in checkpoint.net_names]
            if not available:
                raise JRGRError(
                    f"exporting '{name}' needs rain layers R = O - F(O) as inputs, but checkpoint "
                    f"'{checkpoint.path}' holds no removal net (f_s or f_r); it holds {', '.join(checkpoint.net_names)}"
                )
            self.layer_net_name = available[0]
            self.layer_net = load_net(checkpoint, self.layer_net_name)

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        images = rgb_to_nchw(frames)
        if self.layer_net is None:
            return images
        # The disentanglement of paper §3: R_hat = O - F(O).
        return (images - run_torch(self.layer_net, images)).astype(np.float32)


def _net_frames(request: ExportRequest, io: NetIO, to_input: _NetInputs, plan: ShapePlan) -> _Frames:
    height, width = plan.work[2], plan.work[3]
    calibration = calib_holdout = None
    if request.calib is not None:
        calibration, calib_holdout = load_calibration_and_holdout(
            request.calib, request.calib_frames, request.verify_frames, height, width, io.calibration_domain
        )
    clean = None
    if request.val_rainy is not None:
        holdout, clean = _load_val_pairs(request, height, width)
    elif calib_holdout is not None:
        holdout = calib_holdout
    else:
        holdout = load_photo_frames(request.verify_frames, height, width)
        logger.warning("verifying on %s: pass --calib with more frames than --calib-frames, or --val-rainy, "
                       "to verify on rainy frames held aside", holdout.source)
    source = holdout.source
    if to_input.layer_net_name is not None:
        source += f", as rain layers O - {to_input.layer_net_name}(O)"
    return _Frames(
        calibration=None if calibration is None else to_input(calibration.frames),
        calibration_source=None if calibration is None else calibration.source,
        holdout=to_input(holdout.frames),
        holdout_source=source,
        clean=clean,
    )


def _train_frame_hw(request: ExportRequest, config: Any, io: NetIO) -> list[int] | None:
    """The sidecar's `train_frame_hw`: as asked (`--train-frame-size`), else the median frame size of the
    training data the checkpoint's config names for this net's input domain (real rain for F_r), when that
    data is still where training read it; else None (then `--infer-size auto` runs at full resolution)."""
    if request.train_frame_hw is not None:
        return list(request.train_frame_hw)
    data = config.data
    source = (data.real if io.calibration_domain == "real" else data.paired_rainy) or data.root
    if source is None or not Path(source).exists():
        logger.warning("the training data of this checkpoint (%s) is not here: the sidecar records no training "
                       "frame size, so --infer-size auto will run at full resolution; pass --train-frame-size",
                       source or "not named in its config")
        return None
    try:
        return median_frame_hw(source, io.calibration_domain)
    except JRGRError as error:
        logger.warning("cannot measure the training frame size from %s (%s); pass --train-frame-size", source, error)
        return None


def _fixed_batch_example(inputs: np.ndarray, plan: ShapePlan) -> np.ndarray:
    batch = plan.work[0]
    return np.repeat(inputs[:1], batch, axis=0) if plan.fixed else inputs[:1]


def export_nets(request: ExportRequest) -> ExportResult:
    """Run the whole export; returns what was written and what the gate refused (never raises for that)."""
    _validate(request)
    from jrgr_deploy.checkpoint import load_checkpoint
    from jrgr_deploy.nn.build import size_multiple
    from jrgr_deploy.output_files import ensure_folder

    out_dir = ensure_folder(request.out_dir, "export folder (--out)")  # said before the long work, not after

    checkpoint = load_checkpoint(_resolve_weights(request.weights))
    for name in request.nets:
        if name not in checkpoint.net_names:
            raise JRGRError(
                f"checkpoint '{checkpoint.path}' has no net '{name}'; it holds {', '.join(checkpoint.net_names)}"
            )
    result = ExportResult()
    versions = tool_versions()
    for name in request.nets:
        _export_one(request, checkpoint, name, size_multiple(checkpoint.config, name), out_dir, versions, result)
    return result


def _export_one(
    request: ExportRequest, checkpoint: Any, name: str, multiple: int, out_dir: Path,
    versions: dict[str, str], result: ExportResult,
) -> None:
    from jrgr_deploy.checkpoint import load_net

    io = net_io(name)
    plan = plan_shapes(multiple, request.shape, request.max_shape, request.min_shape)
    net = load_net(checkpoint, name)
    frames = _net_frames(request, io, _NetInputs(checkpoint, name, io), plan)
    train_frame_hw = _train_frame_hw(request, checkpoint.config, io)
    tone = None
    if name == "f_r" and request.tone_strength:
        from jrgr_deploy.export.tone import fit_population_tone

        transfer, light_gain = fit_population_tone(net, request.tone_real, request.tone_clean, request.tone_grid,
                                                   request.tone_images, multiple, request.tone_match_light)
        strength = request.tone_strength
        if request.tone_match_light and light_gain is None and request.tone_strength_unmatched is not None:
            strength = request.tone_strength_unmatched
            logger.warning("tone map: the clean images' light could not be matched; strength %g instead of %g",
                           strength, request.tone_strength)
        tone = {"strength": strength, **transfer.to_dict(),
                "light": "match" if request.tone_match_light and light_gain is not None else "as-is",
                "light_gain": None if light_gain is None else round(light_gain, 4)}
    reference = run_torch(net, frames.holdout)
    with tempfile.TemporaryDirectory(prefix=f".{name}.", dir=out_dir) as tmp:
        fp32_path = Path(tmp) / artifact_name(name, "fp32")
        export_fp32_onnx(net, fp32_path, io, _fixed_batch_example(frames.holdout, plan), fixed=plan.fixed,
                         opset=request.opset)
        for precision in request.precisions:
            candidate = Path(tmp) / artifact_name(name, precision)
            quantization: dict[str, Any] = {}
            if precision != "fp32":
                quantization = convert_precision(precision, fp32_path, candidate, io.input_name,
                                                 frames.calibration, request.calib_method, request.int8_cpu)
                quantization["calibration_source"] = frames.calibration_source
            info = ArtifactInfo(
                kind="onnx", net=name, precision=SIDECAR_PRECISION[precision], input_name=io.input_name,
                output_name=io.output_name, size_multiple=multiple, input_shape=plan.input_shape(),
                preset=checkpoint.config.preset, source_checkpoint_sha256=checkpoint.sha256,
                opset=request.opset, quantization={"variant": precision, **quantization}, tool_versions=versions,
                value_range=io.input_range, train_frame_hw=train_frame_hw,
                veil_strength=request.veil_strength if name == "f_r" else 0.0, tone=tone,
            )
            outputs = run_artifact(candidate, info, frames.holdout)
            report = accuracy_report(reference, outputs, frames.holdout_source, clean=frames.clean,
                                     reference_on_clean=reference if frames.clean is not None else None,
                                     candidate_on_clean=outputs if frames.clean is not None else None)
            if io.takes_rain_layer:
                report.pop("deraining", None)  # a rain layer has no clean ground truth to derain towards
            report["frame_hw"] = [plan.work[2], plan.work[3]]
            reason = request.gate.check(precision, report)
            report["gate"] = {"max_drop_db": request.gate.max_drop_db, "min_psnr_db": request.gate.min_psnr_db,
                              "fp32_max_abs_error": request.gate.fp32_max_abs_error, "passed": reason is None}
            result.rows.append((candidate.name, precision, report, "pass" if reason is None else "REFUSED"))
            if reason is not None:
                logger.error("refusing to write %s: %s", candidate.name, reason)
                result.refused.append((name, precision, reason))
                continue
            info = dataclasses.replace(info, accuracy=report)
            result.files.extend(_deliver(request, candidate, info, plan, out_dir))


def _deliver(
    request: ExportRequest, candidate: Path, info: ArtifactInfo, plan: ShapePlan, out_dir: Path
) -> list[ExportedFile]:
    """Move a verified ONNX file into place (+ sidecar); build its engine / Triton entry if asked."""
    variant = info.quantization["variant"]
    if request.fmt == "triton":
        artifact, served = candidate, info
        if request.triton.plan:
            artifact, served = _build(request, candidate, info, variant, plan, candidate.parent)
        model_dir = write_triton_model(out_dir, artifact, served, variant, request.triton)
        logger.info("wrote Triton model %s", model_dir)
        return [ExportedFile(info.net, variant, model_dir, served)]
    onnx_path = out_dir / candidate.name
    with atomic_write(onnx_path) as tmp:  # never a half-copied model under its name
        shutil.copyfile(candidate, tmp)
    write_sidecar(onnx_path, info)
    logger.info("wrote %s (+ sidecar)", onnx_path)
    files = [ExportedFile(info.net, variant, onnx_path, info)]
    if request.fmt == "engine":
        plan_path, engine_info = _build(request, onnx_path, info, variant, plan, out_dir)
        files.append(ExportedFile(info.net, variant, plan_path, engine_info))
    return files


def _build(
    request: ExportRequest, onnx_path: Path, info: ArtifactInfo, variant: str, plan: ShapePlan, out_dir: Path
) -> tuple[Path, ArtifactInfo]:
    from jrgr_deploy.export.tensorrt_build import build_engine

    return build_engine(
        onnx_path, out_dir, info, variant, plan,
        workspace_bytes=request.workspace_mib << 20,
        timing_cache=request.timing_cache or Path(request.out_dir) / "timing.cache",
    )
