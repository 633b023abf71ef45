"""`jrgr train`: train JRGR (stage 1 supervised pre-training, stage 2 joint training).

Also runs under torchrun (``torchrun --nproc_per_node=2 -m jrgr_deploy.training ...`` or
``torchrun ... $(which jrgr) train ...``): one process per device, gloo on CPU, NCCL on GPU.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

STAGE_CHOICES = {"1": ("stage1",), "2": ("stage2",), "all": ("stage1", "stage2")}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", default=None,
        help="preset (tiny, official, paper) or a YAML/JSON config file; default: tiny, or with --resume the "
        "run's own config.yaml",
    )
    parser.add_argument("--data", type=Path, default=None,
                        help="data-set root, e.g. the output of 'jrgr data synth' (train/synthetic, train/real)")
    parser.add_argument("--paired-rainy", type=Path, default=None, help="folder of paired synthetic rainy images")
    parser.add_argument("--paired-clean", type=Path, default=None, help="their clean ground truth (matched by name)")
    parser.add_argument("--real", type=Path, default=None, help="unpaired real rainy images (folder or video)")
    parser.add_argument("--real-clean", type=Path, default=None,
                        help="clean images of the real domain, e.g. a fixed camera's dry footage (folder or video): "
                        "D_B's real samples then show both domains' scenes")
    parser.add_argument("--out", type=Path, default=None, help="run folder: checkpoints, log.jsonl, images/")
    parser.add_argument("--stage", choices=sorted(STAGE_CHOICES), default="all",
                        help="1 = supervised pre-training, 2 = joint training, all = both (default)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out where it stopped")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set train.batch_size=8 (repeatable)")
    parser.add_argument("--max-steps", type=int, default=None,
                        help="stop each stage after this many steps in this call (checkpointed; --resume continues)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--print-config", action="store_true",
                        help="print the resolved config as YAML (a starting point for a config file) and exit")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train", help="train JRGR (stage 1 supervised pre-training, stage 2 joint training)",
        description="Train JRGR. Writes RUN_DIR/stage1.safetensors (supervised baseline), "
        "RUN_DIR/stage2.safetensors (all seven nets), log.jsonl and sample grids.",
    )
    add_arguments(parser)
    parser.set_defaults(func=run, needs=needs)


def needs(args: argparse.Namespace) -> dict[str, str]:
    """Training runs on torch, writes safetensors checkpoints and a YAML config."""
    return {"torch": "train", "safetensors": "train", "yaml": "train"}


def resolve_config(args: argparse.Namespace):
    from jrgr_deploy.config import load_config

    spec = args.config
    if spec is None:
        saved = args.out / "config.yaml" if args.out is not None else None
        spec = str(saved) if args.resume and saved is not None and saved.is_file() else "tiny"
    overrides = list(args.overrides)
    for key, value in (("root", args.data), ("paired_rainy", args.paired_rainy),
                       ("paired_clean", args.paired_clean), ("real", args.real),
                       ("real_clean", args.real_clean)):
        if value is not None:
            # JSON-quoted so that any path survives the YAML scalar parser of --set.
            import json

            overrides.append(f"data.{key}={json.dumps(str(Path(value).resolve()))}")
    return load_config(spec, overrides)


def run(args: argparse.Namespace) -> int:
    import logging
    import os

    from jrgr_deploy.errors import JRGRError
    from jrgr_deploy.stop_signals import graceful_stop
    from jrgr_deploy.training.distributed import shutdown_distributed
    from jrgr_deploy.training.trainer import train

    if int(os.environ.get("RANK", "0")) != 0:
        logging.getLogger().setLevel(logging.WARNING)
    config = resolve_config(args)
    if args.print_config:
        print(config.to_yaml(), end="")
        return 0
    if args.out is None:
        raise JRGRError("--out RUN_DIR is required (where checkpoints, log.jsonl and images go)")
    try:
        # Ctrl-C / SIGTERM: the step in hand is finished and checkpointed, then 130 / 143 (again: abort).
        with graceful_stop() as stop:
            result = train(config, args.out, stages=STAGE_CHOICES[args.stage], resume=args.resume,
                           max_steps=args.max_steps, progress=not args.no_progress, stop=stop)
    finally:
        shutdown_distributed()
    if int(os.environ.get("RANK", "0")) == 0:
        for stage in result.stages:
            state = "done" if stage.complete else f"stopped by {stage.stopped_by}" if stage.stopped_by else "stopped"
            print(f"{stage.stage}: {state} at step {stage.step}/{stage.total_steps}, "
                  f"{stage.images_per_s:.1f} images/s -> {stage.checkpoint}")
    if stop.requested and result.stages and (len(result.stages) < len(STAGE_CHOICES[args.stage])
                                             or not result.stages[-1].complete):
        last = result.stages[-1]
        print(f"jrgr train: stopped by {stop.name} after {last.stage} step {last.step}; checkpoint saved to "
              f"{last.checkpoint}; --resume continues", file=sys.stderr)
        return stop.exit_code
    return 0
