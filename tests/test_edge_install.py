"""The torch-free edge install: the wheel, installed with `[cpu]` into a clean virtual environment, derains.

Builds the wheel (and the editable wheel `make install` uses) with the project's build backend, with warnings
recorded as pip records them; installs `jrgr-deploy[cpu]` from the wheel into a new venv (dependencies from the
package index, as `make install` gets them); then, outside the repository: no torch, ONNX tooling, scikit-image
or matplotlib; `jrgr info` lists the default model inside that venv; `jrgr derain` (one source, and cameras from a
JSON list), `rainify`, `bench` and the demo (its street photograph is package data) run on it; commands that need
another extra stop with exit 2 naming it; the install adds at most 350 MiB on disk to the fresh venv (what the venv
holds before it, pip itself, is not the project's and changes with the Python version).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jrgr_deploy.video_files import write_video

ROOT = Path(__file__).resolve().parents[1]
VENV_BUDGET_MIB = 350
ABSENT = ("torch", "onnx", "onnxslim", "modelopt", "skimage", "matplotlib", "yaml", "safetensors")

HOOKS = """
import json, sys, warnings
sys.path.insert(0, "tools")
import build_backend
found = {}
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    found["wheel"] = build_backend.build_wheel(sys.argv[1])
    found["editable"] = build_backend.build_editable(sys.argv[2])
# what pip shows of a backend: its UserWarnings
found["warnings"] = [f"{w.category.__name__}: {w.message}" for w in caught if issubclass(w.category, UserWarning)]
print(json.dumps(found))
"""


def _copy_sources(dest: Path) -> None:
    """The files git tracks (and untracked ones it does not ignore), as a clean clone has them."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout: cannot tell the project's files from build outputs")
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


def _disk_mib(folder: Path) -> float:
    """Space the folder takes on disk (allocated blocks, as `du` counts; hard links once)."""
    seen, total = set(), 0
    for path in folder.rglob("*"):
        stat = path.lstat()
        if (stat.st_dev, stat.st_ino) in seen:
            continue
        seen.add((stat.st_dev, stat.st_ino))
        total += stat.st_blocks * 512
    return total / 2**20


def _run(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_cpu_wheel_installs_without_torch_and_derains(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")}
    src = tmp_path / "src"
    _copy_sources(src)

    built = _run([sys.executable, "-c", HOOKS, str(tmp_path / "dist"), str(tmp_path / "editable")], src, env)
    assert built.returncode == 0, built.stderr[-3000:]
    hooks = json.loads(built.stdout.strip().splitlines()[-1])
    assert hooks["warnings"] == [], hooks["warnings"]  # no package-data, metadata or editable-layout warning
    wheel = tmp_path / "dist" / hooks["wheel"]

    venv = tmp_path / "venv"
    made = _run([sys.executable, "-m", "venv", str(venv)], tmp_path, env)
    assert made.returncode == 0, made.stderr
    empty_mib = _disk_mib(venv)
    python, jrgr = venv / "bin" / "python", venv / "bin" / "jrgr"
    installed = _run([str(python), "-m", "pip", "install", "--disable-pip-version-check", f"{wheel}[cpu]"],
                     tmp_path, env, timeout=600)
    assert installed.returncode == 0, installed.stdout[-2000:] + installed.stderr[-2000:]

    work = tmp_path / "work"  # outside the repository: nothing of the source tree is importable
    work.mkdir()
    probe = _run([str(python), "-c", "import importlib.util, json; "
                  f"print(json.dumps({{m: importlib.util.find_spec(m) is not None for m in {ABSENT!r}}}))"], work, env)
    assert json.loads(probe.stdout) == dict.fromkeys(ABSENT, False), probe.stdout + probe.stderr

    info = _run([str(jrgr), "info", "--json"], work, env)
    assert info.returncode == 0, info.stderr
    report = json.loads(info.stdout)
    assert Path(report["weights_dir"]).is_relative_to(venv)  # the wheel carries the default model
    assert {"f_r", "g_r"} <= {row.get("net") for row in report["default_model"]}
    assert report["backends"]["torch"].startswith("not installed")

    rng = np.random.default_rng(0)
    write_video(work / "clip.mp4", [rng.integers(0, 256, (72, 120, 3), np.uint8) for _ in range(6)], fps=10)
    derain = _run([str(jrgr), "derain", "clip.mp4", "-o", "derained.mp4", "--stats", "stats.json", "--no-progress"],
                  work, env)
    assert derain.returncode == 0, derain.stderr[-2000:]
    stats = json.loads((work / "stats.json").read_text())
    assert stats["frames_out"] == 6 and Path(stats["run"]["weights"]).is_relative_to(venv)
    assert (work / "derained.mp4").stat().st_size > 0
    rainify = _run([str(jrgr), "rainify", "clip.mp4", "-o", "rainy", "--infer-size", "60x36", "--no-progress"],
                   work, env)
    assert rainify.returncode == 0, rainify.stderr[-2000:]
    assert len(list((work / "rainy").glob("*.png"))) == 6
    # several cameras from a JSON list, through one backend; YAML needs PyYAML, which the edge does not carry
    (work / "cams.json").write_text('{"cameras": [{"name": "front", "source": "clip.mp4"}, "rear=clip.mp4"]}')
    cams = _run([str(jrgr), "derain", "--cameras", "cams.json", "-o", "cams", "--no-progress"], work, env)
    assert cams.returncode == 0, cams.stderr[-2000:]
    assert (work / "cams" / "front.mp4").stat().st_size > 0 and (work / "cams" / "rear.mp4").stat().st_size > 0
    (work / "cams.yaml").write_text("- clip.mp4\n")
    yaml_cams = _run([str(jrgr), "derain", "--cameras", "cams.yaml", "--no-progress"], work, env)
    assert yaml_cams.returncode == 2 and "needs PyYAML (pip install pyyaml); or write it as JSON" in yaml_cams.stderr
    bench = _run([str(jrgr), "bench", report["default_model"][0]["file"], "--size", "160x96", "--iters", "2"],
                 work, env)
    assert bench.returncode == 0 and "latency ms" in bench.stdout, bench.stderr[-2000:]

    demo = _run([str(jrgr), "demo", "--out", "demo", "--frames", "3", "--size", "192x112"], work, env)
    assert demo.returncode == 0, demo.stderr[-2000:]
    assert "PSNR-Y over 3 frames" in demo.stdout and (work / "demo" / "frames.png").stat().st_size > 0

    for command, extra in ((["train", "--out", "run"], "train"), (["export", "--out", "x"], "export")):
        refused = _run([str(jrgr), *command], work, env)
        assert refused.returncode == 2, refused.stderr
        assert f"pip install 'jrgr-deploy[{extra}]'" in refused.stderr and "Traceback" not in refused.stderr

    size_mib = _disk_mib(venv)
    added_mib = size_mib - empty_mib
    print(f"edge venv: {size_mib:.1f} MiB on disk, {added_mib:.1f} MiB added to the fresh venv's {empty_mib:.1f}")
    assert added_mib <= VENV_BUDGET_MIB, (f"the [cpu] install adds {added_mib:.1f} MiB > {VENV_BUDGET_MIB} MiB to "
                                          f"a fresh venv ({size_mib:.1f} MiB in all)")
