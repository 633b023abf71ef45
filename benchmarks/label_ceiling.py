"""How far self-training could go if its pseudo-labels were right, in part or in whole: a diagnosis that uses the
real split's ground truth, which no method has (nothing is selected on it; it bounds what better labels can buy).

    python benchmarks/label_ceiling.py --work W --out W_CLEAN --labels clean --methods self_training \
        --set model.removal.row_coord=true --name label_ceiling_clean

W is a `quality.py` work folder with its data set, the real split's clean images (oracle_clean/) and the stage-1
nets of `--seed` (seedN/supervised, seedN/oracle). OUT is a new work folder that borrows them (symbolic links);
for each of `--methods` (self-training rows of quality.py, which train on the labels ``loss.weights.mse_fr_pl``)
the labels are written first, as the trainer would (`training.data.make_pseudo_labels`: the starting net's output
with its veil stage), then replaced per image by `--labels`:

- clean: the clean image itself (the labels of a perfect labeller: the ceiling of self-training at this budget);
- affine: the label mapped onto the clean image by its best per-channel affine map (each image's global tone right);
- mean: the label shifted to the clean image's per-channel means (each image's lift right);
- lowpass: the label's Gaussian blur (σ = 8 px, error_anatomy.py's split) replaced by the clean image's (the veil
  and tone right, the streaks and detail as the labeller left them);
- highpass: the label less its blur plus the clean image's detail (the detail right, the veil as left).

The trainer reuses a labels folder whose ``labels.json`` matches, so `quality.py --work OUT` then trains and scores
each row as usual (same iterations, selection rule, test split). Writes RESULTS/NAME.json: quality.py's results
with the labels' kind.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

logger = logging.getLogger("label_ceiling")
LABELS = ("clean", "affine", "mean", "lowpass", "highpass")
CEILING_FILE = "label_ceiling.json"  # in the labels folder, written last: its labels are corrected as it says


def corrected_label(label: Any, clean: Any, kind: str) -> Any:
    """(H, W, 3) uint8 RGB label and clean image -> the label as `kind` (module docstring) says, uint8."""
    import cv2
    import numpy as np
    from error_anatomy import LOWPASS_SIGMA_PX, affine_onto

    from jrgr_deploy.errors import JRGRError

    if kind not in LABELS:
        raise JRGRError(f"--labels must be one of {', '.join(LABELS)}, got '{kind}'")
    if label.shape != clean.shape:
        raise JRGRError(f"a label of shape {label.shape} against a clean image of shape {clean.shape}")
    x, y = label.astype(np.float64), clean.astype(np.float64)
    if kind == "clean":
        out = y
    elif kind == "affine":
        out = affine_onto(x, y)
    elif kind == "mean":
        out = x - x.mean(axis=(0, 1)) + y.mean(axis=(0, 1))
    else:
        blur_x, blur_y = (cv2.GaussianBlur(image, (0, 0), LOWPASS_SIGMA_PX) for image in (x, y))
        out = x - blur_x + blur_y if kind == "lowpass" else blur_x + y - blur_y
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def borrow(work: Path, out: Path, seed: int) -> None:
    """OUT/{data, oracle_clean, seedN/supervised, seedN/oracle} -> W's (symbolic links); JRGRError when W lacks one."""
    from jrgr_deploy.errors import JRGRError

    for part in ("data", "oracle_clean", f"seed{seed}/supervised", f"seed{seed}/oracle"):
        source = (work / part).resolve()
        if not source.exists():
            raise JRGRError(f"'{work / part}' does not exist: --work must be a quality.py work folder with its data "
                            f"set, the real split's clean images and seed {seed}'s stage-1 nets")
        link = out / part
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(source)


def write_labels(out: Path, seed: int, method: str, kind: str, overrides: list[str], quick: bool = False) -> int:
    """The trainer's labels of `method` into OUT/seedN/METHOD/pseudo_labels, then each replaced as `kind` says;
    returns how many."""
    from dataclasses import replace

    import torch
    from quality import METHODS, QUICK, Plan, Work, _task_config

    from jrgr_deploy.checkpoint import load_checkpoint, load_net
    from jrgr_deploy.datasets import UnpairedRainDataset
    from jrgr_deploy.errors import JRGRError
    from jrgr_deploy.image_files import read_rgb, write_rgb
    from jrgr_deploy.nn.build import size_multiple
    from jrgr_deploy.training.data import PSEUDO_LABELS_FILE, make_pseudo_labels, resolve_sources
    from jrgr_deploy.training.trainer import PSEUDO_LABELS_DIR

    if method not in METHODS:
        raise JRGRError(f"--methods: '{method}' is not a quality.py row")
    work = Work(out)
    plan = replace(QUICK if quick else Plan(), stage1_seed=seed, net_overrides=tuple(overrides))
    config = _task_config(plan, work, seed, method)
    if config.loss.weights.mse_fr_pl <= 0 or config.loss.pl_refresh_iters > 0:
        raise JRGRError(f"--methods: '{method}' does not train on fixed pseudo-labels (loss.weights.mse_fr_pl)")
    checkpoint = load_checkpoint(Path(config.train.init_from))
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    sources = resolve_sources(config.data, need_real=True)
    folder = work.run(seed, method) / PSEUDO_LABELS_DIR
    marker, done = folder / CEILING_FILE, folder / PSEUDO_LABELS_FILE
    real = UnpairedRainDataset(sources.real).images
    if marker.is_file() and done.is_file() and json.loads(marker.read_text()) == {"labels": kind}:
        return len(real)  # written by an earlier call: a correction is not applied twice
    marker.unlink(missing_ok=True)
    done.unlink(missing_ok=True)  # the trainer's labels made anew, never a half-corrected folder reused
    pairs = make_pseudo_labels(sources, load_net(checkpoint, "f_r"), config.loss, folder,
                               size_multiple(config, "f_r"))
    for (_, label_path), rainy_path in zip(pairs, real, strict=True):
        clean = read_rgb(work.oracle_clean / rainy_path.name)
        write_rgb(label_path, corrected_label(read_rgb(label_path), clean, kind))
    marker.write_text(json.dumps({"labels": kind}))
    return len(pairs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="a quality.py work folder (data, stage 1)")
    parser.add_argument("--out", type=Path, required=True, help="a new work folder for these runs")
    parser.add_argument("--labels", choices=LABELS, required=True)
    parser.add_argument("--methods", nargs="+", default=["self_training"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--iters", type=int, default=1000)
    parser.add_argument("--val-points", type=int, default=8)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a config switch of every row, as quality.py's (the stage 1 of --work must match it)")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="a --quick work folder (quality.py --quick's plan)")
    parser.add_argument("--name", default="label_ceiling")
    parser.add_argument("--results", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from jrgr_deploy.errors import JRGRError

    try:
        borrow(args.work, args.out, args.seed)
        for method in args.methods:
            count = write_labels(args.out, args.seed, method, args.labels, args.set, args.quick)
            logger.info("%s: %d labels written as '%s'", method, count, args.labels)
    except JRGRError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    scratch = args.out / "results"
    command = [sys.executable, str(HERE / "quality.py"), "--work", str(args.out), "--seeds", str(args.seed),
               "--shared-stage1", str(args.seed), "--iters", str(args.iters), "--val-points", str(args.val_points),
               "--jobs", str(args.jobs), "--results", str(scratch), "--markdown", "",
               *[f"--set={switch}" for switch in args.set], *(["--quick"] if args.quick else []),
               "--methods", *args.methods]
    if subprocess.run(command, check=False).returncode != 0:
        print(f"error: quality.py failed on '{args.out}'", file=sys.stderr)
        return 1
    written = scratch / ("quality_quick.json" if args.quick else "quality.json")
    result: dict[str, Any] = json.loads(written.read_text())
    result["labels"] = args.labels
    result["label_ceiling_command"] = "python benchmarks/label_ceiling.py " + " ".join(argv or sys.argv[1:])
    args.results.mkdir(parents=True, exist_ok=True)
    path = args.results / f"{args.name}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
