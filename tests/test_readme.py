"""The README's recipes stay true: every command runs here, on tiny inputs, in the README's order.

Each `jrgr` line of the README is run as written in one workspace (data synth -> train -> eval -> export ->
derain -> bench -> rainify), with arguments appended where the recipe's sizes would take minutes (`TINY`: the
last value of an option wins, so the recipe's own options are all parsed and used). A line that needs what this
machine lacks (a camera, a network camera, TensorRT) must stop with exit 2 and its clear message. The
official-preset and torchrun lines take minutes on 2 cores: they run with `-m slow`. The Python example runs
too, and the main job (`jrgr demo`) on a short clip.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from jrgr_deploy.app.cli import main
from jrgr_deploy.video_files import read_video, write_video

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TINY_TRAIN = ["--set", "train.stage1_iters=2", "--set", "train.stage2_iters=2", "--set", "train.crop_size=32",
              "--set", "train.image_every=0", "--set", "train.num_threads=1", "--no-progress"]


@dataclass(frozen=True)
class Recipe:
    """How one README line runs here: appended arguments, and what it must do (exit code, a message)."""

    append: tuple[str, ...] = ()
    exit_code: int = 0
    message: str = ""  # a regular expression the error output must match (for exit 2)
    slow: bool = False


HAS_TENSORRT = importlib.util.find_spec("tensorrt") is not None

# The start of a README line -> how it runs here. Every README line must match exactly one entry.
TINY: dict[str, Recipe] = {
    "jrgr info": Recipe(),
    "jrgr data synth": Recipe(("--n-synthetic", "6", "--n-real", "6", "--n-test", "3", "--n-val", "3",
                               "--size", "48", "--no-preview", "--workers", "1")),
    "jrgr data show": Recipe(),
    "jrgr train --config tiny --data data/jrgr --out runs/tiny --resume": Recipe(tuple(TINY_TRAIN)),
    "jrgr train --config tiny": Recipe(tuple(TINY_TRAIN)),
    # the plus preset's 3-scale discriminators need crops of at least 96 pixels
    "jrgr train --config plus": Recipe((*TINY_TRAIN, "--set", "train.crop_size=96")),
    # the default model's discriminators are the plus preset's too (96-pixel crops at least)
    "jrgr adapt": Recipe(("--minutes", "6", "--frame-width", "192", "--max-frames", "60", "--set",
                          "train.crop_size=96", "--set", "train.batch_size=2"), slow=True),
    "jrgr train --config official": Recipe(("--set", "train.batch_size=2", "--set", "train.stage1_iters=1",
                                            "--set", "train.stage2_iters=1", "--set", "train.crop_size=128",
                                            "--no-progress"), slow=True),
    "torchrun": Recipe(tuple(TINY_TRAIN), slow=True),
    "jrgr eval": Recipe(),
    "jrgr export --weights runs/tiny/stage2.safetensors --nets f_r g_r": Recipe(("--calib-frames", "3",
                                                                              "--verify-frames", "2")),
    "jrgr export --weights runs/tiny/stage2.safetensors --nets f_r --out exported --format engine": (
        Recipe() if HAS_TENSORRT else Recipe(exit_code=2, message=r"pip install 'jrgr-deploy\[trt\]'")),
    "jrgr export --weights runs/tiny/stage2.safetensors --nets f_r --out triton_repo": Recipe(("--verify-frames", "1")),
    "jrgr derain 0 --show": Recipe(exit_code=2, message=r"--show needs an OpenCV build with GUI|camera 0 cannot"),
    "jrgr derain rtsp://": Recipe(exit_code=2, message=r"stream 'rtsp://192\.0\.2\.10/stream' cannot be opened"),
    "jrgr derain": Recipe(("--no-progress",)),
    # the README's 640x360 is for camera-sized frames; the recipe clip is 160x96 and a net size above the frame's is
    # refused, so the same command runs at a quarter of the clip's area (the last --infer-size wins)
    "jrgr derain drive.mp4 --weights exported/f_r.onnx --infer-size 640x360": Recipe(
        ("--no-progress", "--infer-size", "80x48")),
    # several cameras: the operator view on any free loopback port (the README's 8080 may be taken here)
    "jrgr derain front=": Recipe(("--no-progress", "--serve", "127.0.0.1:0")),
    # (and, as above, a net size within the recipe clip's 160x96)
    "jrgr derain --cameras cams.yaml": Recipe(("--no-progress", "--serve", "127.0.0.1:0", "--infer-size", "80x48")),
    "jrgr bench": Recipe(("--iters", "2", "--warmup", "1")),
    "jrgr rainify": Recipe(("--no-progress",)),
}


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def _command_lines() -> list[str]:
    lines = []
    for block in _blocks("bash"):
        for line in block.splitlines():
            command = line.split("#", 1)[0].strip()
            if command.startswith(("jrgr ", "torchrun ")):
                lines.append(command)
    return lines


def _recipe(line: str) -> Recipe:
    matches = sorted((key for key in TINY if line.startswith(key)), key=len, reverse=True)
    assert matches, f"README line without a TINY entry: {line}"
    return TINY[matches[0]]


def _params() -> list:
    return [pytest.param(line, marks=[pytest.mark.slow] if _recipe(line).slow else [], id=line[:70])
            for line in _command_lines()]


def test_readme_has_the_two_setup_commands() -> None:
    setup = _blocks("bash")[0]
    assert [line.split("#")[0].strip() for line in setup.strip().splitlines()] == ["make demo", "make test"]


def test_readme_lists_every_command_family() -> None:
    commands = {shlex.split(line)[1] for line in _command_lines() if line.startswith("jrgr ")}
    assert {"train", "adapt", "eval", "export", "derain", "rainify", "data", "bench", "info"} <= commands


def test_adapt_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["adapt", "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    for option in ("--dry", "--minutes", "--out", "--record-seconds"):
        assert option in text


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder the recipes run in, with the videos they name (drive.mp4, clean_drive.mp4)."""
    folder = tmp_path_factory.mktemp("readme")
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (96, 160, 3), np.uint8) for _ in range(5)]
    write_video(folder / "drive.mp4", frames, fps=10)
    write_video(folder / "clean_drive.mp4", frames, fps=10)
    # a fixed camera's footage for the camera recipes: 60 frames of one scene, with and without streaks
    scene = rng.integers(0, 256, (96, 160, 3), np.uint8)
    rain = [np.clip(scene + (rng.random((96, 160, 1)) < 0.02) * 120, 0, 255).astype(np.uint8) for _ in range(60)]
    write_video(folder / "cam_rain.mp4", rain, fps=10)
    write_video(folder / "cam_dry.mp4", [scene] * 60, fps=10)
    return folder


def _prepare(line: str, workspace: Path) -> None:
    """What the line needs before it: the README's data set (made by its own recipe when a `-m slow` run skipped
    that line), and the authors' folders Os/ Bs/ Ot/ for the official preset."""
    if ("data/jrgr" in line or "Os/" in line) and not line.startswith("jrgr data synth"):
        if not (workspace / "data" / "jrgr" / "manifest.json").is_file():
            (synth,) = [c for c in _command_lines() if c.startswith("jrgr data synth")]
            assert main([*shlex.split(synth)[1:], *_recipe(synth).append]) == 0
    if "--cameras cams.yaml" in line:
        cameras = "cameras:\n  - {name: front, source: drive.mp4}\n  - rear=clean_drive.mp4\n"
        (workspace / "cams.yaml").write_text(cameras)
        (workspace / "token.txt").write_text("a-long-random-token\n")
    if "--paired-rainy Os/" in line:
        folders = {"Os": "train/synthetic/rainy", "Bs": "train/synthetic/clean", "Ot": "train/real/rainy"}
        for name, source in folders.items():
            if not (workspace / name).exists():
                shutil.copytree(workspace / "data" / "jrgr" / source, workspace / name)


def _check_outputs(line: str, workspace: Path) -> None:
    """The files a recipe promises exist and hold what they should."""
    if line.startswith("jrgr data synth"):
        assert (workspace / "data/jrgr/manifest.json").is_file()
    elif line.startswith("jrgr adapt"):
        assert (workspace / "cam1" / "f_r.onnx").is_file() and (workspace / "cam1" / "before_after.png").is_file()
    elif line.startswith(("jrgr train --config tiny", "jrgr train --config plus")) or line.startswith("torchrun"):
        out = Path(shlex.split(line)[shlex.split(line).index("--out") + 1])
        assert (workspace / out / "stage2.safetensors").is_file() and (workspace / out / "log.jsonl").is_file()
    elif " --json f_r.json" in line:
        assert (workspace / "f_r.json").stat().st_size > 0
    elif line.startswith("jrgr eval --rainy drive_steady.mp4"):
        scores = json.loads((workspace / "steady_scores.json").read_text())
        assert scores["n"] == 5 and scores["flicker_y"] >= 0 and "moving_psnr_y" in scores
    elif line.startswith("jrgr export") and "--format triton" in line:
        assert (workspace / "triton_repo" / "jrgr_f_r" / "config.pbtxt").is_file()
    elif line.startswith("jrgr export") and "--format" not in line:
        written = {p.name for p in (workspace / "exported").glob("*.onnx")}
        assert {"f_r.onnx", "g_r.onnx"} <= written  # the reduced precisions are there when the gate passed them
    elif line.startswith("jrgr derain front="):
        stats = json.loads((workspace / "cams.json").read_text())
        assert stats["streams"].keys() == {"front", "rear"}
        for name in ("front", "rear"):  # replayed live (--live): a loaded machine may drop frames, never all
            stream = stats["streams"][name]
            assert stream["frames_out"] >= 1
            # a live recording keeps wall-clock time: every derained frame, plus repeats over drops
            recorded = len(read_video(workspace / "cams" / f"{name}.mp4"))
            assert recorded == stream["frames_out"] + stream["frames_duplicated"], (name, recorded, stream)
    elif line.startswith("jrgr derain drive.mp4"):
        out = shlex.split(line)[shlex.split(line).index("--output") + 1]
        frames = read_video(workspace / out)
        width = 320 if "--side-by-side" in line else 160
        assert len(frames) == 5 and frames[0].shape == (96, width, 3)
        if "--temporal" in line:  # the stabiliser ran: its own row in the latency statistics
            stats = json.loads((workspace / "steady.json").read_text())
            assert stats["stages_ms"]["temporal"]["count"] == 5 and stats["run"]["temporal"]["strength"] > 0
    elif line.startswith("jrgr rainify"):
        assert [f.shape for f in read_video(workspace / "rainy_drive.mp4")] == [(96, 320, 3)] * 5


@pytest.mark.parametrize("line", _params())
def test_readme_recipe_runs(line: str, workspace: Path, monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    recipe = _recipe(line)
    monkeypatch.chdir(workspace)
    _prepare(line, workspace)
    args = [*shlex.split(line)[1:], *recipe.append]
    if line.startswith("torchrun"):
        torchrun = Path(sys.executable).with_name("torchrun")
        done = subprocess.run([str(torchrun), *args], capture_output=True, text=True, timeout=900)
        code, err = done.returncode, done.stderr
    else:
        code, err = main(args), capsys.readouterr().err
    assert code == recipe.exit_code, f"{line}: exit {code}\n{err[-3000:]}"
    if recipe.exit_code == 2:
        assert re.search(recipe.message, err), err[-2000:]
        assert "Traceback" not in err
    else:
        _check_outputs(line, workspace)


def test_embedding_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (example,) = _blocks("python")
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    write_video(tmp_path / "rainy.mp4", [rng.integers(0, 256, (64, 96, 3), np.uint8) for _ in range(4)], fps=10)
    namespace: dict = {}
    exec(compile(example, str(README), "exec"), namespace)
    assert namespace["report"].stats["frames_out"] == 4
    assert (namespace["height"], namespace["width"]) == (64, 96)
    assert (tmp_path / "derained.mp4").stat().st_size > 0


def test_info_and_demo_run(tmp_path: Path) -> None:
    info = subprocess.run([sys.executable, "-m", "jrgr_deploy", "info"], capture_output=True, text=True, check=True)
    assert "f_r.onnx" in info.stdout
    demo = subprocess.run(
        [sys.executable, "-m", "jrgr_deploy", "demo", "--out", str(tmp_path / "demo"), "--frames", "4",
         "--size", "320x192"],
        capture_output=True, text=True,
    )
    assert demo.returncode == 0, demo.stderr[-2000:]
    assert "PSNR-Y over 4 frames" in demo.stdout and "capture->output" in demo.stdout
    for name in ("side_by_side.mp4", "frames.png", "stats.json", "demo.json"):
        assert (tmp_path / "demo" / name).stat().st_size > 0
    # the demo's default inference size: 0.3 x the clip (96x56 for 320x192), the rain layer upsampled onto it
    result = json.loads((tmp_path / "demo" / "demo.json").read_text())
    assert result["infer_hw"] == [56, 96] and "the net ran at 96x56" in demo.stdout
