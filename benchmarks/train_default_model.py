"""Train the default model shipped in `jrgr_deploy/weights/`: JRGR+ with REAL rain as the real domain.

    python benchmarks/train_default_model.py --backgrounds ../shared/data/backgrounds \\
        --real-rain ../shared/data/real-rain          # resumable; then benchmarks/ship_default_model.py

- Synthetic pairs, proxy validation and proxy test: the quality benchmark's data set (`benchmarks/quality.py`,
  the same four photograph parts, model-A pairs on the synthetic part), so the proxy test photographs are
  never trained on and the shipped F_r is scored on the benchmark's own test split.
- Real domain O_r: the real rainy photographs (Wei et al., CVPR 2019), minus about ``--holdout`` of them kept for
  the model card's before/after sheet (a seeded choice of photographs with their near-duplicates — the set holds
  some photographs twice — listed in the results).
- Stage 1: supervised on the model-A pairs (the quality benchmark's recipe; its seed-0 net is reused when the
  benchmark's work folder holds it; with ``--set model.…`` switches, a net of another size, trained in
  WORK/stage1). Stage 2: the benchmark's ``--method`` (default `jrgr_plus`), ``--iters`` steps, traced on the proxy
  validation (model B on validation photographs); the val-selected snapshot is the model.
- ``--with-proxy-real N`` adds N images of the quality benchmark's own real domain (its ``train/real`` split:
  unpaired model-B rainy images of the photographs the benchmark keeps for that split, never its validation or test
  photographs) to the real photographs, as that benchmark's self-training rows train on it: the photographs teach
  the real streaks, the proxy's split its veil.

Writes WORK/default_model.json (command, data, trace, the selected checkpoint: what `ship_default_model.py
--stage2` is given; WORK/default_model_METHOD.json for another ``--method``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

os.environ.setdefault("OMP_NUM_THREADS", "1")

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

logger = logging.getLogger("train_default_model")
DEFAULT_REAL_RAIN = REPO.parent / "shared" / "data" / "real-rain"

if TYPE_CHECKING:
    import quality


def duplicate_groups(files: list[Path], threshold: float = 0.95) -> list[list[Path]]:
    """Files grouped with their near-duplicates (the real-rain set holds some photographs twice, at two sizes):
    correlation of normalised 32x32 grey thumbnails above `threshold` joins two files."""
    import cv2
    import numpy as np

    thumbs = []
    for path in files:
        grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        small = cv2.resize(grey, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float64).ravel()
        thumbs.append((small - small.mean()) / (small.std() + 1e-6))
    matrix = np.stack(thumbs)
    similar = matrix @ matrix.T / matrix.shape[1] > threshold
    parent = list(range(len(files)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(similar), strict=True):
        parent[root(int(i))] = root(int(j))
    groups: dict[int, list[Path]] = {}
    for index, path in enumerate(files):
        groups.setdefault(root(index), []).append(path)
    return sorted(groups.values(), key=lambda group: group[0].name)


def split_real_rain(folder: Path, holdout: int, seed: int, out: Path) -> dict[str, list[str]]:
    """Copy the real rainy photographs into OUT/train and OUT/holdout: a seeded choice of about `holdout` files,
    near-duplicates kept on the same side (a held-out photograph is never trained on at another size). The
    copies are the files as they are (`shrink_photos` makes the training photographs smaller)."""
    import numpy as np

    from jrgr_deploy.errors import JRGRError
    from jrgr_deploy.image_files import list_images

    if not folder.is_dir():
        raise JRGRError(f"real-rain folder '{folder}' does not exist: pass --real-rain DIR (the project uses "
                        "../shared/data/real-rain, 98 real rainy photographs of Wei et al., CVPR 2019)")
    files = list_images(folder)
    if len(files) <= holdout + 8:
        raise JRGRError(f"'{folder}' holds {len(files)} images; need more than --holdout {holdout} + 8")
    groups = duplicate_groups(files)
    held: list[Path] = []
    for index in np.random.default_rng(seed).permutation(len(groups)):
        if len(held) >= holdout:
            break
        held += groups[index]
    held_names = {p.name for p in held}
    parts = {"holdout": sorted(held_names), "train": sorted(p.name for p in files if p.name not in held_names)}
    for part, names in parts.items():
        fill_folder(out / part, {name: folder / name for name in names})
    return parts


def fill_folder(out: Path, sources: dict[str, Path], write: Callable[[Path, Path], object] = shutil.copy) -> Path:
    """OUT holding exactly `sources` (its file name -> the file it is made from, by `write(source, OUT/name)`; a
    copy by default). A folder that already holds these names is left as it is (a rerun of the same command),
    any other is made anew. -> OUT."""
    if out.is_dir() and sorted(p.name for p in out.iterdir()) == sorted(sources):
        return out
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    for name, source in sources.items():
        write(source, out / name)
    return out


def shrink_photos(photos: Path, max_side: int, out: Path) -> Path:
    """OUT: every photograph of folder `photos` shrunk so that its longer side is at most `max_side` pixels (PNG,
    the same name stem; smaller ones copied as they are), the scale the runtime and the real-rain sheet derain them
    at, so that the labels' streaks and the crops have the width they have there (`fill_folder`). -> OUT."""
    from jrgr_deploy.image_files import list_images, read_rgb, shrink_to_max_side, write_rgb

    def shrink(source: Path, target: Path) -> None:
        write_rgb(target, shrink_to_max_side(read_rgb(source), max_side))

    return fill_folder(out, {f"{p.stem}.png": p for p in list_images(photos)}, shrink)


def add_proxy_real(photos: Path, proxy_real: Path, count: int, out: Path) -> list[str]:
    """OUT: the real photographs of folder `photos` beside `count` images of the quality benchmark's real split
    `proxy_real`, every (size // count)-th from the first in name order (its images come photograph by photograph,
    so the spacing spreads them over its photographs), copied as ``proxy_NAME`` (`fill_folder`). -> the proxy
    images' names, as copied."""
    from jrgr_deploy.errors import JRGRError
    from jrgr_deploy.image_files import list_images

    pool = list_images(proxy_real)
    if not 0 < count <= len(pool):
        raise JRGRError(f"--with-proxy-real {count}: the benchmark's real split '{proxy_real}' holds {len(pool)} "
                        "images; pass a count from 1 to that")
    chosen = pool[::len(pool) // count][:count]
    fill_folder(out, {p.name: p for p in list_images(photos)} | {f"proxy_{p.name}": p for p in chosen})
    return [f"proxy_{p.name}" for p in chosen]


def stage1_plan(overrides: list[str]) -> quality.Plan:
    """The quality benchmark's plan (`quality.Plan`) with the ``--set`` switches that hold for stage 1 too: the
    removal nets' size (``model.…``). The benchmark's stage-1 net is the `tiny` preset's, and a checkpoint of
    another size cannot start stage 2; the loss and training switches are stage 2's alone."""
    import quality

    return quality.Plan(net_overrides=tuple(o for o in overrides if o.startswith("model.")))


def main(argv: list[str] | None = None) -> int:
    import quality

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backgrounds", default=str(quality.DEFAULT_BACKGROUNDS),
                        help="clean photographs (default ../shared/data/backgrounds)")
    parser.add_argument("--real-rain", default=str(DEFAULT_REAL_RAIN),
                        help="real rainy photographs (default ../shared/data/real-rain)")
    parser.add_argument("--work", default=str(HERE / "work" / "default_model"), help="runs and data")
    parser.add_argument("--quality-work", default=str(HERE / "work" / "quality"),
                        help="the quality benchmark's work folder (data set and seed-0 supervised net are reused)")
    parser.add_argument("--iters", type=int, default=6000, help="joint iterations (default 6000)")
    parser.add_argument("--val-points", type=int, default=12, help="proxy validations along the way (default 12)")
    parser.add_argument("--holdout", type=int, default=18, help="real photographs kept out of training (default 18)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--real-max-side", type=int, default=0, metavar="PX",
                        help="train on the real photographs shrunk to this longer side (default 0: as they are; the "
                             "real-rain sheet and --infer-size auto derain them at about 512-600)")
    parser.add_argument("--with-proxy-real", type=int, default=0, metavar="N",
                        help="also train on N images of the quality benchmark's real split (model-B rain, no "
                             "clean; every (1000 // N)-th), beside the real photographs (default 0: photographs only)")
    parser.add_argument("--method", default="jrgr_plus",
                        choices=sorted(name for name, method in quality.METHODS.items() if method.kind == "joint"),
                        help="the quality benchmark's method trained as stage 2 (default jrgr_plus, the v2 recipe)")
    parser.add_argument("--init-from", default=None,
                        help="a checkpoint stage 2 starts from, every net it holds (default: the benchmark's "
                             "supervised stage-1 net of --seed, trained here when missing)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="a training config switch after the method's (repeatable), e.g. "
                             "model.removal.row_coord=true")
    args = parser.parse_args(argv)
    from machine import benchmark_logging

    benchmark_logging(quiet=())
    import torch

    from jrgr_deploy.errors import JRGRError
    from jrgr_deploy.training.tracing import even_marks, train_traced, val_selected_step
    from jrgr_deploy.training.trainer import STAGE1_FILE

    torch.set_num_threads(1)
    try:
        if args.real_max_side < 0 or 0 < args.real_max_side < 64:
            raise JRGRError(f"--real-max-side {args.real_max_side}: give the longer side in pixels, at least 64 "
                            "(or 0: the photographs as they are)")
        if args.init_from and not Path(args.init_from).is_file():
            raise JRGRError(f"--init-from '{args.init_from}' does not exist: pass a .safetensors checkpoint")
        from jrgr_deploy.config import JRGRConfig

        # a bad --set (alone or beside the method's switches) fails before any data is made
        JRGRConfig.from_preset("tiny").with_overrides([*quality.METHODS[args.method].overrides, *args.overrides])
        plan = stage1_plan(args.overrides)
        bench = quality.Work(Path(args.quality_work))
        backgrounds = Path(args.backgrounds)
        if not backgrounds.is_dir():
            raise JRGRError(f"backgrounds folder '{backgrounds}' does not exist: pass --backgrounds DIR")
        manifest = quality.prepare_data(bench, backgrounds, plan)
        work = Path(args.work)
        work.mkdir(parents=True, exist_ok=True)
        real = split_real_rain(Path(args.real_rain), args.holdout, args.seed, work / "real_rain")
        real_set = photos = work / "real_rain" / "train"
        if args.real_max_side:
            real_set = photos = shrink_photos(photos, args.real_max_side, work / "real_rain" /
                                              f"train_max{args.real_max_side}")
        if args.with_proxy_real:
            real_set = photos.with_name(f"{photos.name}_with_proxy{args.with_proxy_real}")
            real["proxy_real"] = add_proxy_real(photos, bench.data / "train" / "real" / "rainy", args.with_proxy_real,
                                                real_set)
        if args.init_from:  # e.g. a shipped model, continued with another recipe
            stage1 = Path(args.init_from)
        elif plan.net_overrides:  # a net of another size: its own supervised stage 1, the benchmark's plan
            stage1 = quality.train_stage1(quality._task_config(plan, bench, args.seed, "supervised"),
                                          work / "stage1", plan.stage1_iters)
        else:  # the benchmark's supervised net of this seed (trained here when the benchmark has none yet)
            quality.run_task(plan, str(bench.root), args.seed, "supervised")
            stage1 = bench.run(args.seed, "supervised") / STAGE1_FILE
        data = bench.data
        overrides = [
            # the --set switches come last, so they win over the method's; the size switches among them are
            # left out of the plan's base, so that each is recorded once
            *(o for o in plan.base_overrides(args.seed) if o not in plan.net_overrides),
            f"data.paired_rainy={data / 'train/synthetic/rainy'}",
            f"data.paired_clean={data / 'train/synthetic/clean'}", f"data.real={real_set}",
            f"train.stage2_iters={args.iters}", f"train.batch_size={plan.batch}",
            f"train.checkpoint_every={args.iters // args.val_points}", f"train.init_from={stage1}",
            *quality.METHODS[args.method].overrides, *args.overrides,
        ]
        config = JRGRConfig.from_preset("tiny").with_overrides(overrides)
        run_dir = work / args.method
        trace = train_traced(config, run_dir, "stage2", bench.pairs("val/realistic"),
                             even_marks(args.iters, args.val_points), stage1)
    except JRGRError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    step = val_selected_step(trace)
    from jrgr_deploy.training.tracing import snapshot_path

    result = {
        "command": "python benchmarks/train_default_model.py" + "".join(f" {a}" for a in (argv or sys.argv[1:])),
        "recipe": args.method, "overrides": overrides, "iters": args.iters,
        "real_rain": {"folder": str(args.real_rain), **real},
        "backgrounds": {k: v for k, v in manifest["backgrounds"].items()},
        "stage1": str(stage1), "val_trajectory": trace, "selected_step": step,
        "checkpoint": str(snapshot_path(run_dir, step)), "collapse": quality.collapse_report(trace),
    }
    name = "default_model.json" if args.method == "jrgr_plus" else f"default_model_{args.method}.json"
    (work / name).write_text(json.dumps(result, indent=1) + "\n")
    print(f"selected step {step}: {result['checkpoint']}; val PSNR-Y "
          f"{[(p['step'], p['psnr_y']) for p in trace]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
