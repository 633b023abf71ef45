"""Rain models A ("synthetic") and B ("realistic"): speed on one core, input PSNR-Y, and a comparison figure.

    OMP_NUM_THREADS=1 python benchmarks/rain_models.py [--out benchmarks/results]

Writes rain_models.png (clean | model A | model B, medium preset, scikit-image photographs) and
rain_models.json (ms per frame at 256x256 and 1280x720 per model/preset; PSNR-Y of rainy vs clean).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import skimage.data  # noqa: E402

from jrgr_deploy.image_files import write_bgr  # noqa: E402
from jrgr_deploy.metrics import psnr_y  # noqa: E402
from jrgr_deploy.rain import MODELS, PRESETS, RainSequence, render_rain  # noqa: E402

PHOTOS = ("astronaut", "chelsea", "coffee")
SIZES = ((256, 256), (720, 1280))


def time_models(repeats: int = 5) -> dict[str, dict[str, float]]:
    """Median ms per frame of RainSequence.render (drops drawn once, as in a video) and of render_rain."""
    out: dict[str, dict[str, float]] = {}
    for h, w in SIZES:
        frame = cv2.resize(skimage.data.astronaut(), (w, h), interpolation=cv2.INTER_AREA)
        for model in MODELS:
            for preset in PRESETS:
                seq = RainSequence(model, preset, 0, h, w)
                seq.render(frame, 0)
                per_frame = []
                for i in range(1, repeats + 1):
                    t0 = time.perf_counter()
                    seq.render(frame, i)
                    per_frame.append(time.perf_counter() - t0)
                one_shot = []
                for seed in range(repeats):
                    t0 = time.perf_counter()
                    render_rain(frame, model, preset, seed=seed)
                    one_shot.append(time.perf_counter() - t0)
                out[f"{h}x{w}/{model}/{preset}"] = {
                    "sequence_frame_ms": 1000 * float(np.median(per_frame)),
                    "render_rain_ms": 1000 * float(np.median(one_shot)),
                }
    return out


def input_psnr(seeds: int = 3) -> dict[str, float]:
    """Mean PSNR-Y (dB) of rainy vs clean over the photographs at their native size and `seeds` seeds."""
    out = {}
    for model in MODELS:
        for preset in PRESETS:
            vals = [psnr_y(render_rain(getattr(skimage.data, name)(), model, preset, seed=s).rainy,
                           getattr(skimage.data, name)())
                    for name in PHOTOS for s in range(seeds)]
            out[f"{model}/{preset}"] = float(np.mean(vals))
    return out


def figure(path: Path, preset: str = "medium", width: int = 320) -> None:
    rows = []
    for seed, name in enumerate(PHOTOS):
        img = getattr(skimage.data, name)()
        img = cv2.resize(img, (width, round(img.shape[0] * width / img.shape[1])), interpolation=cv2.INTER_AREA)
        panels = [img]
        for model in MODELS:
            sample = render_rain(img, model, preset, seed=seed)
            panels.append(sample.rainy)
        labelled = []
        for panel, title in zip(panels, ("clean", f"model A synthetic, {preset}", f"model B realistic, {preset}"),
                                strict=True):
            panel = np.ascontiguousarray(panel[..., ::-1])
            cv2.putText(panel, title, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 2, cv2.LINE_AA)
            cv2.putText(panel, title, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
            labelled.append(panel)
        rows.append(np.concatenate(labelled, axis=1))
    write_bgr(path, np.concatenate(rows, axis=0), png_compression=9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    figure(args.out / "rain_models.png")
    result = {"timing_one_core": time_models(), "input_psnr_y_db": input_psnr()}
    (args.out / "rain_models.json").write_text(json.dumps(result, indent=2))
    for key, value in result["timing_one_core"].items():
        print(f"{key:32s} sequence {value['sequence_frame_ms']:7.1f} ms  "
              f"render_rain {value['render_rain_ms']:7.1f} ms")
    for key, value in result["input_psnr_y_db"].items():
        print(f"PSNR-Y {key:20s} {value:6.2f} dB")
    print(f"figure: {args.out / 'rain_models.png'}")


if __name__ == "__main__":
    main()
