"""The main job (`jrgr demo`, the README's first command): a rainy 1280x720 clip, derained as a stream.

1. Render a short dash-camera clip from the bundled street photograph (the car drives towards the street's
   vanishing point with a slight sway; temporally consistent model-B "realistic" rain), with lossless clean
   ground truth (`jrgr_deploy.clips`).
2. Derain the clip as a stream with the default model on the fastest installed backend
   (`jrgr_deploy.runtime.Deraining`), the net at `DEMO_INFER_SCALE` x the clip's size (`realtime_infer_hw`: 384x216
   for 1280x720, the size at which the stream keeps up with 15 fps on 2 CPU cores; the rain layer it finds is
   upsampled onto the full-resolution frame), writing a side-by-side video (rainy | derained). `--infer-size auto`
   runs the net at the scale of the rain the model was trained on instead (`jrgr derain`'s default), slower.
3. Write a PNG of a few frames (rainy / derained / ground truth), print the latency table and the
   clip's PSNR-Y before and after deraining.

Torch-free, like the runtime it exercises.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from jrgr_deploy.errors import JRGRError
from jrgr_deploy.image_files import write_bgr

logger = logging.getLogger(__name__)

LABEL_FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclass(frozen=True)
class DemoResult:
    out_dir: str
    side_by_side_video: str
    frames_png: str
    stats_json: str
    n_frames: int
    wall_s: float
    render_s: float
    derain_s: float
    fps: float | None
    psnr_y_rainy_db: float
    psnr_y_derained_db: float
    weights: str
    backend: str
    infer_size: str
    infer_hw: list[int] | None


def _labelled(image_bgr: np.ndarray, label: str, width: int) -> np.ndarray:
    """`image_bgr` shrunk to `width`, with `label` in white on a dark box at its top left.

    A box, not a thick dark outline under the text: OpenCV advances thicker Hershey text further per glyph,
    so an outline drawn at another thickness ends past the white text (a stray dark glyph after the label).
    """
    scale = width / image_bgr.shape[1]
    small = cv2.resize(image_bgr, (width, int(round(image_bgr.shape[0] * scale))), interpolation=cv2.INTER_AREA)
    (text_w, text_h), baseline = cv2.getTextSize(label, LABEL_FONT, 0.6, 1)
    cv2.rectangle(small, (0, 0), (text_w + 12, text_h + baseline + 10), (0, 0, 0), thickness=cv2.FILLED)
    cv2.putText(small, label, (6, text_h + 5), LABEL_FONT, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
    return small


def _frames_figure(rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]], indices: list[int], path: Path) -> None:
    """A grid, one row per frame: rainy | derained | ground truth (all BGR)."""
    panel_width = 480
    grid_rows = []
    for (rainy, derained, clean), index in zip(rows, indices, strict=True):
        grid_rows.append(
            np.hstack(
                [
                    _labelled(rainy, f"rainy #{index}", panel_width),
                    _labelled(derained, f"derained #{index}", panel_width),
                    _labelled(clean, "ground truth", panel_width),
                ]
            )
        )
    write_bgr(path, np.vstack(grid_rows))


REALTIME = "realtime"  # run_demo's default inference size: `realtime_infer_hw` of the clip
DEMO_INFER_SCALE = 0.3  # the net's size / the clip's; BENCHMARKS.md "Sizing" measures fps and PSNR-Y per size


def realtime_infer_hw(frame_hw: tuple[int, int]) -> tuple[int, int]:
    """The demo's default inference size (H, W) for a clip of `frame_hw`: `DEMO_INFER_SCALE` x it, in whole
    multiples of 8 pixels (at least 8)."""
    return tuple(max(8, round(side * DEMO_INFER_SCALE / 8) * 8) for side in frame_hw)  # type: ignore[return-value]


def _size_text(result: DemoResult) -> str:
    ran = "the frame size" if result.infer_hw is None else f"{result.infer_hw[1]}x{result.infer_hw[0]}"
    return f"{ran} (--infer-size {result.infer_size})"


def run_demo(
    out_dir: str | Path = "demo_out",
    weights: str | Path | None = None,
    backend: str | None = None,
    n_frames: int = 48,
    width: int = 1280,
    height: int = 720,
    infer_hw: tuple[int, int] | str | None = REALTIME,
    seed: int = 0,
    progress: bool = True,
) -> DemoResult:
    """Run the whole demo into `out_dir` and return what it measured (also written to `demo.json`).

    infer_hw: the size (H, W) the net runs at, `REALTIME` (`realtime_infer_hw` of the clip's size), "auto" (the
    scale the model was trained on) or None (the frame's own size).
    """
    if infer_hw == REALTIME:
        infer_hw = realtime_infer_hw((height, width))
    from jrgr_deploy.clips import STREET_VANISHING_POINT, ClipSpec, render_clip, street_photo
    from jrgr_deploy.image_files import list_images, read_rgb
    from jrgr_deploy.metrics import psnr_y
    from jrgr_deploy.runtime import Deraining
    from jrgr_deploy.runtime.sinks import CallbackSink, VideoFileSink

    start = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    spec = ClipSpec(width=width, height=height, n_frames=n_frames, seed=seed, vanishing_point=STREET_VANISHING_POINT)
    logger.info("rendering a %dx%d dash-camera clip of %d frames with model-B rain ...", width, height, n_frames)
    clip = render_clip(street_photo(), out_dir / "clip", spec)
    render_s = time.perf_counter() - start

    derained: dict[int, np.ndarray] = {}
    rainy: dict[int, np.ndarray] = {}

    def keep(index: int, side_by_side: np.ndarray) -> None:
        half = side_by_side.shape[1] // 2
        rainy[index] = side_by_side[:, :half]
        derained[index] = side_by_side[:, half:]

    video_path = out_dir / "side_by_side.mp4"
    stats_path = out_dir / "stats.json"
    derain_start = time.perf_counter()
    with Deraining(weights, backend=backend, infer_hw=infer_hw, side_by_side=True) as model:
        report = model.run(
            clip.rainy_video, output=[VideoFileSink(video_path, fps=clip.fps), CallbackSink(keep)], progress=progress
        )
        info = model.run_info()
    derain_s = time.perf_counter() - derain_start
    stats = report.stats
    stats_path.write_text(json.dumps(stats, indent=2) + "\n")
    if len(derained) != clip.n_frames:
        raise JRGRError(f"the stream returned {len(derained)} of {clip.n_frames} frames ({report.end_reason})")

    clean_paths = list_images(clip.clean_dir)
    psnr_rainy, psnr_derained = [], []
    for index, clean_path in enumerate(clean_paths):
        clean_rgb = read_rgb(clean_path)
        psnr_rainy.append(psnr_y(rainy[index][..., ::-1], clean_rgb))
        psnr_derained.append(psnr_y(derained[index][..., ::-1], clean_rgb))
    shown = [0, clip.n_frames // 2, clip.n_frames - 1]
    figure_path = out_dir / "frames.png"
    _frames_figure(
        [(rainy[i], derained[i], read_rgb(clean_paths[i])[..., ::-1]) for i in shown], shown, figure_path
    )

    result = DemoResult(
        out_dir=str(out_dir),
        side_by_side_video=str(video_path),
        frames_png=str(figure_path),
        stats_json=str(stats_path),
        n_frames=clip.n_frames,
        wall_s=time.perf_counter() - start,
        render_s=render_s,
        derain_s=derain_s,
        fps=stats.get("throughput_fps"),
        psnr_y_rainy_db=float(np.mean(psnr_rainy)),
        psnr_y_derained_db=float(np.mean(psnr_derained)),
        weights=str(info["weights"]),
        backend=str(info["backend"]),
        infer_size=str(info["infer_size"]),
        infer_hw=info["infer_hw"],
    )
    (out_dir / "demo.json").write_text(json.dumps(asdict(result), indent=2) + "\n")
    print(report.table())
    print(
        f"\nPSNR-Y over {clip.n_frames} frames: rainy {result.psnr_y_rainy_db:.2f} dB -> derained "
        f"{result.psnr_y_derained_db:.2f} dB ({result.psnr_y_derained_db - result.psnr_y_rainy_db:+.2f} dB)"
    )
    print(f"model {result.weights} on {result.backend}; the net ran at {_size_text(result)}; "
          f"wall {result.wall_s:.1f} s")
    print(f"wrote {video_path}, {figure_path}, {stats_path}")
    return result
