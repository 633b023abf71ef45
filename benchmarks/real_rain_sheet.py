"""Before/after sheet on real rainy photographs (no ground truth): the rainy photograph beside each model's F_r.

    python benchmarks/real_rain_sheet.py --photos benchmarks/work/default_model/real_rain/holdout \\
        --model "previous (v1)=OLD.safetensors" --model "v2=jrgr_deploy/weights/jrgr_tiny.safetensors" \\
        --out benchmarks/results/real_rain_sheet.png

Every photograph of the folder, in name order (no picking by result), shrunk so its longer side is
``--max-side`` pixels (the scale the models are meant to run at); each model derains it whole. Columns: rainy,
then one per ``--model NAME=CHECKPOINT``. Also reports three no-reference measures per model — the mean absolute
change it makes, the mean local contrast of its output and its mean streak energy (thin lines brighter than their
surroundings along the rainy photograph's rain direction, `jrgr_deploy.training.streak_carving.streak_energy`; the
rainy photographs' own beside them), on the whole photographs — in a JSON beside the PNG.
With ``--crop WxH`` the sheet shows each photograph's centre crop of that size instead (derained whole, then cut),
large enough to see streaks that the whole-photograph thumbnails hide. ``--veil-alone S`` adds a column that learns
nothing: the runtime's veil stage (`jrgr_deploy.veil_removal.remove_veil`, `jrgr derain --veil S`) on the rainy
photograph with no net (BENCHMARKS.md, Quality, "The veil removal alone").
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def _local_contrast(image: np.ndarray) -> float:
    """Mean standard deviation of the luminance in 16x16 blocks (a veil lowers it)."""
    import cv2

    from jrgr_deploy.metrics import rgb_to_y

    y = rgb_to_y(image).astype(np.float64)
    mean = cv2.blur(y, (16, 16))
    sq = cv2.blur(y * y, (16, 16))
    return float(np.sqrt(np.maximum(sq - mean * mean, 0)).mean())


def centre_crop(image: np.ndarray, crop_hw: tuple[int, int]) -> np.ndarray:
    """(H, W, C) -> the centre crop of (h, w) = `crop_hw`, each side clipped to the image's."""
    height, width = image.shape[:2]
    h, w = min(crop_hw[0], height), min(crop_hw[1], width)
    top, left = (height - h) // 2, (width - w) // 2
    return image[top:top + h, left:left + w]


def make_sheet(photos: Path, models: dict[str, Path], out: Path, max_side: int, columns_per_row: int = 3,
               crop_hw: tuple[int, int] | None = None, veil_alone: float | None = None) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from jrgr_deploy.checkpoint import load_checkpoint
    from jrgr_deploy.image_files import list_images, read_rgb, shrink_to_max_side
    from jrgr_deploy.training.data import load_removal_net
    from jrgr_deploy.training.evaluate import remove_rain
    from jrgr_deploy.training.streak_carving import streak_energy

    files = list_images(photos)
    rainy = [shrink_to_max_side(read_rgb(p), max_side) for p in files]
    panels: list[tuple[str, list[np.ndarray]]] = [("rainy (real)", rainy)]
    if veil_alone is not None:
        from jrgr_deploy.veil_removal import remove_veil

        panels.append((f"veil stage alone, S {veil_alone:g} (no net)", [remove_veil(p, veil_alone) for p in rainy]))
    for name, weights in models.items():
        net, multiple = load_removal_net(load_checkpoint(weights), "cpu")
        panels.append((name, remove_rain(net, rainy, multiple=multiple, batch_size=1)))
    report = {"photos": [p.name for p in files], "max_side": max_side, "models": {}}
    rainy_streaks = [streak_energy(image) for image in rainy]  # each photograph's rain direction, read once
    for name, images in panels[1:]:
        report["models"][name] = {
            "mean_abs_change": round(float(np.mean([np.abs(a.astype(int) - b).mean() for a, b in
                                                    zip(images, rainy, strict=True)])), 3),
            "local_contrast": round(float(np.mean([_local_contrast(a) for a in images])), 3),
            "streak_energy": round(float(np.mean([streak_energy(a, angle)[0] for a, (_, angle) in
                                                  zip(images, rainy_streaks, strict=True)])), 4),
        }
    report["rainy_local_contrast"] = round(float(np.mean([_local_contrast(a) for a in rainy])), 3)
    report["rainy_streak_energy"] = round(float(np.mean([energy for energy, _ in rainy_streaks])), 4)
    scale = 1.0
    if crop_hw is not None:  # the measures above stay the whole photographs'; the sheet shows the centres
        report["crop_wh"] = [crop_hw[1], crop_hw[0]]
        panels = [(label, [centre_crop(image, crop_hw) for image in images]) for label, images in panels]
        scale = 1.5  # a crop drawn larger than a thumbnail (a 256-px crop at about its own pixels): streaks show
    groups = [list(range(k, min(k + columns_per_row, len(files)))) for k in range(0, len(files), columns_per_row)]
    figure = Figure(figsize=(2.1 * scale * len(panels) * columns_per_row, 1.6 * scale * len(groups) + 0.4), dpi=80,
                    layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(groups), len(panels) * columns_per_row, squeeze=False)
    for row, group in enumerate(groups):
        for slot in range(columns_per_row):
            for column, (label, images) in enumerate(panels):
                axis = axes[row][slot * len(panels) + column]
                axis.set_xticks([])
                axis.set_yticks([])
                if slot >= len(group):
                    axis.set_axis_off()
                    continue
                axis.imshow(images[group[slot]])
                if row == 0:
                    axis.set_title(label, fontsize=8)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out)
    if out.stat().st_size > 1_400_000:
        from PIL import Image

        Image.open(out).convert("RGB").quantize(256).save(out, optimize=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, required=True, help="folder of real rainy photographs")
    parser.add_argument("--model", action="append", required=True, metavar="NAME=CHECKPOINT",
                        help="a column: its label and checkpoint (repeatable)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "real_rain_sheet.png")
    parser.add_argument("--max-side", type=int, default=512, help="longer side of each photograph (default 512)")
    parser.add_argument("--crop", default=None, metavar="WxH",
                        help="show each photograph's centre crop of this size (after --max-side) instead of the "
                        "whole photograph")
    parser.add_argument("--columns", type=int, default=3, help="photographs side by side per row (default 3)")
    parser.add_argument("--veil-alone", type=float, default=None, metavar="S",
                        help="also a column of the runtime's veil stage at strength S on the rainy photograph, no net")
    args = parser.parse_args(argv)
    if args.columns < 1:
        print(f"error: --columns must be at least 1, got {args.columns}", file=sys.stderr)
        return 2
    crop_hw = None
    if args.crop is not None:
        from jrgr_deploy.errors import JRGRError
        from jrgr_deploy.frames import parse_hw

        try:
            crop_hw = parse_hw(args.crop, "--crop")
        except JRGRError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    models = {}
    for item in args.model:
        name, sep, path = item.partition("=")
        if not sep or not Path(path).is_file():
            print(f"error: --model '{item}' must be NAME=CHECKPOINT with an existing file", file=sys.stderr)
            return 2
        models[name] = Path(path)
    if not args.photos.is_dir():
        print(f"error: --photos '{args.photos}' is not a folder", file=sys.stderr)
        return 2
    if args.veil_alone is not None:
        from jrgr_deploy.errors import JRGRError
        from jrgr_deploy.veil_removal import check_strength

        try:
            check_strength(args.veil_alone)  # the runtime's own check, before any net loads
        except JRGRError:
            print(f"error: --veil-alone must be in [0, 1), got {args.veil_alone:g}", file=sys.stderr)
            return 2
    report = make_sheet(args.photos, models, args.out, args.max_side, args.columns, crop_hw, args.veil_alone)
    print(json.dumps(report["models"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
