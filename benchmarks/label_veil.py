"""How good the self-training labels' veil removal is, per setting of the dark channel, on a split with ground truth:
how the settings of ``loss.pl_veil_patch``, ``loss.pl_airlight_fraction``, ``loss.pl_veil_strength``,
``loss.pl_veil_removal`` and ``loss.pl_veil_first`` are chosen.

    python benchmarks/label_veil.py --work W --patches 0.0417 0.17 0.25 0.33 --airlights 0.001 0.05 \
        --strengths 0.3 0.5 0.7 --name label_veil
    python benchmarks/label_veil.py --work W --removals dark_channel row_dark_channel --orders after first \
        --patches 0.0417 0.1 0.33 --airlights 0.05 --strengths 0.5 0.7 0.85 0.9 --name label_veil_first
    python benchmarks/label_veil.py --work W --removals dark_channel row_dark_channel --orders alone \
        --patches 0.02 0.0417 0.1 0.33 --airlights 0.001 0.05 --strengths 0.3 0.5 0.7 0.9 0.95 --name veil_alone

With ``--orders alone`` no net runs: the rainy image with its veil removed, a baseline that learns nothing, for
the quality benchmark's rows to be read against (BENCHMARKS.md, Quality, "The veil removal alone"); with
``first_blur`` the stage-1 net runs after the stage and only its blur is kept, over the stage's own detail.
``--tiles WxH ...`` (with ``--orders alone``) also runs the stage on each WxH tile of the image on its own, its
patch or band the same in pixels: how much of the frame the veil's reading needs, which a net that sees only its
receptive field or a training crop cannot have (BENCHMARKS.md, Quality, "Whole frames as crops").

    python benchmarks/label_veil.py --work W --split test/realistic --removals row_dark_channel --orders alone \
        --patches 0.0417 --airlights 0.05 --strengths 0.95 --tiles 192x384 96x384 384x192 384x96 192x192 128x128 \
        --name veil_alone_tiles

``--net CKPT`` makes the labels with that checkpoint's removal net instead of the work folder's stage 1 (the
default model's recipe starts from v2), and ``--streak-reference REF --carvings residue:1 lines:2 ...`` also
scores each setting's labels carved as ``loss.pl_streak_reference=REF`` with ``loss.pl_streak_carving`` and
``loss.pl_streak_gain`` carves them (`training/streak_carving.py`; ``--reference-passes K``:
``loss.pl_streak_reference_passes``): what the carving does to labels of rain whose ground truth is known
(BENCHMARKS.md, Quality, "Carving the labels' own lines", "Labels that take the reference's detail").

    python benchmarks/label_veil.py --work W --net v2.safetensors --removals row_dark_channel --orders first \
        --patches 0.1 --airlights 0.05 --strengths 0.9 --streak-reference v1.safetensors \
        --carvings residue:1 lines:1 lines:1.5 lines:2 lines:3 --name label_streak_carving

The labels are made as the trainer makes them (`jrgr_deploy.veil_removal.remove_veil` on the stage-1 net's output,
`training.data.make_pseudo_labels`), here on `--split` (default val/realistic: the selection split, which no
training uses) so that they can be scored against its clean images: PSNR-Y, and PSNR-Y of the error's Gaussian
blur of σ = 8 px (its veil part) and of the rest (`error_anatomy.py`'s split). W is a `quality.py --work` folder
with seed `--seed`'s stage 1. Writes RESULTS/NAME.json and prints one line per setting, best PSNR-Y last.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

logger = logging.getLogger("label_veil")


def label_scores(labels: list[Any], clean: list[Any]) -> dict[str, float]:
    """Mean PSNR-Y of `labels` against `clean` ((H, W, 3) uint8 RGB each), of the error's blur and of the rest
    (`error_anatomy.error_bands`)."""
    import numpy as np
    from error_anatomy import error_bands, error_psnr

    bands = [error_bands(label, truth) for label, truth in zip(labels, clean, strict=True)]
    return {"psnr_y_db": float(np.mean([error_psnr(error) for error, _ in bands])),
            "lowpass_psnr_y_db": float(np.mean([error_psnr(low) for _, low in bands])),
            "highpass_psnr_y_db": float(np.mean([error_psnr(error - low) for error, low in bands]))}


def parse_tile(text: str) -> tuple[int, int]:
    """'WxH' (pixels, width first as at every command line here) -> (H, W)."""
    width, _, height = text.lower().partition("x")
    if not (width.isdigit() and height.isdigit() and int(width) > 0 and int(height) > 0):
        raise argparse.ArgumentTypeError(f"a tile is WIDTHxHEIGHT in pixels, e.g. 192x384, got '{text}'")
    return int(height), int(width)


def parse_carving(text: str) -> tuple[str, float]:
    """'CARVING:GAIN' (``loss.pl_streak_carving``, ``loss.pl_streak_gain``) -> (carving, gain)."""
    from jrgr_deploy.config import MAX_STREAK_GAIN, STREAK_CARVINGS

    carving, _, gain = text.partition(":")
    try:
        value = float(gain)
    except ValueError:
        value = 0.0
    if carving not in STREAK_CARVINGS or not 0.0 < value <= MAX_STREAK_GAIN:
        raise argparse.ArgumentTypeError(f"a carving is CARVING:GAIN with CARVING one of {', '.join(STREAK_CARVINGS)} "
                                         f"and GAIN in (0, {MAX_STREAK_GAIN:g}], e.g. lines:2, got '{text}'")
    return carving, value


def finish_labels(outputs: list[Any], order: str, inputs: list[Any], detail_px: float, veil: Any,
                  veil_args: tuple[float, float, float]) -> list[Any]:
    """The net's outputs (``--orders alone``: the unveiled images) -> the labels of `order`: the veil removed after
    the net (`veil` with (strength, patch, airlight)), the outputs' detail over their inputs' blur (first_blur,
    `keep_blur`), or the outputs as they are."""
    from jrgr_deploy.training.data import keep_blur

    if order == "after":
        return [veil(image, *veil_args) for image in outputs]
    if order == "first_blur":
        return [keep_blur(output, image, detail_px) for output, image in zip(outputs, inputs, strict=True)]
    return outputs


def tiled(veil: Any, by_rows: bool, image: Any, tile_hw: tuple[int, int], strength: float, patch: float,
          airlight: float) -> Any:
    """`veil` (`remove_veil`, or `remove_row_veil` when `by_rows`) run on each `tile_hw` tile of the (H, W, 3)
    `image` on its own, its patch (a fraction of the short side) or band (of the height) scaled so that it covers as
    many pixels as on the whole image; edge tiles are what is left."""
    import numpy as np

    height, width = image.shape[:2]
    out = np.empty_like(image)
    for top in range(0, height, tile_hw[0]):
        for left in range(0, width, tile_hw[1]):
            tile = image[top:top + tile_hw[0], left:left + tile_hw[1]]
            if by_rows:
                scaled = patch * height / tile.shape[0]
            else:
                scaled = patch * min(height, width) / min(tile.shape[:2])
            out[top:top + tile_hw[0], left:left + tile_hw[1]] = veil(tile, strength, min(scaled, 1.0), airlight)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="a quality.py work folder")
    parser.add_argument("--seed", type=int, default=0, help="whose stage-1 net makes the labels")
    parser.add_argument("--split", default="val/realistic")
    parser.add_argument("--patches", type=float, nargs="+", default=[15 / 360])
    parser.add_argument("--airlights", type=float, nargs="+", default=[0.001])
    parser.add_argument("--strengths", type=float, nargs="+", default=[0.3])
    parser.add_argument("--removals", nargs="+", default=["dark_channel"], choices=["dark_channel", "row_dark_channel"],
                        help="loss.pl_veil_removal: the square patch's dark channel, or row by row")
    parser.add_argument("--orders", nargs="+", default=["after"], choices=["after", "first", "alone", "first_blur"],
                        help="the veil removed from the net's output (after), from the rainy image before the net "
                             "(first: loss.pl_veil_first), from the rainy image with no net at all (alone: a "
                             "baseline that learns nothing), or first with only the net's blur kept over the "
                             "unveiled image's detail (first_blur: blur(F(V(O))) + V(O) - blur(V(O)), --detail-px)")
    parser.add_argument("--detail-px", type=float, default=8.0,
                        help="first_blur's Gaussian blur, pixels (default 8: the error anatomy's split)")
    parser.add_argument("--tiles", type=parse_tile, nargs="+", default=[], metavar="WxH",
                        help="with --orders alone: also run the stage on each tile of this size on its own")
    parser.add_argument("--net", type=Path, default=None, metavar="CKPT",
                        help="the labels' net: this checkpoint's removal net (default: --seed's stage 1 in --work)")
    parser.add_argument("--streak-reference", type=Path, default=None, metavar="CKPT",
                        help="loss.pl_streak_reference: also score the labels carved against this net's output")
    parser.add_argument("--carvings", type=parse_carving, nargs="+", default=[], metavar="CARVING:GAIN",
                        help="with --streak-reference: loss.pl_streak_carving and loss.pl_streak_gain, e.g. lines:2")
    parser.add_argument("--reference-passes", type=int, default=1, metavar="K",
                        help="with --streak-reference: loss.pl_streak_reference_passes, the reference run K times "
                        "on its own output (default 1)")
    parser.add_argument("--name", default="label_veil")
    parser.add_argument("--results", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    if args.tiles and args.orders != ["alone"]:
        parser.error("--tiles runs the stage alone on each tile: use it with --orders alone")
    if bool(args.streak_reference) != bool(args.carvings) or (args.carvings and "alone" in args.orders):
        parser.error("--streak-reference and --carvings go together, and carve a net's labels (not --orders alone)")
    from jrgr_deploy.config import MAX_REFERENCE_PASSES

    if not 1 <= args.reference_passes <= MAX_REFERENCE_PASSES or (args.reference_passes != 1
                                                                   and not args.streak_reference):
        parser.error(f"--reference-passes must be in [1, {MAX_REFERENCE_PASSES}] and goes with --streak-reference, "
                     f"got {args.reference_passes}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from error_anatomy import net_outputs, split_images
    from quality import Work

    from jrgr_deploy.checkpoint import load_checkpoint
    from jrgr_deploy.errors import JRGRError
    from jrgr_deploy.training.streak_carving import carve_streaks
    from jrgr_deploy.veil_removal import remove_row_veil, remove_veil

    work = Work(args.work)
    veils = {"dark_channel": remove_veil, "row_dark_channel": remove_row_veil}
    try:
        rainy, clean = split_images(work, args.split)
        weights = args.net or work.run(args.seed, "supervised") / "stage1.safetensors"
        net_name = load_checkpoint(weights).removal_net
        derained = net_outputs(weights, net_name, rainy)
        rows: list[dict[str, Any]] = [{"setting": "the net's output", **label_scores(derained, clean)}]
        # the reference's outputs per net input: the rainy images (key None) or those with one veil setting removed
        references: dict[tuple[str, float, float, float] | None, list[Any]] = {}

        def reference_outputs(key: tuple[str, float, float, float] | None, inputs: list[Any]) -> list[Any]:
            if key not in references:
                reference_name = load_checkpoint(args.streak_reference).removal_net
                outputs = inputs
                for _ in range(args.reference_passes):  # as training.data.StreakReference runs it
                    outputs = net_outputs(args.streak_reference, reference_name, outputs)
                references[key] = outputs
            return references[key]

        for removal, order, patch, airlight, strength, tile_hw in itertools.product(
                args.removals, args.orders, args.patches, args.airlights, args.strengths, [None, *args.tiles]):
            veil = veils[removal]
            setting = {"removal": removal, "order": order, "patch": patch, "airlight": airlight,
                       **({"detail_px": args.detail_px} if order == "first_blur" else {}),
                       **({"tile_wh": [tile_hw[1], tile_hw[0]]} if tile_hw is not None else {}), "strength": strength}
            # the net's inputs (and their key among the reference's outputs) and outputs, which a carving compares
            inputs, inputs_key, outputs = rainy, None, derained
            if tile_hw is not None:
                labels = [tiled(veil, removal == "row_dark_channel", image, tile_hw, strength, patch, airlight)
                          for image in rainy]
            else:
                if order != "after":  # the veil removed from the rainy image: alone, or before the net
                    inputs = [veil(image, strength, patch, airlight) for image in rainy]
                    inputs_key = (removal, patch, airlight, strength)
                    outputs = inputs if order == "alone" else net_outputs(weights, net_name, inputs)
                labels = finish_labels(outputs, order, inputs, args.detail_px, veil, (strength, patch, airlight))
            rows.append({**setting, **label_scores(labels, clean)})
            for carving, gain in args.carvings:  # carved as make_pseudo_labels carves: the net's output
                carved = [carve_streaks(output, ref, carving, gain) for output, ref in
                          zip(outputs, reference_outputs(inputs_key, inputs), strict=True)]
                carved = finish_labels(carved, order, inputs, args.detail_px, veil, (strength, patch, airlight))
                rows.append({**setting, "carving": carving, "gain": gain, **label_scores(carved, clean)})
    except JRGRError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    result = {"command": "python benchmarks/label_veil.py " + " ".join(argv or sys.argv[1:]), "split": args.split,
              "images": len(clean), "rows": rows}
    args.results.mkdir(parents=True, exist_ok=True)
    out = args.results / f"{args.name}.json"
    out.write_text(json.dumps(result, indent=2))
    for row in sorted(rows, key=lambda r: r["psnr_y_db"]):
        setting = row.get("setting") or (f"{row['removal']} {row['order']}, patch {row['patch']:.4g}, airlight "
                                         f"{row['airlight']:g}, S {row['strength']:g}"
                                         + (" tiles {}x{}".format(*row["tile_wh"]) if "tile_wh" in row else "")
                                         + (f", carved {row['carving']} x{row['gain']:g}" if "carving" in row else ""))
        print(f"{setting:64s} PSNR-Y {row['psnr_y_db']:6.2f}  veil part {row['lowpass_psnr_y_db']:6.2f}  "
              f"rest {row['highpass_psnr_y_db']:6.2f}")
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
