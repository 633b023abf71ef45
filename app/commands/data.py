"""`jrgr data`: build offline JRGR data sets (`jrgr data synth`) and check data-set roots (`jrgr data show`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from jrgr_deploy.names import DEPTH_MODELS, RAIN_PRESETS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="build an offline JRGR data set, or show what a data root holds")
    actions = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    synth = actions.add_parser(
        "synth",
        help="synthesise a paired/unpaired/test data set from clean backgrounds with the two rain models",
        description=(
            "Writes train/synthetic (model A, paired), train/real (model B, unpaired, other scenes), "
            "val/realistic (model B on validation scenes), test/realistic and test/synthetic (scenes no other part "
            "saw), manifest.json "
            "and preview.png. Default backgrounds: the colour photographs scikit-image ships (offline)."
        ),
    )
    synth.add_argument("--out", required=True, type=Path, help="output folder (must be empty unless --force)")
    synth.add_argument(
        "--backgrounds",
        type=Path,
        default=None,
        help="folder of clean background images (default: scikit-image's photographs)",
    )
    synth.add_argument("--n-synthetic", type=int, default=200, help="paired model-A images (default 200)")
    synth.add_argument("--n-real", type=int, default=200, help="unpaired model-B images (default 200)")
    synth.add_argument("--n-test", type=int, default=50, help="test patches, each rendered by both models (50)")
    synth.add_argument("--n-val", type=int, default=20, help="model-B val pairs, scenes of their own (20)")
    synth.add_argument("--size", type=int, default=256, help="square patch size in pixels (default 256)")
    synth.add_argument(
        "--preset",
        default="medium",
        choices=(*RAIN_PRESETS, "mix"),
        help="rain strength; 'mix' draws one per image (default medium)",
    )
    synth.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    synth.add_argument(
        "--depth",
        default="ground_plane",
        choices=DEPTH_MODELS,
        help="scene depth behind model B's veil: the ground plane (depth by row) or a street canyon with a drawn "
        "vanishing point (depth by row and column) (default ground_plane)",
    )
    synth.add_argument(
        "--workers",
        type=int,
        default=None,
        help="rendering processes (default: usable CPU cores, at most 8; output is identical)",
    )
    synth.add_argument("--force", action="store_true", help="replace a non-empty --out folder")
    synth.add_argument("--no-preview", action="store_true", help="skip preview.png")
    synth.set_defaults(func=run_synth, needs=needs_synth)

    show = actions.add_parser("show", help="show which layout a data-set root has and how many images it holds")
    show.add_argument("root", type=Path, help="data-set root folder")
    show.add_argument("--split", default="train", help="split to look at (default train)")
    show.set_defaults(func=run_show)


def needs_synth(args: argparse.Namespace) -> dict[str, str]:
    """scikit-image's photographs are the default backgrounds; matplotlib draws preview.png."""
    modules = {} if args.backgrounds is not None else {"skimage": "train"}
    if not args.no_preview:
        modules["matplotlib"] = "train"
    return modules


def run_synth(args: argparse.Namespace) -> int:
    from jrgr_deploy.data_synth import default_workers, synthesize_dataset

    manifest = synthesize_dataset(
        args.out,
        backgrounds=args.backgrounds,
        n_synthetic=args.n_synthetic,
        n_real=args.n_real,
        n_test=args.n_test,
        n_val=args.n_val,
        size=args.size,
        preset=args.preset,
        seed=args.seed,
        force=args.force,
        workers=args.workers if args.workers is not None else default_workers(),
        preview=not args.no_preview,
        depth_model=args.depth,
    )
    print(f"wrote {manifest.parent} (manifest {manifest})")
    if not args.no_preview:
        print(f"preview: {manifest.parent / 'preview.png'}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from jrgr_deploy.pairing import resolve_root

    data = resolve_root(args.root, args.split)
    print(f"{data.root} [{args.split}]: layout {data.layout}")
    print(
        f"  pairs: {len(data.pairs)}"
        + (f"  e.g. {data.pairs[0][0].name} <-> {data.pairs[0][1].name}" if data.pairs else "")
    )
    print(f"  unpaired real rain: {len(data.unpaired)}")
    return 0
