"""A population tone map after F_r, on the quality benchmark's trained rows (a measurement, not yet a product stage).

    python benchmarks/population_tone.py --work W --methods supervised_continued self_training_mt [--seeds 0 1 2]

W is a `benchmarks/quality.py` work folder whose rows are trained (its data, seedN/ROW/ runs with snapshots and
val_trajectory.json). For every seed and row, at its val-selected step (quality.py's rule) and at its last step:

1. F_r derains `--real-images` of the unpaired real training images (evenly spaced); the tone map is the
   `jrgr_deploy.moment_transfer.MomentTransfer` from their population cell moments (`--grid`) to those of as many
   clean backgrounds of the synthetic pairs: what F_r leaves of the real set's veil, as a population, read
   without ground truth (the same fit as the pseudo-labels' `loss.pl_veil_removal=moments`).
2. F_r's outputs on val/realistic and test/realistic, re-toned at every strength of `--strengths` (0: F_r alone)
   times each image's own share of the veil (the runtime's rule, `MomentTransfer.apply_to_veil`), are scored
   (PSNR-Y); the strength is chosen on val (best mean over the seeds of the row) and reported on test.

Why: after `self_training_mt` most of the remaining test error is a per-cell tone error (the far, upper part of
the picture left too bright and flat), which a population map corrects on average. Writes
RESULTS/population_tone.json and prints one line per row.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent

STRENGTHS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)


def _steps(run_dir: Path) -> dict[str, int]:
    """The val-selected and the last step of a traced run (quality.py's selection rule)."""
    from jrgr_deploy.training.tracing import read_trace, val_selected_step

    trace = read_trace(run_dir)
    if len(trace) < 2:
        return {}
    return {"selected": val_selected_step(trace), "last": max(p["step"] for p in trace)}


def score_run(weights: Path, real: Path, clean: Path, splits: dict[str, Any], grid: int, most: int,
              strengths: list[float], fixed: bool = False) -> dict[str, dict[str, float]]:
    """{split: {strength: mean PSNR-Y}} of F_r of `weights` followed by its population tone map, fitted as
    `jrgr export --tone` fits it (`export.tone.fit_population_tone`) with `--tone-light as-is`: the real and the
    clean sets show different scenes, so there is no one scene whose light could be matched."""
    import torch

    from jrgr_deploy.checkpoint import load_checkpoint, load_net
    from jrgr_deploy.export.tone import fit_population_tone
    from jrgr_deploy.metrics import psnr_y
    from jrgr_deploy.nn.build import size_multiple
    from jrgr_deploy.training.evaluate import remove_rain

    checkpoint = load_checkpoint(weights)
    f_r, multiple = load_net(checkpoint, "f_r"), size_multiple(checkpoint.config, "f_r")
    tone, _ = fit_population_tone(f_r, real, clean, grid, most, multiple)
    with torch.no_grad():
        outputs = {name: remove_rain(f_r, rainy, multiple=multiple) for name, (rainy, _) in splits.items()}
    retone = tone.apply if fixed else tone.apply_to_veil
    return {name: {str(s): float(np.mean([psnr_y(retone(o, s) if s else o, c)
                                           for o, c in zip(outputs[name], splits[name][1], strict=True)]))
                   for s in strengths}
            for name in splits}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True, help="a benchmarks/quality.py work folder")
    parser.add_argument("--methods", nargs="+", required=True, help="its trained rows")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--strengths", type=float, nargs="+", default=list(STRENGTHS))
    parser.add_argument("--grid", type=int, default=4, help="cells per side of the tone map (loss.moment_grid)")
    parser.add_argument("--real-images", type=int, default=128, help="real and clean images the map is fitted on")
    parser.add_argument("--fixed", action="store_true",
                        help="re-tone every image at the strength itself, not times its own share of the veil (a "
                             "comparison; the runtime uses the share)")
    parser.add_argument("--results", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    import torch

    from jrgr_deploy.image_files import read_rgb
    from jrgr_deploy.training.tracing import snapshot_path

    torch.set_num_threads(1)
    data = args.work / "data"
    if not (data / "test" / "realistic" / "rainy").is_dir():
        print(f"error: '{args.work}' is not a quality.py work folder (no data/test/realistic)", file=sys.stderr)
        return 2
    strengths = sorted({0.0, *args.strengths})
    real, clean = data / "train" / "real" / "rainy", data / "train" / "synthetic" / "clean"
    splits = {}
    for split in ("val", "test"):
        names = sorted((data / split / "realistic" / "rainy").iterdir())
        splits[split] = ([read_rgb(p) for p in names],
                         [read_rgb(data / split / "realistic" / "clean" / p.name) for p in names])
    began, rows = time.time(), {}
    for method in args.methods:
        per_seed = []
        for seed in args.seeds:
            run_dir = args.work / f"seed{seed}" / method
            scores, steps = {}, _steps(run_dir)
            if not steps:
                print(f"error: '{run_dir}' holds no traced run (train the row with benchmarks/quality.py first)",
                      file=sys.stderr)
                return 2
            for which, step in steps.items():
                scores[which] = {"step": step, **score_run(snapshot_path(run_dir, step), real, clean, splits,
                                                           args.grid, args.real_images, strengths, args.fixed)}
            per_seed.append(scores)
        row: dict[str, Any] = {"per_seed": per_seed}
        for which in ("selected", "last"):
            val = {s: np.mean([p[which]["val"][str(s)] for p in per_seed]) for s in strengths}
            chosen = max(strengths, key=lambda s: val[s])
            test = [p[which]["test"][str(chosen)] for p in per_seed]
            alone = [p[which]["test"]["0.0"] for p in per_seed]
            row[which] = {"strength": chosen, "test_psnr_y": float(np.mean(test)), "test_sd": float(np.std(test)),
                          "test_alone_psnr_y": float(np.mean(alone)), "val_by_strength": val}
            print(f"{method} @{which}: F_r alone {np.mean(alone):.2f} dB, + tone map (S {chosen} chosen on val) "
                  f"{np.mean(test):.2f} +- {np.std(test):.2f} dB on test/realistic", flush=True)
        rows[method] = row
    args.results.mkdir(parents=True, exist_ok=True)
    out = args.results / ("population_tone_fixed.json" if args.fixed else "population_tone.json")
    out.write_text(json.dumps({"benchmark": "population_tone", "command": shlex.join(["python", *sys.argv]),
                               "grid": args.grid, "fixed": args.fixed, "real_images": args.real_images,
                               "seeds": args.seeds,
                               "strengths": strengths, "rows": rows, "wall_min": (time.time() - began) / 60},
                              indent=1, default=float) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
