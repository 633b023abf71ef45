"""Test scores of every traced snapshot of `quality.py` runs beside their val curve: does a drift that the val
split shows (or hides) happen on the test split too? A diagnosis: the benchmark's rows still read only the
val-selected and the last step, and nothing is selected on test.

    python benchmarks/snapshot_scores.py --work W --seeds 0 --methods self_training_mt self_training_mt_l2sp20 \
        --name quality_6000_snapshots

W is a `quality.py --work` folder whose runs are complete; scores are cached in W/test_scores.json under the keys
`quality.py` uses, so the val-selected and last steps cost nothing twice. Writes RESULTS/NAME.json (per run and
step: test PSNR-Y of `--split` and val PSNR-Y) and RESULTS/NAME.png.
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

logger = logging.getLogger("snapshot_scores")


def snapshot_curves(work_root: Path, seeds: list[int], methods: list[str], split: str) -> dict[str, Any]:
    """{method: {seed: [{"step", "test_psnr_y", "val_psnr_y"}]}} over every snapshot of each run (step 0 is the
    stage-1 net the run started from)."""
    from quality import SPLITS, Work, test_scores

    from jrgr_deploy.config import JRGRConfig
    from jrgr_deploy.errors import JRGRError
    from jrgr_deploy.training.tracing import read_trace

    if split not in SPLITS:
        raise JRGRError(f"--split must be one of {', '.join(SPLITS)}, got '{split}'")
    work = Work(work_root)
    curves: dict[str, Any] = {}
    for method in methods:
        for seed in seeds:
            run_dir = work.run(seed, method)
            val = {p["step"]: p["psnr_y"] for p in read_trace(run_dir)}
            snapshots = sorted((run_dir / "snapshots").glob("step*.safetensors"))
            if not val or not snapshots:
                raise JRGRError(f"'{run_dir}' holds no traced run (val_trajectory.json and snapshots/ from "
                                "quality.py); check --work, --seeds and --methods")
            # step 0: the stage-1 net the run started from, under quality.py's cache key (seedN/supervised)
            init = Path(JRGRConfig.from_yaml(run_dir / "config.yaml").train.init_from)
            start = test_scores(work, init, f"{init.parent.parent.name}/{init.parent.name}")[split]["psnr_y"]
            points = [{"step": 0, "test_psnr_y": start, "val_psnr_y": val.get(0)}]
            for path in snapshots:
                step = int(path.stem.removeprefix("step"))
                scores = test_scores(work, path, f"seed{seed}/{method}/step{step}")
                points.append({"step": step, "test_psnr_y": scores[split]["psnr_y"], "val_psnr_y": val.get(step)})
                logger.info("%s seed %d step %d: test %.2f dB, val %s", method, seed, step,
                            points[-1]["test_psnr_y"], val.get(step))
            curves.setdefault(method, {})[str(seed)] = points
    return curves


def plot(curves: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for k, (method, by_seed) in enumerate(curves.items()):
        color = f"C{k}"
        for n, points in enumerate(by_seed.values()):
            steps = [p["step"] for p in points]
            ax.plot(steps, [p["test_psnr_y"] for p in points], color=color, label=f"{method}, test" if not n else None)
            ax.plot(steps, [p["val_psnr_y"] for p in points], color=color, linestyle="--",
                    label=f"{method}, val" if not n else None)
    ax.set_xlabel("step after stage 1")
    ax.set_ylabel("PSNR-Y (dB)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    from machine import benchmark_logging, machine_report

    from jrgr_deploy.errors import JRGRError

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", required=True, help="a quality.py --work folder")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--methods", nargs="+", required=True, help="quality.py rows trained in --work")
    parser.add_argument("--split", default="realistic", help="test split: realistic (model B) or synthetic (model A)")
    parser.add_argument("--results", default=str(HERE / "results"))
    parser.add_argument("--name", default="quality_snapshots", help="file name of the JSON and PNG (no suffix)")
    args = parser.parse_args(argv)
    benchmark_logging()
    try:
        curves = snapshot_curves(Path(args.work), args.seeds, args.methods, args.split)
    except JRGRError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    report = {"benchmark": "snapshot_scores", "split": f"test/{args.split}", "curves": curves,
              "command": "python benchmarks/snapshot_scores.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "machine": machine_report()}
    (results / f"{args.name}.json").write_text(json.dumps(report, indent=1) + "\n")
    plot(curves, results / f"{args.name}.png")
    print(f"wrote {results / args.name}.json and .png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
