"""Where the error that a removal net leaves on model-B rain lies: low or high frequencies, tone or structure.
A diagnosis of `quality.py` runs (nothing is selected on it):

    python benchmarks/error_anatomy.py --work W --seeds 0 1 2 --methods self_training_mt --name error_anatomy

For the rainy input, the stage-1 nets (`supervised`, `oracle`) and each method's val-selected snapshot, on the
test/realistic split (the Y channel of PSNR-Y, `jrgr_deploy.metrics`), per image then averaged:
- psnr_y_db: the net's PSNR-Y;
- lowpass_share: the share of the error's energy in its Gaussian blur of σ = 8 px (the veil's scale, not a streak's);
- highpass_psnr_y_db: PSNR-Y of the error less that blur (what is left if the low frequencies were right: streaks,
  edges, texture);
- affine_psnr_y_db: PSNR-Y after the best per-image, per-channel affine map of the output onto the clean image
  (what a perfect global tone correction would reach);
- offset_slope, offset_intercept: the least-squares line of the output's mean luma offset from the clean image
  against the rainy input's, over the images (slope 1: the net leaves each image's lift as it found it, less a
  constant; slope 0: it removes each image's own lift);
- contrast_slope, contrast_intercept: the same line for the luma spread ratio (output / clean against rainy / clean).

The stage-1 nets are those of the first seed (`quality.py --shared-stage1`). Beside the nets, the rain itself
(`rain`): per image of the training splits (model A: the synthetic pairs; model B: the real split against its
clean images), the rain's lift (mean luma of rainy − clean) and its streak energy
(`jrgr_deploy.moment_transfer.streak_energy`), their correlation and line: how much each rain model's veil goes
with its streaks. Writes RESULTS/NAME.json. W is a `quality.py --work` folder whose runs are complete.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

logger = logging.getLogger("error_anatomy")
LOWPASS_SIGMA_PX = 8.0
SPLIT = "test/realistic"


def affine_onto(image: Any, target: Any) -> Any:
    """(H, W, 3) images -> (H, W, 3) float64: `image` under the per-channel affine map a x + b that brings it
    closest to `target` (least squares; a flat channel goes to the target's mean)."""
    import numpy as np

    fitted = np.empty(image.shape, np.float64)
    for channel in range(3):
        x = image[..., channel].astype(np.float64).ravel()
        design = np.stack([x, np.ones_like(x)], axis=1)
        coef, *_ = np.linalg.lstsq(design, target[..., channel].astype(np.float64).ravel(), rcond=None)
        fitted[..., channel] = (design @ coef).reshape(image.shape[:2])
    return fitted


def error_bands(output: Any, truth: Any) -> tuple[Any, Any]:
    """(H, W, 3) uint8 RGB output and clean image -> the luma error output − truth and its Gaussian blur of
    σ = LOWPASS_SIGMA_PX (its low-pass part, the veil and tone; the rest, error − blur, is the detail)."""
    import cv2

    from jrgr_deploy.metrics import rgb_to_y

    error = rgb_to_y(output) - rgb_to_y(truth)
    return error, cv2.GaussianBlur(error, (0, 0), LOWPASS_SIGMA_PX)


def error_psnr(error: Any) -> float:
    """PSNR of an error image (its deviation from zero), in dB."""
    import numpy as np

    from jrgr_deploy.metrics import psnr

    return psnr(error, np.zeros_like(error))


def anatomy(outputs: list[Any], clean: list[Any], rainy: list[Any]) -> dict[str, float]:
    """(H, W, 3) uint8 RGB outputs, clean and rainy images (same order) -> the module docstring's measures."""
    import numpy as np

    from jrgr_deploy.metrics import psnr, rgb_to_y

    rows = []
    for out, truth, wet in zip(outputs, clean, rainy, strict=True):
        y_out, y_clean, y_wet = (rgb_to_y(image) for image in (out, truth, wet))
        error, low = error_bands(out, truth)
        fitted = np.clip(np.rint(affine_onto(out, truth)), 0, 255).astype(np.uint8)
        rows.append({
            "psnr_y_db": error_psnr(error),
            "lowpass_share": float(np.mean(low**2) / max(float(np.mean(error**2)), 1e-12)),
            "highpass_psnr_y_db": error_psnr(error - low),
            "affine_psnr_y_db": psnr(rgb_to_y(fitted), y_clean),
            "offset": float(y_out.mean() - y_clean.mean()), "input_offset": float(y_wet.mean() - y_clean.mean()),
            "contrast": float(y_out.std() / max(y_clean.std(), 1e-6)),
            "input_contrast": float(y_wet.std() / max(y_clean.std(), 1e-6)),
        })
    mean = {key: float(np.mean([r[key] for r in rows]))
            for key in ("psnr_y_db", "lowpass_share", "highpass_psnr_y_db", "affine_psnr_y_db")}
    for what in ("offset", "contrast"):
        slope, intercept = np.polyfit([r[f"input_{what}"] for r in rows], [r[what] for r in rows], 1)
        mean[f"{what}_slope"], mean[f"{what}_intercept"] = float(slope), float(intercept)
    return mean


def rain_statistics(pairs: list[tuple[Any, Any]]) -> dict[str, float]:
    """(rainy, clean) paths -> the rain's lift (levels) and streak energy over the images (module docstring)."""
    import numpy as np

    from jrgr_deploy.image_files import read_rgb
    from jrgr_deploy.metrics import rgb_to_y
    from jrgr_deploy.moment_transfer import streak_energy

    lift, energy = [], []
    for rainy_path, clean_path in pairs:
        rainy, clean = read_rgb(rainy_path), read_rgb(clean_path)
        lift.append(float(rgb_to_y(rainy).mean() - rgb_to_y(clean).mean()))
        energy.append(streak_energy(rainy, clean))
    slope, intercept = np.polyfit(energy, lift, 1)
    return {"images": len(pairs), "lift_mean": float(np.mean(lift)), "lift_sd": float(np.std(lift)),
            "streak_energy_mean": float(np.mean(energy)), "streak_energy_sd": float(np.std(energy)),
            "correlation": float(np.corrcoef(energy, lift)[0, 1]), "lift_per_energy": float(slope),
            "lift_at_zero_energy": float(intercept)}


def split_images(work: Any, split: str) -> tuple[list[Any], list[Any]]:
    """The rainy and the clean (H, W, 3) uint8 RGB images of a `quality.Work` folder's `split`, pairs in name order."""
    from jrgr_deploy.image_files import read_rgb
    from jrgr_deploy.pairing import match_pairs

    pairs = match_pairs(work.data / split / "rainy", work.data / split / "clean")
    return [read_rgb(r) for r, _ in pairs], [read_rgb(c) for _, c in pairs]


def net_outputs(weights: Path, net_name: str, rainy: list[Any]) -> list[Any]:
    import torch

    from jrgr_deploy.checkpoint import load_checkpoint, load_net
    from jrgr_deploy.nn.build import size_multiple
    from jrgr_deploy.training.evaluate import remove_rain

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    checkpoint = load_checkpoint(weights)
    net = load_net(checkpoint, net_name)
    return remove_rain(net, rainy, multiple=size_multiple(checkpoint.config, net_name))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="a quality.py --work folder")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--methods", nargs="+", required=True)
    parser.add_argument("--name", default="error_anatomy")
    parser.add_argument("--rain-images", type=int, default=300, help="images of each training split for `rain`")
    parser.add_argument("--results", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from quality import Work, mean_sd

    from jrgr_deploy.datasets import evenly_spaced
    from jrgr_deploy.errors import JRGRError
    from jrgr_deploy.pairing import match_pairs
    from jrgr_deploy.training.tracing import read_trace, snapshot_path, val_selected_step

    work = Work(args.work)
    try:
        rainy, clean = split_images(work, SPLIT)
        rows: dict[str, Any] = {"rainy input": anatomy(rainy, clean, rainy)}
        stage1_seed = min(args.seeds)  # quality.py --shared-stage1: one stage 1 for every seed
        for name in ("supervised", "oracle"):
            weights = work.run(stage1_seed, name) / "stage1.safetensors"
            rows[f"{name} (stage 1)"] = anatomy(net_outputs(weights, "f_s", rainy), clean, rainy)
            logger.info("%s: %s", name, rows[f"{name} (stage 1)"])
        for method in args.methods:
            per_seed = []
            for seed in args.seeds:
                run_dir = work.run(seed, method)
                step = val_selected_step(read_trace(run_dir))
                per_seed.append(anatomy(net_outputs(snapshot_path(run_dir, step), "f_r", rainy), clean, rainy))
                logger.info("%s seed %d step %d: %s", method, seed, step, per_seed[-1])
            rows[f"{method} (val-selected)"] = {key: mean_sd([s[key] for s in per_seed]) for key in per_seed[0]}
        rain = {}
        for model, (rainy_dir, clean_dir) in {
                "model A (synthetic pairs)": (work.data / "train/synthetic/rainy", work.data / "train/synthetic/clean"),
                "model B (real split)": (work.data / "train/real/rainy", work.oracle_clean)}.items():
            rain_pairs = match_pairs(rainy_dir, clean_dir)
            rain[model] = rain_statistics([rain_pairs[i] for i in evenly_spaced(len(rain_pairs), args.rain_images)])
            logger.info("%s: %s", model, rain[model])
    except JRGRError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    result = {"command": "python benchmarks/error_anatomy.py " + " ".join(argv or sys.argv[1:]), "split": SPLIT,
              "seeds": args.seeds, "lowpass_sigma_px": LOWPASS_SIGMA_PX, "rows": rows, "rain": rain}
    args.results.mkdir(parents=True, exist_ok=True)
    out = args.results / f"{args.name}.json"
    out.write_text(json.dumps(result, indent=2))
    for row, values in rows.items():
        value = {key: entry["mean"] if isinstance(entry, dict) else entry for key, entry in values.items()}.__getitem__
        print(f"{row:45s} PSNR-Y {value('psnr_y_db'):6.2f}  low-pass share {value('lowpass_share'):.2f}  "
              f"high-pass only {value('highpass_psnr_y_db'):6.2f}  affine-fixed {value('affine_psnr_y_db'):6.2f}  "
              f"offset {value('offset_slope'):+.2f} x input {value('offset_intercept'):+.1f}  "
              f"contrast {value('contrast_slope'):.2f} x input {value('contrast_intercept'):+.2f}")
    for model, stats in rain.items():
        print(f"{model:45s} lift {stats['lift_mean']:.1f} +- {stats['lift_sd']:.1f} levels, streak energy "
              f"{stats['streak_energy_mean']:.2f}, correlation {stats['correlation']:.2f}")
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
