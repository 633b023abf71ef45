"""Export shapes: parsing ``NxCxHxW`` strings and checking them against the size contract."""

from __future__ import annotations

from dataclasses import dataclass

from jrgr_deploy.errors import JRGRError
from jrgr_deploy.frames import check_size_contract, padded_hw

# The frame size the export works at when no --shape is given: 640x360 video, padded up to the contract.
DEFAULT_FRAME_HW = (360, 640)


def parse_shape(text: str, what: str = "--shape") -> tuple[int, int, int, int]:
    """``"1x3x368x640"`` -> (1, 3, 368, 640); C must be 3 and every dimension positive."""
    parts = text.lower().replace(",", "x").split("x")
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        raise JRGRError(f"{what} '{text}' is not NxCxHxW (e.g. 1x3x368x640)") from None
    if len(dims) != 4 or min(dims) < 1:
        raise JRGRError(f"{what} '{text}' is not NxCxHxW with positive integers (e.g. 1x3x368x640)")
    if dims[1] != 3:
        raise JRGRError(f"{what} '{text}' has {dims[1]} channels; the nets take 3 (RGB)")
    return dims  # type: ignore[return-value]


@dataclass(frozen=True)
class ShapePlan:
    """The shapes of one export.

    work: the (N, 3, H, W) shape frames are brought to for calibration and verification (the TensorRT
    profile's opt shape). fixed: the ONNX graph has exactly `work` as its input shape; otherwise batch, H
    and W are dynamic. profile_min / profile_max: TensorRT optimisation-profile bounds.
    """

    work: tuple[int, int, int, int]
    fixed: bool
    profile_min: tuple[int, int, int, int]
    profile_max: tuple[int, int, int, int]

    def input_shape(self) -> list[int | None]:
        """The graph's input shape for the sidecar: None marks a dynamic axis."""
        if self.fixed:
            return list(self.work)
        return [None, 3, None, None]


def plan_shapes(
    multiple: int,
    shape: str | None = None,
    max_shape: str | None = None,
    min_shape: str | None = None,
) -> ShapePlan:
    """Resolve --shape / --min-shape / --max-shape against the net's size multiple.

    - no --shape: dynamic graph, frames at 640x360 padded up to the contract (e.g. 368x640 for 16).
    - --shape alone: fixed-shape graph (and a one-shape TensorRT profile).
    - --shape with --max-shape (and optionally --min-shape): dynamic graph, profile min/opt/max.
    Every H and W must be a multiple of `multiple` (clear error naming the nearest valid size).
    """
    if shape is None:
        if max_shape is not None or min_shape is not None:
            raise JRGRError("--max-shape / --min-shape need --shape (the optimisation profile's opt shape)")
        height, width = padded_hw(*DEFAULT_FRAME_HW, multiple)
        work = (1, 3, height, width)
        return ShapePlan(work=work, fixed=False, profile_min=work, profile_max=work)
    work = parse_shape(shape, "--shape")
    check_size_contract(work[2], work[3], multiple, f"--shape {shape}")
    if max_shape is None and min_shape is None:
        return ShapePlan(work=work, fixed=True, profile_min=work, profile_max=work)
    high = parse_shape(max_shape, "--max-shape") if max_shape else work
    low = parse_shape(min_shape, "--min-shape") if min_shape else work
    for dims, name in ((high, "--max-shape"), (low, "--min-shape")):
        check_size_contract(dims[2], dims[3], multiple, name)
    if not all(lo <= w <= hi for lo, w, hi in zip(low, work, high, strict=True)):
        raise JRGRError(
            f"shapes must satisfy --min-shape <= --shape <= --max-shape per axis; got "
            f"{'x'.join(map(str, low))} / {'x'.join(map(str, work))} / {'x'.join(map(str, high))}"
        )
    return ShapePlan(work=work, fixed=False, profile_min=low, profile_max=high)
