"""Sidecar metadata of exported artefacts (`<file>.json` beside `f_r.onnx`, `f_r....plan`).

Written by `jrgr_deploy.export`, read and checked by `jrgr_deploy.runtime` (so: json + dataclasses
only, no torch). Every artefact describes itself: where it came from, its input contract, its
precision and how accurate it was measured to be.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jrgr_deploy.errors import JRGRError
from jrgr_deploy.names import EXPORT_PRECISIONS, GENERATORS, SIDECAR_PRECISIONS

SIDECAR_FORMAT_VERSION = 1
ARTIFACT_KINDS = ("onnx", "engine")


@dataclass(frozen=True)
class ArtifactInfo:
    """Everything a runtime needs to know about one exported network file.

    Tensor contract: `input_name` takes NCHW float32 RGB in [-1, 1] (`value_range`); H and W must be
    multiples of `size_multiple` (2**depth of the U-Net). `input_shape` holds the fixed shape, or
    None per dynamic axis (e.g. [None, 3, None, None]). For engines, `profile_min/opt/max` are the
    optimisation-profile shapes and `tensorrt_version`, `gpu_name`, `compute_capability` tie the
    engine to its build environment. `train_frame_hw`: the median (H, W) of the frames the net's input
    domain was trained on (the crops were cut from frames of this size, so it is the scale of the rain the
    net learned; `--infer-size auto` shrinks larger frames to it); None when unknown. `veil_strength`: the share of
    the dark-channel veil the runtime removes after the net (`jrgr_deploy/veil_removal.py`) unless told otherwise;
    chosen for a camera by `jrgr adapt` on its proxy validation, 0 (off) for a plain export. `tone`: F_r's
    population tone map (`jrgr export --tone`), or None: ``{"strength": S, "source": ..., "target": ...}``, the
    `jrgr_deploy.moment_transfer.MomentTransfer` from the cell moments of F_r's outputs on real rainy images to
    those of clean images, applied at strength S after the net and before the veil removal.
    """

    kind: str
    net: str
    precision: str
    input_name: str
    output_name: str
    size_multiple: int
    input_shape: list[int | None]
    preset: str = ""
    source_checkpoint_sha256: str = ""
    opset: int | None = None
    quantization: dict[str, Any] = field(default_factory=dict)
    tool_versions: dict[str, str] = field(default_factory=dict)
    accuracy: dict[str, Any] = field(default_factory=dict)
    value_range: tuple[float, float] = (-1.0, 1.0)
    layout: str = "NCHW"
    color_order: str = "RGB"
    profile_min: list[int] | None = None
    profile_opt: list[int] | None = None
    profile_max: list[int] | None = None
    tensorrt_version: str | None = None
    gpu_name: str | None = None
    compute_capability: str | None = None
    train_frame_hw: list[int] | None = None
    veil_strength: float = 0.0
    tone: dict[str, Any] | None = None
    format_version: int = SIDECAR_FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.kind not in ARTIFACT_KINDS:
            raise JRGRError(f"artefact kind '{self.kind}' is not one of {ARTIFACT_KINDS}")
        if self.net not in GENERATORS:
            raise JRGRError(f"artefact net '{self.net}' is not one of {GENERATORS}")
        if self.precision not in SIDECAR_PRECISIONS:
            raise JRGRError(f"artefact precision '{self.precision}' is not one of {SIDECAR_PRECISIONS}")
        if self.size_multiple < 1:
            raise JRGRError(f"size_multiple must be >= 1, got {self.size_multiple}")
        if self.train_frame_hw is not None and (
            len(self.train_frame_hw) != 2 or any(not isinstance(v, int) or v < 1 for v in self.train_frame_hw)
        ):
            raise JRGRError(f"train_frame_hw must be [height, width] in pixels, got {self.train_frame_hw}")
        if not isinstance(self.veil_strength, int | float) or not 0.0 <= self.veil_strength < 1.0:
            raise JRGRError(f"veil_strength must be a number from 0 (off) to below 1, got {self.veil_strength!r}")
        if self.tone is not None:
            self.tone_map()  # checks the moments and the strength

    def tone_map(self) -> tuple[Any, float] | None:
        """(`MomentTransfer`, strength) of the sidecar's ``tone``, or None."""
        if self.tone is None:
            return None
        from jrgr_deploy.moment_transfer import MomentTransfer

        strength = self.tone.get("strength") if isinstance(self.tone, dict) else None
        if not isinstance(strength, int | float) or not 0.0 < strength <= 1.0:
            raise JRGRError(f"tone: expected a strength above 0 and at most 1, got {strength!r}")
        return MomentTransfer.from_dict(self.tone), float(strength)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["value_range"] = list(self.value_range)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "sidecar") -> ArtifactInfo:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise JRGRError(f"{source}: unknown key(s) {unknown}; known keys are {sorted(known)}")
        version = data.get("format_version", SIDECAR_FORMAT_VERSION)
        if version != SIDECAR_FORMAT_VERSION:
            raise JRGRError(
                f"{source}: sidecar format version {version} is not supported "
                f"(this jrgr-deploy reads version {SIDECAR_FORMAT_VERSION}); re-export the artefact"
            )
        missing = [
            f.name
            for f in dataclasses.fields(cls)
            if f.name not in data
            and f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
        ]
        if missing:
            raise JRGRError(f"{source}: missing key(s) {missing}")
        values = dict(data)
        if "value_range" in values:
            values["value_range"] = tuple(values["value_range"])
        try:
            return cls(**values)
        except JRGRError as error:  # a value out of range: say which file holds it
            raise JRGRError(f"{source}: {error}") from error


def artifact_name(net: str, precision: str) -> str:
    """``f_r.onnx`` (fp32), ``f_r.fp16.onnx``, ``f_r.int8.onnx`` (ModelOpt Q/DQ), ``f_r.int8-cpu.onnx``."""
    if precision not in EXPORT_PRECISIONS:
        raise JRGRError(f"precision '{precision}' is not one of {', '.join(EXPORT_PRECISIONS)}")
    return f"{net}.onnx" if precision == "fp32" else f"{net}.{precision}.onnx"


def sidecar_path(artifact: str | Path) -> Path:
    """`f_r.onnx` -> `f_r.onnx.json`."""
    artifact = Path(artifact)
    return artifact.with_name(artifact.name + ".json")


def write_sidecar(artifact: str | Path, info: ArtifactInfo) -> Path:
    """Write the sidecar of `artifact` atomically (temp file + rename) and return its path."""
    from jrgr_deploy.output_files import write_text_atomic
    from jrgr_deploy.redaction import redact_data

    path = sidecar_path(artifact)
    return write_text_atomic(path, json.dumps(redact_data(info.to_dict()), indent=2, sort_keys=True) + "\n")


def read_sidecar(artifact: str | Path) -> ArtifactInfo:
    """Read and validate the sidecar of `artifact`; a missing or malformed one is a clear error."""
    path = sidecar_path(artifact)
    if not path.is_file():
        raise JRGRError(
            f"'{artifact}' has no sidecar '{path.name}' describing its input contract; "
            "export it with 'jrgr export' or place the sidecar beside it"
        )
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise JRGRError(f"sidecar '{path}' is not valid JSON: {error}") from error
    if not isinstance(data, dict):
        raise JRGRError(f"sidecar '{path}' must hold a JSON object")
    return ArtifactInfo.from_dict(data, source=str(path))
