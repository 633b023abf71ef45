"""Sizing the removal net by measurement: CPU latency of candidate F_r sizes, and `jrgr demo`'s end-to-end
throughput at each inference size.

    python benchmarks/sizing.py                       # 4 candidate nets; 640x360 + 1280x720; the demo at 4 sizes
    python benchmarks/sizing.py --quick --out /tmp/s  # CI smoke: 2 small nets, one small size, 2 iterations

Part 1, the nets. Each candidate is the `tiny` preset's removal net changed by config overrides (`--net
NAME=KEY=VALUE,...`; default: `tiny` itself — U-Net depth 4, 16 base channels, 1 extra conv per level — 24 and
32 base channels, and depth 5), built with random weights (latency does not depend on weight values),
exported by `jrgr export`'s pipeline to FP32 and to the CPU's INT8 (`int8-cpu` with the export's default
options, calibrated on a rainy clip). Per frame size, ORT CPU FP32 and INT8 of every candidate are timed
round-robin in one process (`runtime.call_latency.time_interleaved`), so their ratios hold on a shared machine;
each row gets the GFLOP per frame (`jrgr_deploy.flops`).

Part 2, end to end. `jrgr demo` (the README's main job: render a 1280x720 dash-camera clip, derain it as a
stream, write the side-by-side video) runs in its own process at each `--infer-size` (1280x720 = full, 960x540,
640x360, auto) with the default model — its fps, and its PSNR-Y gain since that model is trained — and with
every candidate's FP32 file (fps only: random weights). The demo's fps is the pipeline's throughput (frames
out / time from the first capture to the last write), what `make demo` prints.

Writes benchmarks/results/sizing.json (+ machine report, load averages), sizing.png and the "Sizing" section of
BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from latency import export_artifacts, random_checkpoint, rel, render_clip_cached  # noqa: E402
from machine import benchmark_logging, machine_report  # noqa: E402
from markdown_sections import (  # noqa: E402
    add_output_arguments,
    publish_section,
    resolve_markdown,
    run_script,
    write_results,
)

from jrgr_deploy.errors import JRGRError  # noqa: E402

logger = logging.getLogger("sizing")

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results"
DEFAULT_MARKDOWN = REPO / "BENCHMARKS.md"
DEFAULT_WORK = REPO / "benchmarks" / "work" / "sizing"
DEFAULT_NETS = (
    "tiny=",
    "w24=model.removal.base_channels=24,model.removal.max_channels=192",
    "w32=model.removal.base_channels=32,model.removal.max_channels=256",
    "d5=model.removal.depth=5,model.removal.max_channels=256",
)
QUICK_NETS = ("tiny=", "w24=model.removal.base_channels=24,model.removal.max_channels=192")
DEFAULT_SIZES = ("640x360", "1280x720")
DEFAULT_DEMO_SIZES = ("1280x720", "960x540", "640x360", "auto")
PRECISIONS = ("fp32", "int8-cpu")
DEMO_FPS_GOAL = 15.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--net", dest="nets", action="append", default=None, metavar="NAME=OVERRIDES",
                        help="a candidate: NAME=key=value,key=value (overrides of the tiny preset; 'tiny=' is the "
                             "preset itself); repeat for more (default: tiny, w24, w32, d5)")
    parser.add_argument("--sizes", nargs="+", default=list(DEFAULT_SIZES), metavar="WxH")
    parser.add_argument("--iters", type=int, default=10, help="timed rounds per size (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls per file and size (default 2)")
    parser.add_argument("--calib-frames", type=int, default=8, help="INT8 calibration frames (default 8)")
    parser.add_argument("--demo-size", default="1280x720", metavar="WxH", help="the demo clip's size")
    parser.add_argument("--demo-frames", type=int, default=48, help="the demo clip's length (default 48)")
    parser.add_argument("--demo-infer-sizes", nargs="*", default=list(DEFAULT_DEMO_SIZES), metavar="SIZE",
                        help="--infer-size values for the demo runs (WxH, auto, full); none: skip part 2")
    parser.add_argument("--demo-candidates", action=argparse.BooleanOptionalAction, default=True,
                        help="also run the demo with every candidate's FP32 file (default yes)")
    add_output_arguments(parser, "sizing", DEFAULT_OUT, DEFAULT_WORK)
    parser.add_argument("--quick", action="store_true",
                        help="CI smoke run: two small nets, one small size, 2 iterations, a 6-frame demo at two sizes")
    args = parser.parse_args(argv)
    if args.nets is None:
        args.nets = list(QUICK_NETS if args.quick else DEFAULT_NETS)
    if args.quick:
        if args.sizes == list(DEFAULT_SIZES):
            args.sizes = ["160x96"]
        args.iters, args.warmup, args.calib_frames = min(args.iters, 2), min(args.warmup, 1), 2
        if args.demo_size == "1280x720":
            args.demo_size = "192x112"
        args.demo_frames = min(args.demo_frames, 6)
        if args.demo_infer_sizes == list(DEFAULT_DEMO_SIZES):
            args.demo_infer_sizes = ["full", "96x64"]
    resolve_markdown(args, DEFAULT_MARKDOWN)
    return args


def parse_net(text: str) -> tuple[str, list[str]]:
    """'w24=model.removal.base_channels=24,model.removal.max_channels=192' -> ('w24', [overrides])."""
    name, sep, rest = text.partition("=")
    if not sep or not name.strip():
        raise JRGRError(f"--net '{text}' must look like NAME=key=value,key=value (or 'NAME=' for the tiny preset)")
    overrides = [item.strip() for item in rest.split(",") if item.strip()]
    for item in overrides:
        if "=" not in item:
            raise JRGRError(f"--net '{text}': override '{item}' must look like section.key=value")
    return name.strip(), overrides


def candidate_checkpoint(name: str, overrides: list[str], work: Path) -> Path:
    """A random-weight checkpoint of the tiny preset with `overrides` (cached under `work`)."""
    return random_checkpoint("tiny", work, overrides=tuple(overrides), name=name)


# -- part 1: the nets -------------------------------------------------------------------------------------


def measure_nets(args: argparse.Namespace, calib_video: Path) -> list[dict[str, Any]]:
    """Export every candidate, then time ORT CPU FP32 and INT8 of all of them round-robin, size by size."""
    from jrgr_deploy.checkpoint import load_checkpoint
    from jrgr_deploy.flops import count_flops
    from jrgr_deploy.frames import padded_hw, parse_wh
    from jrgr_deploy.nn.build import size_multiple
    from jrgr_deploy.runtime.backends import open_backend
    from jrgr_deploy.runtime.call_latency import bench_batch, time_interleaved

    sizes = [parse_wh(s, "--sizes") for s in args.sizes]
    nets: list[dict[str, Any]] = []
    backends: dict[tuple[str, str], Any] = {}
    try:
        for text in args.nets:
            name, overrides = parse_net(text)
            checkpoint = candidate_checkpoint(name, overrides, args.work)
            config = load_checkpoint(checkpoint).config
            multiple = int(size_multiple(config, "f_r"))
            work_hw = min(padded_hw(h, w, multiple) for w, h in sizes)
            onnx, _, accuracy = export_artifacts(checkpoint, list(PRECISIONS), args.work / f"net-{name}", calib_video,
                                                 args.calib_frames, work_hw)
            removal = config.model.removal
            nets.append({
                "name": name, "overrides": overrides, "checkpoint": str(checkpoint), "size_multiple": multiple,
                "depth": removal.depth, "base_channels": removal.base_channels, "max_channels": removal.max_channels,
                "convs_per_level": removal.convs_per_level,
                "parameters": _parameter_count(checkpoint),
                "files": {p: str(path) for p, path in onnx.items()},
                "int8_agreement_psnr_db": accuracy.get("int8-cpu", {}).get("vs_pytorch_fp32", {}).get("psnr_db"),
                "rows": [],
            })
            for precision in PRECISIONS:
                if precision in onnx:
                    backends[(name, precision)] = open_backend(onnx[precision], "onnxruntime")
        for width, height in sizes:
            calls = {}
            for (name, precision), backend in backends.items():
                batch = bench_batch(backend.input_contract, (height, width))
                calls[f"{name}/{precision}"] = (lambda b=backend, x=batch: b(x))
            logger.info("%dx%d: timing %d files round-robin, %d warm-up + %d rounds", width, height, len(calls),
                        args.warmup, args.iters)
            timings = time_interleaved(calls, warmup=args.warmup, iters=args.iters)
            load = os.getloadavg()[0]
            for net in nets:
                ph, pw = padded_hw(height, width, net["size_multiple"])
                flops = count_flops(net["files"]["fp32"], (1, 3, ph, pw)).flops
                for precision in PRECISIONS:
                    timing = timings.get(f"{net['name']}/{precision}")
                    if timing is None:
                        continue
                    summary = timing.summary()
                    net["rows"].append({
                        "frame_wh": [width, height], "input_hw": [ph, pw], "precision": precision,
                        "gflop_per_frame": round(flops / 1e9, 3), "latency_ms": summary,
                        "fps": summary["throughput_fps"], "load_average_1min": round(load, 2),
                    })
    finally:
        for backend in backends.values():
            backend.close()
    return nets


def _parameter_count(checkpoint: Path) -> int:
    from jrgr_deploy.checkpoint import load_checkpoint

    return int(sum(t.numel() for t in load_checkpoint(checkpoint).state_dicts["f_r"].values()))


# -- part 2: the demo end to end --------------------------------------------------------------------------


def run_demo_process(weights: Path | None, infer_size: str, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """`jrgr demo` in its own process (as `make demo` runs it); returns its demo.json plus the load."""
    command = [sys.executable, "-m", "jrgr_deploy", "demo", "--out", str(out), "--size", args.demo_size,
               "--frames", str(args.demo_frames), "--infer-size", infer_size]
    if weights is not None:
        command += ["--weights", str(weights)]
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        raise JRGRError(f"{shlex.join(command)} failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    result = json.loads((out / "demo.json").read_text())
    return {
        "weights": str(weights) if weights is not None else "default", "infer_size": infer_size,
        "infer_hw": result["infer_hw"], "fps": result["fps"], "psnr_y_rainy_db": result["psnr_y_rainy_db"],
        "psnr_y_derained_db": result["psnr_y_derained_db"],
        "psnr_y_gain_db": round(result["psnr_y_derained_db"] - result["psnr_y_rainy_db"], 3),
        "derain_s": result["derain_s"], "process_s": round(time.perf_counter() - started, 1),
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "command": shlex.join(["jrgr", *command[3:]]),
    }


def measure_demo(args: argparse.Namespace, nets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The demo at every --infer-size: the default model (trained: fps + PSNR-Y), then each candidate's FP32."""
    from jrgr_deploy.default_model import cpu_onnx_choice

    runs = []
    default_weights, why = cpu_onnx_choice("f_r")
    targets: list[tuple[str, Path | None]] = [("default", None)]
    if args.demo_candidates:
        targets += [(net["name"], Path(net["files"]["fp32"])) for net in nets]
    for infer_size in args.demo_infer_sizes:  # sizes outside, models inside: each size's runs are close in time
        for label, weights in targets:
            logger.info("jrgr demo, %s, --infer-size %s", label, infer_size)
            run = run_demo_process(weights, infer_size, args, args.work / "demo" / f"{label}_{infer_size}")
            run["model"] = label
            if weights is None:
                run["weights"], run["weights_why"] = str(default_weights), why
            runs.append(run)
            logger.info("  %.2f fps, PSNR-Y gain %+.2f dB", run["fps"] or 0.0, run["psnr_y_gain_db"])
    return runs


# -- outputs ----------------------------------------------------------------------------------------------


def _label(net: dict[str, Any]) -> str:
    return (f"{net['name']} (depth {net['depth']}, {net['base_channels']} ch, max {net['max_channels']}, "
            f"{net['parameters'] / 1e6:.2f} M params)")


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.2))
    for net in results["nets"]:
        for precision, marker in (("fp32", "o"), ("int8-cpu", "s")):
            rows = [r for r in net["rows"] if r["precision"] == precision]
            if rows:
                left.plot([r["gflop_per_frame"] for r in rows], [r["latency_ms"]["p50"] for r in rows],
                          marker=marker, linestyle="-" if precision == "fp32" else "--",
                          label=f"{net['name']} {precision}")
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel("GFLOP per frame (both frame sizes per net)")
    left.set_ylabel("ORT CPU latency p50 (ms)")
    left.set_title("F_r candidates: latency against work")
    left.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=7)
    models = list(dict.fromkeys(run["model"] for run in results["demo"]))
    sizes = list(dict.fromkeys(run["infer_size"] for run in results["demo"]))
    width = 0.8 / max(len(models), 1)
    for i, model in enumerate(models):
        xs, fps = [], []
        for j, size in enumerate(sizes):
            run = next((r for r in results["demo"] if r["model"] == model and r["infer_size"] == size), None)
            if run is not None and run["fps"] is not None:
                xs.append(j + (i - (len(models) - 1) / 2) * width)
                fps.append(run["fps"])
        right.bar(xs, fps, width, label=model)
    right.axhline(DEMO_FPS_GOAL, color="k", linestyle=":", label=f"goal {DEMO_FPS_GOAL:.0f} fps")
    right.set_xticks(range(len(sizes)), [f"--infer-size {s}" for s in sizes], fontsize=8)
    right.set_ylabel("jrgr demo end-to-end fps")
    right.set_title(f"jrgr demo at {results['demo_wh'][0]}x{results['demo_wh'][1]}")
    right.legend(fontsize=7)
    right.grid(axis="y", alpha=0.3)
    machine = results["machine"]
    fig.suptitle(f"{machine['cpu']} ({machine['cores']} logical CPUs), {machine['date_utc']} UTC, 1-min load "
                 f"{results['load_average']['start'][0]:.1f} -> {results['load_average']['end'][0]:.1f}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def goals(results: dict[str, Any]) -> list[str]:
    lines = []
    default_runs = [r for r in results["demo"] if r["model"] == "default"]
    for run in default_runs:
        hw = run["infer_hw"]
        ran = "full resolution" if hw is None else f"{hw[1]}x{hw[0]}"
        verdict = "met" if (run["fps"] or 0) >= DEMO_FPS_GOAL else "not met"
        lines.append(f"- `jrgr demo --infer-size {run['infer_size']}` (net at {ran}), default model: "
                     f"**{_fmt(run['fps'], 2)} fps** end to end (goal ≥ {DEMO_FPS_GOAL:.0f}: {verdict}), PSNR-Y "
                     f"{run['psnr_y_rainy_db']:.2f} → {run['psnr_y_derained_db']:.2f} dB "
                     f"({run['psnr_y_gain_db']:+.2f} dB).")
    for net in results["nets"]:
        fitting = [r["infer_size"] for r in results["demo"]
                   if r["model"] == net["name"] and (r["fps"] or 0) >= DEMO_FPS_GOAL]
        if any(r["model"] == net["name"] for r in results["demo"]):
            lines.append(f"- `{net['name']}` keeps the demo ≥ {DEMO_FPS_GOAL:.0f} fps at --infer-size: "
                         f"{', '.join(fitting) or 'none measured'}.")
    lines += _estimates(results, default_runs)
    return lines


def _p50(net: dict[str, Any], wh: tuple[int, int], precision: str) -> float | None:
    row = next((r for r in net["rows"] if tuple(r["frame_wh"]) == wh and r["precision"] == precision), None)
    return None if row is None else row["latency_ms"]["p50"]


def _estimates(results: dict[str, Any], default_runs: list[dict[str, Any]]) -> list[str]:
    """For candidates the demo did not run: the default model's (the tiny preset's) demo fps at a timed size,
    divided by the candidate's FP32 latency ratio to tiny there: a lower bound, as if the net's time were all
    of the frame time (the other stages do not grow with the net)."""
    tiny = next((net for net in results["nets"] if net["name"] == "tiny"), None)
    if tiny is None:
        return []
    lines = []
    for run in default_runs:
        hw = run["infer_hw"]
        wh = tuple(results["demo_wh"]) if hw is None else (hw[1], hw[0])
        base = _p50(tiny, wh, "fp32")
        if base is None or not run["fps"]:
            continue
        for net in results["nets"]:
            p50 = _p50(net, wh, "fp32")
            if net is tiny or p50 is None or any(r["model"] == net["name"] for r in results["demo"]):
                continue
            ratio = p50 / base
            lines.append(f"- `{net['name']}` with the net at {wh[0]}×{wh[1]}: FP32 latency {ratio:.2f}× tiny's, so "
                         f"the demo would run at ≥ {run['fps'] / ratio:.1f} fps (tiny's {run['fps']:.1f} fps ÷ "
                         f"{ratio:.2f}; a lower bound).")
    return lines


def markdown(results: dict[str, Any], png_ref: str) -> str:
    machine = results["machine"]
    libs = ", ".join(f"{k} {v}" for k, v in machine["libraries"].items())
    load = results["load_average"]
    lines = [
        f"Command: `{results['command']}` ({results['wall_s'] / 60:.1f} min). Machine: {machine['cpu']}, "
        f"{machine['cores']} logical CPUs, no GPU; Python {machine['python']}; {libs}. Date {machine['date_utc']} "
        f"UTC. 1-minute load average {load['start'][0]:.1f} at the start, {load['end'][0]:.1f} at the end (a "
        "shared machine: each row records the load after it; ratios measured in one run are what to compare).",
        "",
        "Part 1: candidate removal nets (the `tiny` preset changed by config overrides; random weights, as latency "
        "does not depend on them), exported by `jrgr export`'s pipeline to FP32 and the CPU INT8 (`int8-cpu`, the "
        f"export's default options); ORT CPU, batch 1, {results['warmup']} warm-up + {results['iters']} rounds, all "
        "files of one frame size timed round-robin.",
        "",
        "| net | overrides | frame (padded) | GFLOP/frame | FP32 p50 ms | FP32 fps | INT8 p50 ms | INT8 fps "
        "| INT8 × FP32 |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for net in results["nets"]:
        by = {}
        for row in net["rows"]:
            by.setdefault(tuple(row["frame_wh"]), {})[row["precision"]] = row
        for (w, h), rows in by.items():
            fp32, int8 = rows.get("fp32"), rows.get("int8-cpu")
            any_row = fp32 or int8
            ph, pw = any_row["input_hw"]
            ratio = (fp32["latency_ms"]["p50"] / int8["latency_ms"]["p50"]) if fp32 and int8 else None
            lines.append(
                f"| {_label(net)} | `{' '.join(net['overrides']) or '(tiny preset)'}` | {w}×{h} ({pw}×{ph}) | "
                f"{any_row['gflop_per_frame']:.1f} | {_fmt(fp32 and fp32['latency_ms']['p50'], 0)} | "
                f"{_fmt(fp32 and fp32['fps'], 1)} | {_fmt(int8 and int8['latency_ms']['p50'], 0)} | "
                f"{_fmt(int8 and int8['fps'], 1)} | {_fmt(ratio, 2)} |")
    if load["start"][0] > machine["cores"]:
        lines += ["", f"The load ({load['start'][0]:.0f} on {machine['cores']} CPUs) made absolute times here many "
                  "times slower than on an idle machine (this process got a small share of one core): compare "
                  "rows by their ratios (timed round-robin in one run)."]
    if not results["demo"]:
        lines += ["", "Part 2 (`jrgr demo` end to end) was not run in this measurement (`--demo-infer-sizes` empty).",
                  "", f"![sizing]({png_ref})", ""]
        return "\n".join(lines)
    lines += [
        "",
        f"Part 2: `jrgr demo` end to end at {results['demo_wh'][0]}×{results['demo_wh'][1]} ({results['demo_frames']} "
        "frames: render the dash-camera clip, derain it as a stream, write the side-by-side video; fps = the "
        "pipeline's throughput, what `make demo` prints), each run its own process. `default` is the shipped model "
        f"(`{rel(results['default_weights'])}`: {results['default_weights_why']}); the candidates run their FP32 "
        "file (random weights: fps only).",
        "",
        "| model | --infer-size | net ran at | fps | PSNR-Y rainy → derained (gain) | load before/after |",
        "|---|---|---|---:|---|---|",
    ]
    for run in results["demo"]:
        hw = run["infer_hw"]
        psnr = (f"{run['psnr_y_rainy_db']:.2f} → {run['psnr_y_derained_db']:.2f} ({run['psnr_y_gain_db']:+.2f} dB)"
                if run["model"] == "default" else "– (random weights)")
        lines.append(f"| {run['model']} | {run['infer_size']} | {'frame size' if hw is None else f'{hw[1]}×{hw[0]}'} | "
                     f"{_fmt(run['fps'], 2)} | {psnr} | {run['load_average_1min'][0]:.1f} / "
                     f"{run['load_average_1min'][1]:.1f} |")
    lines += ["", "#### Goals", "", *goals(results), "", f"![sizing]({png_ref})", ""]
    return "\n".join(lines)


def write_outputs(results: dict[str, Any], args: argparse.Namespace) -> None:
    png_path = args.out / f"{args.name}.png"
    plot(results, png_path)
    print(f"wrote {png_path}")
    for line in goals(results):
        print(line)
    publish_section(args.markdown, "Sizing", png_path, lambda ref: markdown(results, ref))


def main(argv: list[str] | None = None) -> int:
    benchmark_logging()
    args = parse_args(argv)
    from jrgr_deploy.frames import parse_wh

    if args.from_json is not None:
        write_outputs(json.loads(args.from_json.read_text()), args)
        return 0
    for text in args.nets:
        parse_net(text)  # a bad --net fails before any work
    started = time.perf_counter()
    args.work.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    load_start = os.getloadavg()
    from jrgr_deploy.clips import STREET_VANISHING_POINT, street_photo

    calib_w, calib_h = min(parse_wh(s, "--sizes") for s in args.sizes)
    calib = render_clip_cached(args.work / f"calib_{calib_w}x{calib_h}", (street_photo(), "bundled street photo"),
                               calib_w, calib_h, args.calib_frames + 2, seed=2, vanishing_point=STREET_VANISHING_POINT)
    nets = measure_nets(args, calib / "rainy.mp4")
    demo = measure_demo(args, nets) if args.demo_infer_sizes else []
    from jrgr_deploy.default_model import cpu_onnx_choice

    default_weights, why = cpu_onnx_choice("f_r")
    results = {
        "benchmark": "sizing",
        "command": "python benchmarks/sizing.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
        "machine": machine_report(),
        "load_average": {"start": [round(v, 2) for v in load_start],
                         "end": [round(v, 2) for v in os.getloadavg()]},
        "iters": args.iters, "warmup": args.warmup,
        "demo_wh": list(parse_wh(args.demo_size, "--demo-size")), "demo_frames": args.demo_frames,
        "default_weights": str(default_weights), "default_weights_why": why,
        "nets": nets,
        "demo": demo,
        "wall_s": round(time.perf_counter() - started, 1),
    }
    write_results(results, args)
    write_outputs(results, args)
    return 0


if __name__ == "__main__":
    run_script(main, "sizing.py")
