"""Many cameras through one backend: per-camera fps, latency and fairness, batched vs one process per camera.

    python benchmarks/cameras.py                         # 4 cameras, 640x360 at 10 fps, 30 s, --infer-size 320x176
    python benchmarks/cameras.py --infer-size none       # the net at full 640x360
    python benchmarks/cameras.py --quick --out /tmp/c    # smoke run: 2 cameras, 160x96, 3 s
    python benchmarks/cameras.py --compare "--infer-workers 1"   # each pair also runs the batched process so

1. Four 640x360 rainy clips at 10 fps (camera pan + zoom over four different scikit-image photographs,
   temporally consistent model-B rain, `jrgr_deploy.clips`) are rendered once.
2. Batched: ONE process, `jrgr derain cam0=clip0.mp4 ... cam3=clip3.mp4 --live --infer-size WxH --output null
   --stats S.json --serve 127.0.0.1:PORT` exactly as a user runs it: every clip replayed as a live camera at
   10 fps, the frames of all cameras batched into one backend call. Its /api/stats is polled once a second.
3. Separate: FOUR processes started together, `jrgr derain clipI.mp4 --live --infer-size WxH --output null
   --stats SI.json`, one per camera (four copies of the net, four thread pools).
4. Steps 2 and 3 run in turn, `--repeats` times (the machine is shared: alternating spreads the other jobs'
   load over both); each run's CPU time (user + system, from wait4) and the machine's whole CPU use
   (/proc/stat) are recorded.
5. A last, unmeasured batched run serves the operator view while headless Chromium takes a screenshot of
   the page with the four live tiles (skipped when `chromium` is not installed).

Goals (issue 15): every camera delivers >= 9 fps derained; each camera's capture-to-output p99 <= 2 x the
batched backend call's p50 (also reported against 2 x the run's capture-to-output p50, the other reading of
"the batched backend's p50"); each camera's share of the derained frames within 0.8-1.2 x the mean.

Writes benchmarks/results/cameras.json, cameras.png, cameras_operator_view.png and the "Cameras" section of
BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import benchmark_logging, machine_report  # noqa: E402
from markdown_sections import add_output_arguments, publish_section, resolve_markdown  # noqa: E402

from jrgr_deploy.errors import JRGRError  # noqa: E402

logger = logging.getLogger("cameras")

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results"
DEFAULT_WORK = REPO / "benchmarks" / "work" / "cameras"
DEFAULT_MARKDOWN = REPO / "BENCHMARKS.md"
JRGR = str(Path(sys.executable).with_name("jrgr"))
PHOTOS = ("rocket", "coffee", "chelsea", "astronaut")  # scikit-image's, one per camera


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, default=None, help="F_r artefact (default: the shipped model)")
    parser.add_argument("--cameras", type=int, default=4, help="number of cameras (default 4)")
    parser.add_argument("--size", default="640x360", metavar="WxH", help="camera frame size (default 640x360)")
    parser.add_argument("--fps", type=float, default=10.0, help="each camera's frame rate (default 10)")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each run (default 30)")
    parser.add_argument("--infer-size", default="320x176", metavar="WxH",
                        help="--infer-size of the runs (default 320x176; 'none': full resolution)")
    parser.add_argument("--repeats", type=int, default=2, help="batched/separate pairs (default 2)")
    parser.add_argument("--compare", action="append", default=[], metavar="OPTIONS",
                        help="each pair also runs the batched process with these `jrgr derain` options, e.g. "
                        "'--infer-workers 1 --batch-window 15' (repeatable; after the other two, in turn)")
    parser.add_argument("--clips", type=int, default=4,
                        help="distinct clips rendered (default 4, one per camera; fewer are shared round-robin)")
    add_output_arguments(parser, "cameras", DEFAULT_OUT, DEFAULT_WORK)
    parser.add_argument("--note", action="append", default=[],
                        help="a paragraph for BENCHMARKS.md under the goals (repeatable; kept in the results)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 cameras, 160x96, 3 s, one pair")
    parser.add_argument("--screenshot-only", action="store_true",
                        help="measure nothing: take the operator view's screenshot again (clips and settings of "
                             "cameras.json) and rewrite the section")
    args = parser.parse_args(argv)
    if args.quick:
        args.cameras, args.size, args.seconds, args.repeats, args.clips = 2, "160x96", 3.0, 1, 1
        args.infer_size = "none"
    # --quick reads the clips as files (every frame comes out, whatever the load), the real run as live cameras
    args.live = not args.quick
    resolve_markdown(args, DEFAULT_MARKDOWN)
    return args


def render_clips(work: Path, count: int, width: int, height: int, fps: float, frames: int) -> list[Path]:
    """`count` rainy clips (a different photograph and rain seed each), rendered once."""
    from jrgr_deploy.backgrounds import load_skimage_photos
    from jrgr_deploy.clips import ClipSpec, render_clip

    photos = {photo.name: photo for photo in load_skimage_photos()}
    names = [name for name in PHOTOS if name in photos] or sorted(photos)
    clips = []
    for index in range(count):
        name = names[index % len(names)]
        folder = work / f"clip{index}_{width}x{height}"
        wanted = {"photo": name, "width": width, "height": height, "fps": fps, "frames": frames, "seed": index}
        stamp = folder / "spec.json"
        if not (stamp.is_file() and json.loads(stamp.read_text()) == wanted and (folder / "rainy.mp4").is_file()):
            spec = ClipSpec(width=width, height=height, n_frames=frames, fps=fps, seed=index)
            render_clip(photos[name].image, folder, spec)
            stamp.write_text(json.dumps(wanted))
        clips.append(folder / "rainy.mp4")
    return clips


def weights_description(weights: Path | None) -> str:
    """The model as the Markdown names it, with the file's SHA-256 (the shipped default changes between versions)."""
    import hashlib

    from jrgr_deploy.artifact import read_sidecar
    from jrgr_deploy.runtime import Deraining

    path = Path(weights or Deraining.default_weights())
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    if weights:
        return f"{path} (sha256 {digest})"
    # the runtime's default on a CPU: f_r.onnx, or since v5 its INT8 file, which passed the export gate
    return f"the shipped default {path.name} ({read_sidecar(path).precision.upper()}, sha256 {digest})"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def machine_cpu_s() -> float:
    """CPU seconds the whole machine has spent busy (all processes, /proc/stat: user+nice+system+irq+softirq)."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:8]]
    user, nice, system, _idle, _iowait, irq, softirq = fields
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def reap(process: subprocess.Popen) -> tuple[int, float] | None:
    """(exit code, user + system CPU seconds of the process and its threads) once it has exited, else None.
    (wait4, not Popen.poll: the CPU time comes with the exit status.)"""
    pid, status, usage = os.wait4(process.pid, os.WNOHANG)
    if not pid:
        return None
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, usage.ru_utime + usage.ru_stime


def wait_cpu_s(process: subprocess.Popen, timeout_s: float) -> tuple[int, float]:
    """Wait for `process` (killed after `timeout_s`); (exit code, its CPU seconds)."""
    deadline = time.monotonic() + timeout_s
    while (done := reap(process)) is None:
        if time.monotonic() > deadline:
            process.kill()
            deadline = time.monotonic() + 30
        time.sleep(0.05)
    return done


def derain_command(sources: list[str], stats: Path, infer_size: str | None, weights: Path | None,
                   live: bool = True) -> list[str]:
    command = [JRGR, "derain", *sources, *(["--live"] if live else []), "--output", "null", "--stats", str(stats),
               "--no-progress"]  # fmt: skip
    if infer_size:
        command += ["--infer-size", infer_size]
    if weights is not None:
        command += ["--weights", str(weights)]
    return command


def get_json(url: str, timeout_s: float = 2.0) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return json.loads(response.read())
    except (OSError, ValueError):
        return None


def run_batched(clips: list[Path], work: Path, args: argparse.Namespace, tag: str,
                options: tuple[str, ...] = ()) -> dict[str, Any]:
    """One process for every camera, with the operator view (and `options` of `jrgr derain`, e.g. a batch window);
    its --stats, CPU time and polled live states."""
    stats_path = work / f"batched_{tag}.json"
    stats_path.unlink(missing_ok=True)
    port = free_port()
    command = derain_command([f"cam{i}={clip}" for i, clip in enumerate(clips)], stats_path, args.infer_arg,
                             args.weights, args.live) + ["--serve", f"127.0.0.1:{port}"]  # fmt: skip
    command += list(options)
    logger.info("batched %s: %s", tag, shlex.join(command))
    busy_before, started = machine_cpu_s(), time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    polls = []
    while (done := reap(process)) is None:
        status = get_json(f"http://127.0.0.1:{port}/api/stats")
        if status is not None:
            polls.append({"t_s": round(time.monotonic() - started, 1),
                          "states": [c["state"] for c in status["cameras"]],
                          "fps": [c["fps"] for c in status["cameras"]]})  # fmt: skip
        time.sleep(1.0)
    code, cpu_s = done
    wall_s = time.monotonic() - started
    stderr = process.stderr.read() if process.stderr else ""
    if code != 0 or not stats_path.is_file():
        raise JRGRError(f"the batched run failed (exit {code}): {stderr[-2000:]}")
    return {"command": shlex.join(command), "stats": json.loads(stats_path.read_text()), "cpu_s": round(cpu_s, 2),
            "process_wall_s": round(wall_s, 2), "machine_busy_cpu_s": round(machine_cpu_s() - busy_before, 2),
            "polls": polls}  # fmt: skip


def run_separate(clips: list[Path], work: Path, args: argparse.Namespace, tag: str) -> dict[str, Any]:
    """One process per camera, all started together; each one's --stats and CPU time."""
    paths = [work / f"separate_{tag}_cam{i}.json" for i in range(len(clips))]
    commands = [derain_command([str(clip)], path, args.infer_arg, args.weights, args.live)
                for clip, path in zip(clips, paths, strict=True)]
    for path in paths:
        path.unlink(missing_ok=True)
    logger.info("separate %s: %d x %s", tag, len(commands), shlex.join(commands[0]))
    busy_before, started = machine_cpu_s(), time.monotonic()
    processes = [subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for c in commands]
    results = [wait_cpu_s(process, args.seconds * 4 + 120) for process in processes]
    wall_s = time.monotonic() - started
    streams = {}
    for index, ((code, _), process, path) in enumerate(zip(results, processes, paths, strict=True)):
        if code != 0 or not path.is_file():
            stderr = process.stderr.read() if process.stderr else ""
            raise JRGRError(f"separate process {index} failed (exit {code}): {stderr[-2000:]}")
        streams[f"cam{index}"] = json.loads(path.read_text())
    return {"command": shlex.join(commands[0]) + f"  (x{len(commands)}, one per camera)", "streams": streams,
            "cpu_s": round(sum(cpu for _, cpu in results), 2), "process_wall_s": round(wall_s, 2),
            "machine_busy_cpu_s": round(machine_cpu_s() - busy_before, 2)}  # fmt: skip


def screenshot(clips: list[Path], work: Path, out_png: Path, args: argparse.Namespace) -> dict[str, Any] | None:
    """A batched run serving the operator view; headless Chromium's screenshot once every camera is live. The
    clips are read as files here (every frame, as fast as the backend goes), so the cameras stay live for as
    long as the screenshot takes whatever the machine's load."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        logger.warning("no chromium: no screenshot of the operator view (apt-get install chromium)")
        return None
    port = free_port()
    command = derain_command([f"cam{i}={clip}" for i, clip in enumerate(clips)], work / "screenshot_stats.json",
                             args.infer_arg, args.weights, live=False) + ["--serve", f"127.0.0.1:{port}"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/"
    done = None
    try:
        deadline, status = time.monotonic() + 120, None
        while time.monotonic() < deadline and (done := reap(process)) is None:
            status = get_json(url + "api/stats")
            if status and all(c["state"] == "live" and c["frames_out"] >= 3 for c in status["cameras"]):
                break
            time.sleep(0.5)
        else:
            stderr = process.stderr.read()[-1000:] if done is not None and process.stderr else ""
            raise JRGRError(f"the operator view's cameras did not all go live: {status} {stderr}")
        size = "1280,720" if len(clips) <= 4 else "1280,1100"
        shot = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                               f"--user-data-dir={work / 'chromium-profile'}", f"--window-size={size}",
                               "--timeout=5000", f"--screenshot={out_png}", url],
                              capture_output=True, text=True, timeout=180)  # fmt: skip
        if shot.returncode != 0 or not out_png.is_file():
            raise JRGRError(f"chromium failed: {shot.stderr[-2000:]}")
        png = out_png.relative_to(REPO) if out_png.is_relative_to(REPO) else out_png  # --out may be elsewhere
        return {"command": shlex.join(command), "url": url, "png": str(png), "stats_at_shot": status}
    except JRGRError as error:
        logger.warning("no screenshot of the operator view: %s", error)
        return {"error": str(error)}
    finally:
        if done is None and reap(process) is None:
            os.kill(process.pid, signal.SIGTERM)  # finishes cleanly, as a container stop
            wait_cpu_s(process, 60)


# -- summary ------------------------------------------------------------------------------------------------
def batched_summary(batched: dict[str, Any]) -> dict[str, Any]:
    """A batched run's per-camera numbers and totals."""
    streams = batched["stats"]["streams"]
    total = batched["stats"]["total"]
    outs = {name: s["frames_out"] for name, s in streams.items()}
    mean_out = sum(outs.values()) / len(outs)
    cameras = {name: {"fps": s["throughput_fps"], "frames_out": s["frames_out"],
                      "frames_captured": s["frames_captured"], "dropped": s["frames_dropped"],
                      "c2o_p50_ms": s["capture_to_output_ms"]["p50"], "c2o_p99_ms": s["capture_to_output_ms"]["p99"],
                      "share": round(outs[name] / mean_out, 3) if mean_out else None}
               for name, s in streams.items()}  # fmt: skip
    frames = sum(outs.values())
    window = re.search(r"--batch-window (\S+)", batched["command"])
    workers = re.search(r"--infer-workers (\d+)", batched["command"])
    return {"cameras": cameras, "backend_p50_ms": total["batches"]["infer_ms"]["p50"],
            "batch_window_ms": float(window.group(1)) if window else None,
            "infer_workers": int(workers.group(1)) if workers else 1,
            "c2o_total_ms": {q: total["capture_to_output_ms"][q] for q in ("p50", "p99")},
            "mean_batch": total["batches"]["mean_size"], "batch_sizes": total["batches"]["sizes"],
            "total_fps": round(sum(c["fps"] or 0 for c in cameras.values()), 2),
            "frames_out": frames, "cpu_s": batched["cpu_s"],
            "cpu_ms_per_frame": round(batched["cpu_s"] * 1e3 / frames, 1) if frames else None,
            "machine_busy_cpu_s": batched["machine_busy_cpu_s"], "wall_s": batched["process_wall_s"]}  # fmt: skip


def summarise(runs: list[dict[str, Any]], seconds: float, fps: float) -> dict[str, Any]:
    """Per-camera numbers and the goals of every batched run, and batched vs separate totals."""
    rows = []
    for pair in runs:
        separate = pair["separate"]
        sep_streams = separate["streams"]
        sep_cameras = {name: {"fps": s["throughput_fps"], "frames_out": s["frames_out"],
                              "dropped": s["frames_dropped"], "c2o_p50_ms": s["capture_to_output_ms"]["p50"],
                              "c2o_p99_ms": s["capture_to_output_ms"]["p99"],
                              "infer_p50_ms": s["stages_ms"]["infer"]["p50"]}
                       for name, s in sep_streams.items()}  # fmt: skip
        frames_s = sum(s["frames_out"] for s in sep_streams.values())
        rows.append({
            "batched": batched_summary(pair["batched"]),
            "variants": [{**batched_summary(run), "options": run["options"]} for run in pair.get("variants", [])],
            "separate": {"cameras": sep_cameras,
                         "total_fps": round(sum(c["fps"] or 0 for c in sep_cameras.values()), 2),
                         "frames_out": frames_s, "cpu_s": separate["cpu_s"],
                         "cpu_ms_per_frame": round(separate["cpu_s"] * 1e3 / frames_s, 1) if frames_s else None,
                         "machine_busy_cpu_s": separate["machine_busy_cpu_s"], "wall_s": separate["process_wall_s"]},
        })  # fmt: skip
    return {"offered_fps_per_camera": fps, "seconds": seconds, "pairs": rows}


def goal_lines(summary: dict[str, Any]) -> list[str]:
    lines = []
    met = lambda ok: "met" if ok else "**not met**"  # noqa: E731
    for number, pair in enumerate(summary["pairs"], 1):
        cams = pair["batched"]["cameras"]
        fps = [c["fps"] or 0.0 for c in cams.values()]
        shares = [c["share"] for c in cams.values()]
        lines.append(f"- Run {number}, every camera >= 9 fps derained: {', '.join(f'{v:.2f}' for v in fps)} fps — "
                     f"{met(min(fps) >= 9)}.")
        base = pair["batched"]["c2o_total_ms"]
        for run in (pair["batched"], *pair["variants"]):
            p99 = [c["c2o_p99_ms"] for c in run["cameras"].values()]
            limit, c2o = 2 * run["backend_p50_ms"], run["c2o_total_ms"]
            label = f"Run {number}" + (f" with `{run['options']}`" if "options" in run else "")
            line = (f"- {label}, capture-to-output p99 <= 2 x its backend call p50 ({limit:.0f} ms): "
                    f"{', '.join(f'{v:.0f}' for v in p99)} ms — {met(max(p99) <= limit)} (worst "
                    f"{max(p99) / run['backend_p50_ms']:.1f} x); against 2 x all cameras' capture-to-output p50 "
                    f"({2 * c2o['p50']:.0f} ms): {met(max(p99) <= 2 * c2o['p50'])} "
                    f"(worst {max(p99) / c2o['p50']:.1f} x)")
            if "options" in run:
                line += (f"; {run['mean_batch']:.2f} frames per call; all cameras' capture-to-output p50 / p99 "
                         f"{c2o['p50']:.1f} / {c2o['p99']:.1f} ms against {base['p50']:.1f} / {base['p99']:.1f} ms "
                         f"in the default run; CPU {run['cpu_ms_per_frame']} against "
                         f"{pair['batched']['cpu_ms_per_frame']} ms per frame")
            lines.append(line + ".")
        lines.append(f"- Run {number}, shares of the derained frames (each / mean): "
                     f"{', '.join(f'{v:.2f}' for v in shares)} — {met(min(shares) >= 0.8 and max(shares) <= 1.2)}.")
    return lines


def plot(results: dict[str, Any], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pairs = results["summary"]["pairs"]
    fig, axes = plt.subplots(1, 3, figsize=(16, 5.5))
    names = list(pairs[0]["batched"]["cameras"])
    kinds = ["one process", *(f"one process {run['options']}" for run in pairs[0]["variants"]), "separate"]
    shades = dict(zip(kinds, ["tab:blue", "tab:green", "tab:purple", "tab:red", "tab:brown", "tab:pink"], strict=False))
    shades["separate"] = "tab:orange"
    width = 0.8 / (len(kinds) * len(pairs))
    for index, pair in enumerate(pairs):
        for position, (kind, run) in enumerate(zip(kinds, (pair["batched"], *pair["variants"], pair["separate"]),
                                                   strict=True)):  # fmt: skip
            offset = (len(kinds) * index + position) * width - 0.4 + width / 2
            fps = [run["cameras"][n]["fps"] or 0 for n in names]
            axes[0].bar([i + offset for i in range(len(names))], fps, width, color=shades[kind],
                        alpha=1 - 0.35 * index, label=f"{kind}, run {index + 1}")  # fmt: skip
            p99 = [run["cameras"][n]["c2o_p99_ms"] for n in names]
            axes[1].bar([i + offset for i in range(len(names))], p99, width, color=shades[kind], alpha=1 - 0.35 * index)
        axes[1].axhline(2 * pair["batched"]["backend_p50_ms"], color="tab:blue", ls="--", lw=1,
                        label=f"2 x one process's backend call p50, run {index + 1}")  # fmt: skip
    axes[0].axhline(9, color="k", ls="--", lw=1, label="goal 9 fps")
    axes[0].axhline(results["summary"]["offered_fps_per_camera"], color="grey", ls=":", lw=1, label="camera fps")
    for axis, title in ((axes[0], "derained fps per camera"), (axes[1], "capture-to-output p99 (ms)")):
        axis.set_xticks(range(len(names)), names)
        axis.set_title(title)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=5, fontsize=7)
    axes[1].legend(fontsize=7, loc="lower right")
    labels = [f"{kind}, run {i + 1}" for i in range(len(pairs)) for kind in kinds]
    cpu = [run["cpu_ms_per_frame"] or 0 for pair in pairs
           for run in (pair["batched"], *pair["variants"], pair["separate"])]  # fmt: skip
    positions = list(range(len(cpu)))[::-1]  # the first run on top
    axes[2].barh(positions, cpu, color=[shades[kind] for kind in kinds] * len(pairs))
    for position, label in zip(positions, labels, strict=True):
        axes[2].text(0.3, position, label, va="center", fontsize=7, color="black")
    axes[2].set_yticks([])
    axes[2].set_title("CPU ms per derained frame (all processes)")
    fig.suptitle(f"{len(names)} cameras {results['size']} at {results['summary']['offered_fps_per_camera']:g} fps, "
                 f"--infer-size {results['infer_size'] or 'none'}; load average {results['load_average']['start'][0]}"
                 f" -> {results['load_average']['end'][0]} (shared 2-core machine)")  # fmt: skip
    fig.tight_layout(rect=(0, 0.1, 1, 1))  # the legend below the panels
    fig.savefig(png, dpi=110)
    plt.close(fig)


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


def one_process_label(number: int, run: dict[str, Any]) -> str:
    """A one-process run's name in the tables: `one process N`, with its extra options when it has any."""
    return f"one process {number}" + (f", `{run['options']}`" if "options" in run else "")


def rel_command(command: str) -> str:
    return command.replace(str(REPO) + "/", "")


def markdown(results: dict[str, Any], png_ref: str) -> str:
    m = results["machine"]
    libs = ", ".join(f"{k} {v}" for k, v in m["libraries"].items())
    summary = results["summary"]
    replay = ("each replayed as a live camera (`--live`: frames released at the clip's rate, newest-frame policy)"
              if results.get("live", True) else "read as files (every frame; a smoke run)")
    lines = [
        f"Command: `{results['command']}` ({results['elapsed_min']:.1f} min). Machine: {m['cpu']}, {m['cores']} "
        f"logical CPUs; {libs}; {m['date_utc']} UTC. Load average {results['load_average']['start'][0]} → "
        f"{results['load_average']['end'][0]} (1-minute; at the start it is what else ran: a shared machine, so "
        "compare rows of one run, and absolute times only with the load beside them).",
        "",
        f"Cameras: {results['cameras']} cameras, {results['size']} at {summary['offered_fps_per_camera']:g} fps, "
        f"playing {len(set(results['clips']))} distinct rendered clip(s) (model-B rain), {replay} "
        f"for {summary['seconds']:g} s; `--infer-size {results['infer_size'] or 'none'}`; model {results['weights']}. "
        f"One process (its default `--infer-workers auto`: one backend call per physical core at once, a frame "
        f"each, on this CPU): `{results['batched_command']}`. "
        f"Separate: `{results['separate_command']}`. Each pair ran one process first, then separate"
        + "".join(f", then one process with `{run['options']}`" for run in summary["pairs"][0]["variants"]) + ".",
        "",
        "| run | camera | derained fps | frames out / captured | dropped | c2o p50 ms | c2o p99 ms | share |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for number, pair in enumerate(summary["pairs"], 1):
        for run in (pair["batched"], *pair["variants"]):
            for name, c in run["cameras"].items():
                lines.append(f"| {one_process_label(number, run)} | {name} | {c['fps'] or 0:.2f} | "
                             f"{c['frames_out']} / {c['frames_captured']} | {c['dropped']} | {_ms(c['c2o_p50_ms'])} | "
                             f"{_ms(c['c2o_p99_ms'])} | {c['share']:.2f} |")  # fmt: skip
        for name, c in pair["separate"]["cameras"].items():
            lines.append(f"| separate {number} | {name} | {c['fps'] or 0:.2f} | {c['frames_out']} | {c['dropped']} | "
                         f"{_ms(c['c2o_p50_ms'])} | {_ms(c['c2o_p99_ms'])} | – |")  # fmt: skip
    lines += ["", "| run | total derained fps | CPU s (processes) | CPU ms per frame | machine busy CPU s | backend |",
              "|---|---:|---:|---:|---:|---|"]
    for number, pair in enumerate(summary["pairs"], 1):
        s = pair["separate"]
        for w in (pair["batched"], *pair["variants"]):
            lines.append(f"| {one_process_label(number, w)} | {w['total_fps']:.2f} | {w['cpu_s']:.1f} | "
                         f"{w['cpu_ms_per_frame']} | {w['machine_busy_cpu_s']:.0f} | p50 {w['backend_p50_ms']:.1f} "
                         f"ms per call, {w['mean_batch']:.2f} frames per call, sizes {w['batch_sizes']} |")
        infer = [c["infer_p50_ms"] for c in s["cameras"].values()]
        lines.append(f"| separate {number} | {s['total_fps']:.2f} | {s['cpu_s']:.1f} | {s['cpu_ms_per_frame']} | "
                     f"{s['machine_busy_cpu_s']:.0f} | 4 processes, infer p50 {min(infer):.1f}–{max(infer):.1f} ms |")
    for number, pair in enumerate(summary["pairs"], 1):
        b, s = pair["batched"], pair["separate"]
        busy_b, busy_s = b["machine_busy_cpu_s"] / b["wall_s"], s["machine_busy_cpu_s"] / s["wall_s"]
        lines += ["", f"CPU shares in pair {number}: the one process used {b['cpu_s'] / b['wall_s']:.0%} of one "
                  f"core over its {b['wall_s']:.0f} s, the four separate processes {s['cpu_s'] / s['wall_s']:.0%} "
                  f"together over {s['wall_s']:.0f} s, while the machine had {busy_b:.1f} and "
                  f"{busy_s:.1f} of its 2 cores busy. On a saturated machine each process "
                  "gets a scheduler share, so four processes get up to four shares: there the fps comparison measures "
                  "shares rather than efficiency. CPU ms per frame includes each process's start-up (imports, model "
                  "load) and decoding every captured frame, dropped ones too; with few frames out these dominate."]
    lines += ["", "#### Goals", "", *goal_lines(summary)]
    lines += ["- One process vs separate (same run, same load): total derained fps and CPU per frame in the second "
              "table."]
    for number, pair in enumerate(summary["pairs"], 1):  # what one camera alone gives, with nothing to wait for
        ratios = [c["c2o_p99_ms"] / c["infer_p50_ms"] for c in pair["separate"]["cameras"].values()]
        lines.append(f"- Run {number}, separate processes (one camera each, no other camera's frame to wait for): "
                     f"capture-to-output p99 {min(ratios):.1f}–{max(ratios):.1f} x their own backend call p50.")
    for note in results.get("notes", []):
        lines += ["", note]
    lines += ["", f"![cameras]({png_ref})"]
    shot = results.get("screenshot")
    if shot and "error" in shot:
        lines += ["", f"No screenshot of the operator view in this run: {shot['error']}"]
    elif shot:
        lines += ["", "The operator view during a batched run (`--serve`; headless Chromium's screenshot, taken by the "
                  "script once every camera was live; for it the clips are read as files, every frame, so the "
                  f"tiles stay live however slow the machine is): `{rel_command(shot['command'])}`", "",
                  f"![operator view]({Path(png_ref).with_name(Path(shot['png']).name)})"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    benchmark_logging()
    args.out.mkdir(parents=True, exist_ok=True)
    png = args.out / f"{args.name}.png"
    if args.from_json is not None:
        results = json.loads(args.from_json.read_text())
    elif args.screenshot_only:
        results = json.loads((args.out / f"{args.name}.json").read_text())
        args.infer_arg, args.weights = results["infer_size"], Path(results["weights_path"]) if results.get(
            "weights_path") else None
        args.work.mkdir(parents=True, exist_ok=True)
        clips = [Path(clip) for clip in results["clips"]]
        results["screenshot"] = screenshot(clips, args.work, args.out / "cameras_operator_view.png", args)
        (args.out / f"{args.name}.json").write_text(json.dumps(results, indent=2) + "\n")
    else:
        from jrgr_deploy.frames import parse_wh

        width, height = parse_wh(args.size, "--size")
        args.infer_arg = None if args.infer_size.lower() == "none" else args.infer_size
        args.work.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        load_start = os.getloadavg()
        rendered = render_clips(args.work, min(args.clips, args.cameras), width, height, args.fps,
                                int(round(args.seconds * args.fps)))
        clips = [rendered[index % len(rendered)] for index in range(args.cameras)]
        runs = []
        for repeat in range(args.repeats):
            batched = run_batched(clips, args.work, args, f"run{repeat + 1}")
            separate = run_separate(clips, args.work, args, f"run{repeat + 1}")
            runs.append({"batched": batched, "separate": separate})
            runs[-1]["variants"] = [
                {**run_batched(clips, args.work, args, f"run{repeat + 1}_variant{index + 1}", tuple(options.split())),
                 "options": options}
                for index, options in enumerate(args.compare)
            ]  # fmt: skip
        shot = None if args.quick else screenshot(clips, args.work, args.out / "cameras_operator_view.png", args)
        results = {
            "machine": machine_report(),
            "command": "python " + shlex.join(["benchmarks/cameras.py", *(argv if argv is not None else sys.argv[1:])]),
            "elapsed_min": round((time.monotonic() - started) / 60, 2),
            "load_average": {"start": [round(v, 2) for v in load_start],
                             "end": [round(v, 2) for v in os.getloadavg()]},
            "cameras": args.cameras, "size": args.size, "infer_size": args.infer_arg,
            "weights": weights_description(args.weights), "live": args.live,
            "clips": [str(clip) for clip in clips],
            "weights_path": str(args.weights) if args.weights else None,
            "batched_command": runs[0]["batched"]["command"].replace(str(REPO) + "/", ""),
            "separate_command": runs[0]["separate"]["command"].replace(str(REPO) + "/", ""),
            "runs": runs, "screenshot": shot, "notes": args.note,
            "summary": summarise(runs, args.seconds, args.fps),
        }  # fmt: skip
        (args.out / f"{args.name}.json").write_text(json.dumps(results, indent=2) + "\n")
    if args.note and args.from_json is not None:  # notes written after the measurement are kept with it
        results["notes"] = args.note
        args.from_json.write_text(json.dumps(results, indent=2) + "\n")
    plot(results, png)
    print("\n".join(goal_lines(results["summary"])))
    publish_section(args.markdown, "Cameras", png, lambda ref: markdown(results, ref))
    return 0


if __name__ == "__main__":
    sys.exit(main())
