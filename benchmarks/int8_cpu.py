"""INT8 F_r for the CPU: what each quantisation choice costs in deraining PSNR-Y and gains in latency.

    python benchmarks/int8_cpu.py --calib-real ../shared/data/real-rain --backgrounds ../shared/data/backgrounds
    python benchmarks/int8_cpu.py --quick --calib-real DIR --backgrounds DIR --out /tmp/q   # CI smoke

F_r (the shipped checkpoint, or --weights) is exported by `jrgr export`'s pipeline (`export_nets`) to FP32 and
to `int8-cpu` (ONNX Runtime's `quantize_static`, QDQ) once per variant, in the order the choices are usually
tried: calibration frames (synthetic model-B rainy frames, the way the shipped INT8 was calibrated, then REAL
rainy photographs), per-channel against per-tensor weights, 7-bit weights (`reduce_range`: this CPU has AVX2
and no VNNI, whose u8 x s8 pair sums saturate int16), symmetric int8 activations, the calibration method
(entropy / MinMax / percentile), and FP32 kept at the boundary (first convolution, last convolution = the
predicted rain layer, the residual subtraction O - R), then the combinations of what helped. Each variant is
judged by the export's own gate: deraining PSNR-Y of the file against FP32 PyTorch on a validation set with
ground truth (model-B rain rendered on held-out clean photographs, whole frames at 640x360); then all files are
timed against FP32 in ORT on the CPU, round-robin in one process, at 640x360 and 1280x720.

The data are arguments, never copied into the repository: --calib-real, a folder of real rainy photographs
(no ground truth needed: calibration only sees inputs); --backgrounds, clean photographs for the validation set
and the synthetic calibration frames (disjoint; the demo's bundled photograph is excluded).

Writes benchmarks/results/int8_cpu.json (+ machine report, load), int8_cpu.png and the "INT8 on the CPU"
section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from latency import rel  # noqa: E402
from machine import benchmark_logging, machine_report  # noqa: E402
from markdown_sections import (  # noqa: E402
    add_output_arguments,
    publish_section,
    resolve_markdown,
    run_script,
    write_results,
)

from jrgr_deploy.errors import JRGRError  # noqa: E402
from jrgr_deploy.export.precision import Int8CpuOptions  # noqa: E402

logger = logging.getLogger("int8_cpu")

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results"
DEFAULT_MARKDOWN = REPO / "BENCHMARKS.md"
DEFAULT_WORK = REPO / "benchmarks" / "work" / "int8_cpu"
SECTION = "INT8 on the CPU"
VAL_WH = (640, 360)
DEMO_PHOTO_NAME = "img_050"  # the demo's photograph (jrgr_deploy/assets/): never used here


@dataclass(frozen=True)
class Variant:
    """One export: calibration frames ("real" or "synthetic"), method, and the quantiser's options."""

    name: str
    what: str
    calib: str = "real"
    method: str = "entropy"
    options: Int8CpuOptions = field(default_factory=Int8CpuOptions)

    def export_flags(self) -> str:
        """The `jrgr export` options that make this file."""
        o = self.options
        flags = [f"--calib-method {self.method}", "--int8-per-channel" if o.per_channel else "--no-int8-per-channel",
                 "--int8-reduce-range" if o.reduce_range else "--no-int8-reduce-range",
                 f"--int8-activations {o.activations}", "--int8-keep-fp32 " + " ".join(o.keep_fp32)]
        if self.method == "percentile":
            flags.append(f"--int8-percentile {o.percentile}")
        return " ".join(flags).strip()


BOUNDARY = ("first-conv", "last-conv", "output")
RR_BOUNDARY = Int8CpuOptions(reduce_range=True, keep_fp32=BOUNDARY)
VARIANTS = (
    Variant("baseline", "as shipped before: synthetic model-B calibration, entropy, per-channel, u8",
            calib="synthetic"),
    Variant("real", "calibration on real rainy photographs"),
    Variant("real-per-tensor", "real, one weight scale per tensor", options=Int8CpuOptions(per_channel=False)),
    Variant("real-reduce-range", "real, 7-bit weights (no saturation on AVX2)",
            options=Int8CpuOptions(reduce_range=True)),
    Variant("real-s8-symmetric", "real, symmetric int8 activations",
            options=Int8CpuOptions(activations="int8-symmetric")),
    Variant("real-minmax", "real, MinMax calibration", method="max"),
    Variant("real-percentile", "real, percentile calibration (99.999 %)", method="percentile"),
    Variant("real-keep-first", "real, first convolution in FP32", options=Int8CpuOptions(keep_fp32=("first-conv",))),
    Variant("real-keep-last", "real, last convolution + residual subtraction in FP32",
            options=Int8CpuOptions(keep_fp32=("last-conv", "output"))),
    Variant("real-keep-boundary", "real, first + last convolution + subtraction in FP32",
            options=Int8CpuOptions(keep_fp32=BOUNDARY)),
    Variant("real-rr-boundary", "real, 7-bit weights, boundary in FP32", options=RR_BOUNDARY),
    Variant("real-rr-minmax-boundary", "real, 7-bit weights, MinMax, boundary in FP32", method="max",
            options=RR_BOUNDARY),
    Variant("real-rr-pct-boundary", "real, 7-bit weights, percentile, boundary in FP32", method="percentile",
            options=RR_BOUNDARY),
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calib-real", type=Path, default=None, metavar="DIR",
                        help="real rainy photographs (e.g. ../shared/data/real-rain); required")
    parser.add_argument("--backgrounds", type=Path, default=None, metavar="DIR",
                        help="clean photographs, searched recursively (e.g. ../shared/data/backgrounds); required")
    parser.add_argument("--weights", type=Path, default=None,
                        help="JRGR checkpoint holding f_r (default: the shipped jrgr_tiny.safetensors)")
    parser.add_argument("--variants", nargs="+", default=None, metavar="NAME",
                        help=f"variants to run (default all: {', '.join(v.name for v in VARIANTS)})")
    parser.add_argument("--val-pairs", type=int, default=24, help="validation pairs (default 24)")
    parser.add_argument("--calib-frames", type=int, default=32, help="calibration frames (default 32, as shipped)")
    parser.add_argument("--max-drop-db", type=float, default=1.0, help="the export gate (default 1.0 dB)")
    parser.add_argument("--sizes", nargs="+", default=["640x360", "1280x720"], metavar="WxH")
    parser.add_argument("--iters", type=int, default=10, help="timed rounds per size (default 10)")
    parser.add_argument("--warmup", type=int, default=2)
    add_output_arguments(parser, "int8_cpu", DEFAULT_OUT, DEFAULT_WORK)
    parser.add_argument("--quick", action="store_true",
                        help="CI smoke run: 3 variants, 4 pairs, 2 calibration frames, one small size")
    args = parser.parse_args(argv)
    if args.quick:
        args.variants = args.variants or ["baseline", "real", "real-keep-boundary"]
        args.val_pairs, args.calib_frames = min(args.val_pairs, 4), min(args.calib_frames, 2)
        args.iters, args.warmup = min(args.iters, 2), min(args.warmup, 1)
        if args.sizes == ["640x360", "1280x720"]:
            args.sizes = ["160x96"]
    resolve_markdown(args, DEFAULT_MARKDOWN)
    if args.from_json is None:
        for flag, path in (("--calib-real", args.calib_real), ("--backgrounds", args.backgrounds)):
            if path is None or not Path(path).is_dir():
                raise JRGRError(f"{flag} '{path}' is not a folder: this benchmark needs real rainy photographs "
                                "(--calib-real) and clean photographs (--backgrounds), e.g. ../shared/data/real-rain "
                                "and ../shared/data/backgrounds")
    known = {v.name for v in VARIANTS}
    unknown = [v for v in args.variants or () if v not in known]
    if unknown:
        raise JRGRError(f"--variants {' '.join(unknown)}: unknown; known: {', '.join(sorted(known))}")
    return args


# -- data ---------------------------------------------------------------------------------------------------


def clean_photos(folder: Path) -> list[Path]:
    """Every image under `folder` but the demo's photograph, sorted."""
    from jrgr_deploy.image_files import is_image_path

    return sorted(p for p in folder.rglob("*") if p.is_file() and is_image_path(p) and p.stem != DEMO_PHOTO_NAME)


@dataclass
class DataSets:
    val_rainy: Path
    val_clean: Path
    calib: dict[str, Path] = field(default_factory=dict)
    val_photos: list[str] = field(default_factory=list)


def build_data(args: argparse.Namespace) -> DataSets:
    """Validation pairs (model-B rain on every k-th photograph) and synthetic calibration frames (model-B rain
    on photographs between them), written once under the work folder."""
    from jrgr_deploy.export.frame_sets import fit_frame
    from jrgr_deploy.image_files import read_rgb, write_rgb
    from jrgr_deploy.rain import render_rain

    photos = clean_photos(args.backgrounds)
    need = args.val_pairs + args.calib_frames
    if len(photos) < need:
        raise JRGRError(f"--backgrounds '{args.backgrounds}' holds {len(photos)} photographs; {need} are needed "
                        f"({args.val_pairs} validation + {args.calib_frames} calibration)")
    picks = np.linspace(0, len(photos) - 1, need).round().astype(int)
    val_photos = [photos[i] for i in picks[::2][: args.val_pairs]]
    calib_photos = [p for p in (photos[i] for i in picks) if p not in val_photos][: args.calib_frames]
    root = args.work / f"data_{len(val_photos)}_{len(calib_photos)}"
    data = DataSets(root / "val" / "rainy", root / "val" / "clean", {"synthetic": root / "calib_synthetic",
                                                                     "real": args.calib_real},
                    [str(p.relative_to(args.backgrounds)) for p in val_photos])
    stamp = root / "photos.json"
    wanted = {"val": data.val_photos, "calib": [str(p.relative_to(args.backgrounds)) for p in calib_photos]}
    if stamp.is_file() and json.loads(stamp.read_text()) == wanted:
        return data
    presets = ("light", "medium", "heavy")
    width, height = VAL_WH
    for index, path in enumerate(val_photos):
        clean = fit_frame(read_rgb(path), height, width)
        sample = render_rain(clean, model="realistic", preset=presets[index % 3], seed=index)
        write_rgb(data.val_clean / f"{index:03d}.png", clean)
        write_rgb(data.val_rainy / f"{index:03d}.png", sample.rainy)
    for index, path in enumerate(calib_photos):
        clean = fit_frame(read_rgb(path), height, width)
        sample = render_rain(clean, model="realistic", preset=presets[index % 3], seed=1000 + index)
        write_rgb(data.calib["synthetic"] / f"{index:03d}.png", sample.rainy)
    stamp.write_text(json.dumps(wanted, indent=2))
    return data


# -- measuring ----------------------------------------------------------------------------------------------


def export_variant(variant: Variant, weights: Path, data: DataSets, args: argparse.Namespace) -> dict[str, Any]:
    """Export FP32 + this variant's int8-cpu file (every file kept: this measures, the gate's verdict is
    recorded); returns the INT8 file's path, accuracy report and the verdict of the real gate."""
    from jrgr_deploy.export.accuracy import Gate
    from jrgr_deploy.export.exporter import ExportRequest, export_nets

    out = args.work / "files" / variant.name
    request = ExportRequest(
        out_dir=out, weights=weights, nets=("f_r",), precisions=("fp32", "int8-cpu"),
        calib=data.calib[variant.calib], calib_frames=args.calib_frames, calib_method=variant.method,
        int8_cpu=variant.options, val_rainy=data.val_rainy, val_clean=data.val_clean,
        verify_frames=args.val_pairs, gate=Gate(max_drop_db=math.inf, min_psnr_db=-math.inf),
    )
    started = time.perf_counter()
    result = export_nets(request)
    reports = {precision: report for _, precision, report, _ in result.rows}
    report = reports["int8-cpu"]
    reason = Gate(max_drop_db=args.max_drop_db).check("int8-cpu", report)
    files = {f.precision: str(f.path) for f in result.files}
    quantization = next(f.info.quantization for f in result.files if f.precision == "int8-cpu")
    return {
        "variant": dataclasses.asdict(variant), "export_flags": variant.export_flags(),
        "calibration_source": quantization.get("calibration_source"), "fp32_nodes": quantization.get("fp32_nodes"),
        "files": files, "deraining": report["deraining"], "vs_pytorch_fp32": report["vs_pytorch_fp32"],
        "gate_passed": reason is None, "gate_reason": reason, "export_s": round(time.perf_counter() - started, 1),
    }


def time_variants(rows: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    """FP32 and every variant's INT8 file, round-robin per size; p50 and the ratio to FP32."""
    from jrgr_deploy.frames import parse_wh
    from jrgr_deploy.runtime.backends import open_backend
    from jrgr_deploy.runtime.call_latency import bench_batch, time_interleaved

    paths = {"fp32": rows[0]["files"]["fp32"], **{row["variant"]["name"]: row["files"]["int8-cpu"] for row in rows}}
    backends = {name: open_backend(path, "onnxruntime") for name, path in paths.items()}
    timing: dict[str, Any] = {}
    try:
        for text in args.sizes:
            width, height = parse_wh(text, "--sizes")
            calls = {}
            for name, backend in backends.items():
                batch = bench_batch(backend.input_contract, (height, width))
                calls[name] = (lambda b=backend, x=batch: b(x))
            results = time_interleaved(calls, warmup=args.warmup, iters=args.iters)
            fp32_p50 = results["fp32"].summary()["p50"]
            timing[text] = {
                "load_average_1min": round(os.getloadavg()[0], 2),
                "p50_ms": {name: round(r.summary()["p50"], 2) for name, r in results.items()},
                "speedup_vs_fp32": {name: round(fp32_p50 / r.summary()["p50"], 3) for name, r in results.items()},
            }
            logger.info("%s: %s", text, timing[text]["p50_ms"])
    finally:
        for backend in backends.values():
            backend.close()
    return timing


# -- outputs ------------------------------------------------------------------------------------------------


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results["variants"]
    size = results["sizes"][-1]
    fig, ax = plt.subplots(figsize=(9, 5.5))
    for row in rows:
        name = row["variant"]["name"]
        speed = results["timing"][size]["speedup_vs_fp32"].get(name)
        drop = row["deraining"]["drop_db"]
        ax.scatter([speed], [drop], color="tab:green" if row["gate_passed"] else "tab:red")
        ax.annotate(name, (speed, drop), fontsize=7, xytext=(4, 2), textcoords="offset points")
    ax.axhline(results["max_drop_db"], color="k", linestyle=":", label=f"gate: drop ≤ {results['max_drop_db']} dB")
    ax.axvline(1.0, color="grey", linestyle="--", label="as fast as FP32")
    ax.set_xlabel(f"speed-up over ORT CPU FP32 at {size} (p50 ratio)")
    ax.set_ylabel("deraining PSNR-Y drop vs FP32 PyTorch (dB)")
    ax.set_title("int8-cpu F_r variants (green: passes the export gate)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    machine = results["machine"]
    fig.suptitle(f"{machine['cpu']} ({machine['cores']} logical CPUs), {machine['date_utc']} UTC", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


EXPORT_DEFAULTS_VARIANT = "real"  # real frames with `jrgr export`'s default options: what ship_default_model ships


def conclusion(results: dict[str, Any]) -> list[str]:
    """The section's conclusion: which variants pass, the fastest and the most accurate of them, and where the
    export's defaults (the shipped recipe) stand, so the table's best row is not read as the shipped one."""
    rows = results["variants"]
    passing = [r for r in rows if r["gate_passed"]]
    size = results["sizes"][-1]
    speed = results["timing"][size]["speedup_vs_fp32"]

    def described(row: dict[str, Any]) -> str:
        return (f"`{row['variant']['name']}` ({row['deraining']['drop_db']:+.2f} dB, "
                f"{speed.get(row['variant']['name'], float('nan')):.2f}× FP32 at {size})")

    if not passing:
        best = min(rows, key=lambda r: r["deraining"]["drop_db"])
        return [f"- No variant passes the gate (drop ≤ {results['max_drop_db']} dB); the smallest drop is "
                f"`{best['variant']['name']}`, {best['deraining']['drop_db']:.2f} dB. No INT8 F_r is shipped."]
    fastest = max(passing, key=lambda r: speed.get(r["variant"]["name"], 0.0))
    closest = min(passing, key=lambda r: r["deraining"]["drop_db"])
    lines = [f"- {len(passing)} of {len(rows)} variants pass the gate; the fastest of them is {described(fastest)}: "
             f"`jrgr export --precision int8-cpu {fastest['export_flags']}`; the smallest drop {described(closest)}: "
             f"`jrgr export --precision int8-cpu {closest['export_flags']}`."]
    default = next((r for r in rows if r["variant"]["name"] == EXPORT_DEFAULTS_VARIANT), None)
    if default is not None:
        verdict = "passes" if default["gate_passed"] else "is refused"
        lines.append(f"- The export's default options on real frames, what `benchmarks/ship_default_model.py` ships, "
                     f"are {described(default)}: it {verdict} here.")
    return lines


def markdown(results: dict[str, Any], png_ref: str) -> str:
    machine = results["machine"]
    libs = ", ".join(f"{k} {v}" for k, v in machine["libraries"].items())
    load = results["load_average"]
    sizes = results["sizes"]
    lines = [
        f"Command: `{results['command']}` ({results['wall_s'] / 60:.1f} min). Machine: {machine['cpu']}, "
        f"{machine['cores']} logical CPUs ({results['cpu_flags']}), no GPU; {libs}. Date {machine['date_utc']} UTC. "
        f"1-minute load {load['start'][0]:.1f} at the start, {load['end'][0]:.1f} at the end.",
        "",
        f"F_r: `{rel(results['weights'])}` (sha256 {results['weights_sha256'][:12]}…). Validation: "
        f"{results['val_pairs']} model-B rainy frames at {VAL_WH[0]}×{VAL_WH[1]} with ground truth, rendered on "
        f"photographs of `{results['backgrounds']}` (every k-th, not `{DEMO_PHOTO_NAME}`); calibration: "
        f"{results['calib_frames']} frames, either real rainy photographs (`{results['calib_real']}`) or model-B "
        "rain on other photographs of the same folder (`synthetic`). Drop = deraining PSNR-Y of FP32 PyTorch − "
        f"that of the file (ONNX Runtime, the export's own check); gate: drop ≤ {results['max_drop_db']} dB. "
        f"Latency: ORT CPU, batch 1, {results['warmup']} warm-up + {results['iters']} rounds, every file and FP32 "
        "round-robin in one process; × FP32 = FP32 p50 / file p50.",
        "",
        "| variant | what | calib | drop dB | PSNR-Y dB (FP32) | PSNR vs FP32 dB | "
        + " | ".join(f"× FP32 {s}" for s in sizes) + " | gate |",
        "|---|---|---|---:|---:|---:|" + "---:|" * len(sizes) + "---|",
    ]
    fp32_ms = " / ".join(f"{results['timing'][s]['p50_ms']['fp32']:.0f} ms at {s}" for s in sizes)
    for row in results["variants"]:
        v, d = row["variant"], row["deraining"]
        speeds = " | ".join(f"{results['timing'][s]['speedup_vs_fp32'][v['name']]:.2f}" for s in sizes)
        lines.append(f"| `{v['name']}` | {row['what']} | {v['calib']} | {d['drop_db']:+.2f} | {d['psnr_y_db']:.2f} "
                     f"({d['psnr_y_db_fp32']:.2f}) | {row['vs_pytorch_fp32']['psnr_db']:.1f} | {speeds} | "
                     f"{'pass' if row['gate_passed'] else 'refused'} |")
    lines += ["", f"FP32 reference: {fp32_ms}.", "", "Each variant's `jrgr export` options:", ""]
    lines += [f"- `{row['variant']['name']}`: `{row['export_flags']}`" for row in results["variants"]]
    lines += ["", "#### Conclusion", "", *conclusion(results), "", f"![int8 cpu]({png_ref})", ""]
    return "\n".join(lines)


def write_outputs(results: dict[str, Any], args: argparse.Namespace) -> None:
    png_path = args.out / f"{args.name}.png"
    plot(results, png_path)
    print(f"wrote {png_path}")
    for line in conclusion(results):
        print(line)
    publish_section(args.markdown, SECTION, png_path, lambda ref: markdown(results, ref))


def cpu_flags() -> str:
    try:
        flags = Path("/proc/cpuinfo").read_text().split("flags", 1)[1].split("\n", 1)[0].split()
    except (OSError, IndexError):
        return "flags unknown"
    return ", ".join(f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni") if f in flags) or "no AVX2"


def main(argv: list[str] | None = None) -> int:
    benchmark_logging()
    args = parse_args(argv)
    if args.from_json is not None:
        write_outputs(json.loads(args.from_json.read_text()), args)
        return 0
    from jrgr_deploy.checkpoint import checkpoint_sha256
    from jrgr_deploy.default_model import default_checkpoint

    started = time.perf_counter()
    load_start = os.getloadavg()
    args.work.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    weights = args.weights or default_checkpoint()
    data = build_data(args)
    chosen = [v for v in VARIANTS if args.variants is None or v.name in args.variants]
    rows = []
    for variant in chosen:
        logger.info("variant %s: %s", variant.name, variant.what)
        row = export_variant(variant, weights, data, args)
        row["what"] = variant.what
        logger.info("  drop %+.3f dB (%s)", row["deraining"]["drop_db"], "pass" if row["gate_passed"] else "refused")
        rows.append(row)
    timing = time_variants(rows, args)
    results = {
        "benchmark": "int8_cpu",
        "command": "python benchmarks/int8_cpu.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
        "machine": machine_report(), "cpu_flags": cpu_flags(),
        "load_average": {"start": [round(v, 2) for v in load_start], "end": [round(v, 2) for v in os.getloadavg()]},
        "weights": str(weights), "weights_sha256": checkpoint_sha256(weights),
        "backgrounds": str(args.backgrounds), "calib_real": str(args.calib_real), "val_photos": data.val_photos,
        "val_pairs": args.val_pairs, "calib_frames": args.calib_frames, "max_drop_db": args.max_drop_db,
        "sizes": list(args.sizes), "iters": args.iters, "warmup": args.warmup,
        "variants": rows, "timing": timing, "wall_s": round(time.perf_counter() - started, 1),
    }
    write_results(results, args)
    write_outputs(results, args)
    return 0


if __name__ == "__main__":
    run_script(main, "int8_cpu.py")
