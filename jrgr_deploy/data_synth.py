"""Build an offline JRGR data set from clean backgrounds and the two rain models (no torch).

Layout written under `out_dir` (all images size x size PNG, RGB):

    manifest.json                      seeds, models, presets, backgrounds per split, per-image parameters
    preview.png                        clean / model A / model B on a few test patches
    train/synthetic/{rainy,clean}/     model A ("synthetic" domain, paired: o_s, b_s)
    train/real/rainy/                  model B ("real" domain proxy, unpaired: o_r), other scenes
    val/realistic/{rainy,clean}/       model B with ground truth on validation scenes no other part uses
                                       (model selection)
    test/realistic/{rainy,clean}/      model B with ground truth on scenes neither train part saw
    test/synthetic/{rainy,clean}/      model A on the same test patches (to check forgetting)

Model B's scene depth (its veil and hidden drops) is the ground-plane proxy unless `depth_model` is
"street_canyon" (`rain.depth.street_canyon_depth`, geometry drawn from each image's rain seed, recorded in the
manifest). Model A never takes a depth, so its parts are the same bytes for either depth model.

Every image is drawn from its own seed derived from (seed, part, index), so the set is identical for the
same arguments whatever the number of worker processes. Everything is written into a temporary folder
next to `out_dir` and renamed at the end, so a crash leaves nothing half-written.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jrgr_deploy import __version__
from jrgr_deploy.backgrounds import Background, load_backgrounds, random_patch, split_backgrounds
from jrgr_deploy.errors import JRGRError
from jrgr_deploy.image_files import write_rgb
from jrgr_deploy.names import DEPTH_MODELS

logger = logging.getLogger(__name__)

PRESET_CHOICES = ("light", "medium", "heavy", "mix")
MODEL_A, MODEL_B = "synthetic", "realistic"

# Part codes feed the per-image seed; they must never change, or old manifests stop being reproducible.
_PART_CODES = {"train/synthetic": 1, "train/real": 2, "val/realistic": 3, "test": 4}
_DEPTH_STREAM = 5  # the street canyon's geometry: its own stream of the rain seed, so no other draw moves


@dataclass(frozen=True)
class _Job:
    part: str  # a key of _PART_CODES
    index: int
    backgrounds: str  # "synthetic" | "real" | "val" | "test": which background split to draw from


def _image_rng(seed: int, part: str, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, _PART_CODES[part], index]))


class _Renderer:
    """Renders and writes one job; lives once per worker process (backgrounds are sent once)."""

    def __init__(self, out_dir: Path, split: dict[str, list[Background]], size: int, preset: str, seed: int,
                 depth_model: str = "ground_plane") -> None:
        self.out_dir, self.split, self.size, self.preset, self.seed = out_dir, split, size, preset, seed
        self.depth_model = depth_model

    def _render(self, model: str, clean: np.ndarray, preset: str, rain_seed: int) -> tuple[np.ndarray, dict]:
        from jrgr_deploy.rain import render_rain
        from jrgr_deploy.rain.depth import street_canyon_depth

        depth, geometry = None, None
        if model == MODEL_B and self.depth_model == "street_canyon":
            rng = np.random.default_rng(np.random.SeedSequence([rain_seed, _DEPTH_STREAM]))
            depth, geometry = street_canyon_depth(clean.shape[0], clean.shape[1], rng)
        sample = render_rain(clean, model=model, preset=preset, seed=rain_seed, depth=depth)
        params = sample.params
        if geometry is not None:
            params["depth"] = {"model": self.depth_model, **geometry}
        return sample.rainy, params

    def __call__(self, job: _Job) -> list[dict]:
        rng = _image_rng(self.seed, job.part, job.index)
        backgrounds = self.split[job.backgrounds]
        background = backgrounds[job.index % len(backgrounds)]
        clean, patch = random_patch(background.image, self.size, rng)
        preset = str(rng.choice(PRESET_CHOICES[:3])) if self.preset == "mix" else self.preset
        file_name = f"{job.index:05d}.png"
        base = {"background": background.name, "patch": patch, "preset": preset}
        if job.part == "test":
            targets = [(f"test/{MODEL_B}", MODEL_B), (f"test/{MODEL_A}", MODEL_A)]
        else:
            targets = [(job.part, MODEL_A if job.part == "train/synthetic" else MODEL_B)]
        records = []
        for folder, model in targets:
            rain_seed = int(rng.integers(0, 2**31 - 1))
            rainy, params = self._render(model, clean, preset, rain_seed)
            write_rgb(self.out_dir / folder / "rainy" / file_name, rainy)
            if folder != "train/real":  # the real domain is unpaired: no ground truth is written
                write_rgb(self.out_dir / folder / "clean" / file_name, clean)
            records.append(
                {
                    "part": folder,
                    "file": file_name,
                    "model": model,
                    "rain_seed": rain_seed,
                    **base,
                    "rain_params": params,
                }
            )
        return records


_worker_renderer: _Renderer | None = None


def _init_worker(renderer: _Renderer) -> None:
    global _worker_renderer
    _worker_renderer = renderer


def _run_in_worker(job: _Job) -> list[dict]:
    assert _worker_renderer is not None
    return _worker_renderer(job)


def _jobs(n_synthetic: int, n_real: int, n_val: int, n_test: int) -> list[_Job]:
    # Test first: preview and a crash report then concern the split people look at most.
    return (
        [_Job("test", i, "test") for i in range(n_test)]
        + [_Job("train/synthetic", i, "synthetic") for i in range(n_synthetic)]
        + [_Job("train/real", i, "real") for i in range(n_real)]
        + [_Job("val/realistic", i, "val") for i in range(n_val)]
    )


def _check_target(out_dir: Path, force: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise JRGRError(f"output '{out_dir}' exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not force:
        raise JRGRError(f"output folder '{out_dir}' is not empty; pass --force to replace it")


def _replace_folder(new: Path, out_dir: Path) -> None:
    """Move the finished `new` folder to `out_dir`, replacing what was there only once `new` is complete."""
    old = None
    if out_dir.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
        out_dir.rename(old / out_dir.name)
    new.rename(out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _map(renderer: _Renderer, jobs: list[_Job], workers: int) -> Iterator[list[dict]]:
    if workers <= 1:
        yield from map(renderer, jobs)
        return
    chunk = max(1, len(jobs) // (workers * 8))
    # spawn, not fork: the parent has already run OpenCV (decoding, resizing the backgrounds), and a forked
    # child can inherit its thread pool's locks mid-use and deadlock.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(renderer,)) as pool:
        yield from pool.map(_run_in_worker, jobs, chunksize=chunk)


def write_preview(out_dir: Path, rows: int = 4) -> Path:
    """`out_dir/preview.png`: clean / model A / model B side by side on `rows` test patches,
    each rain panel titled with its input PSNR-Y (how much the rain degrades the image)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from jrgr_deploy.image_files import list_images, read_rgb
    from jrgr_deploy.metrics import psnr_y

    # Consecutive test images cycle through the test backgrounds, so the first rows show different scenes.
    names = [p.name for p in list_images(out_dir / "test" / MODEL_B / "clean")][:rows]
    columns = [
        ("clean", f"test/{MODEL_B}/clean"),
        ("model A (synthetic)", f"test/{MODEL_A}/rainy"),
        ("model B (realistic)", f"test/{MODEL_B}/rainy"),
    ]
    presets = {}
    manifest_path = out_dir / "manifest.json"
    if manifest_path.is_file():
        for record in json.loads(manifest_path.read_text())["images"]:
            presets[(record["part"], record["file"])] = record["preset"]
    figure = Figure(figsize=(3.2 * len(columns), 3.3 * len(names)), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(names), len(columns), squeeze=False)
    for row, name in enumerate(names):
        clean = read_rgb(out_dir / columns[0][1] / name)
        for column, (title, folder) in enumerate(columns):
            image = read_rgb(out_dir / folder / name)
            axis = axes[row][column]
            axis.imshow(image)
            axis.set_xticks([])
            axis.set_yticks([])
            preset = presets.get((folder.rsplit("/", 1)[0], name), "")
            label = title if column == 0 else f"{title} {preset}\nPSNR-Y {psnr_y(image, clean):.1f} dB"
            axis.set_title(f"{name}: {label}" if column == 0 else label, fontsize=9)
    figure.tight_layout()
    path = out_dir / "preview.png"
    figure.savefig(path)
    return path


def synthesize_dataset(
    out_dir: str | Path,
    backgrounds: str | Path | None = None,
    n_synthetic: int = 200,
    n_real: int = 200,
    n_test: int = 50,
    n_val: int = 20,
    size: int = 256,
    preset: str = "medium",
    seed: int = 0,
    force: bool = False,
    workers: int = 1,
    progress: bool = True,
    preview: bool = True,
    depth_model: str = "ground_plane",
) -> Path:
    """Write the data set described in the module doc under `out_dir`; returns the manifest's path.

    backgrounds: a folder of clean images (searched recursively), or None for scikit-image's photographs.
    preset: "light" | "medium" | "heavy" for every image, or "mix" for a random one per image.
    workers: processes rendering in parallel (the files are identical for any value).
    depth_model: model B's scene depth, one of names.DEPTH_MODELS (see the module doc).
    Raises JRGRError for bad arguments, a non-empty `out_dir` without `force`, or too few scenes.
    """
    from tqdm import tqdm

    out_dir = Path(out_dir)
    if preset not in PRESET_CHOICES:
        raise JRGRError(f"preset must be one of {', '.join(PRESET_CHOICES)}, got '{preset}'")
    if depth_model not in DEPTH_MODELS:
        raise JRGRError(f"depth model must be one of {', '.join(DEPTH_MODELS)}, got '{depth_model}'")
    if size < 16:
        raise JRGRError(f"patch size must be at least 16 pixels, got {size}")
    counts = {"n_synthetic": n_synthetic, "n_real": n_real, "n_test": n_test, "n_val": n_val}
    for key, value in counts.items():
        if value < 0:
            raise JRGRError(f"{key} must be >= 0, got {value}")
    if n_test < 1:
        raise JRGRError("n_test must be >= 1 (the test split holds the preview and the benchmark)")
    _check_target(out_dir, force)

    # Patches never need more than ~4x downscaling, so large wallpapers are shrunk once on load.
    loaded = load_backgrounds(backgrounds, max_short_side=4 * size)
    split = split_backgrounds(loaded, seed=seed, with_val=n_val > 0)
    parts = {"synthetic": split.synthetic, "real": split.real, "val": split.val, "test": split.test}
    logger.info("backgrounds: %s", {k: [b.name for b in v] for k, v in parts.items()})

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        renderer = _Renderer(tmp, parts, size, preset, seed, depth_model)
        jobs = _jobs(n_synthetic, n_real, n_val, n_test)
        records: list[dict] = []
        bar = tqdm(total=len(jobs), desc="data synth", unit="img", disable=not progress)
        for job_records in _map(renderer, jobs, max(1, workers)):
            records.extend(job_records)
            bar.update(1)
        bar.close()
        from jrgr_deploy.rain import REALISTIC_PRESETS, SYNTHETIC_PRESETS

        manifest = {
            "tool": "jrgr data synth",
            "version": __version__,
            "seed": seed,
            "size": size,
            "preset": preset,
            "depth_model": depth_model,
            "preset_definitions": {
                MODEL_A: {name: _plain(value) for name, value in SYNTHETIC_PRESETS.items()},
                MODEL_B: {name: _plain(value) for name, value in REALISTIC_PRESETS.items()},
            },
            "models": {
                "train/synthetic": MODEL_A,
                "train/real": MODEL_B,
                "val/realistic": MODEL_B,
                "test/realistic": MODEL_B,
                "test/synthetic": MODEL_A,
            },
            "counts": counts,
            "backgrounds": {
                "source": str(backgrounds) if backgrounds is not None else "scikit-image photographs",
                **split.names(),
            },
            "images": records,
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, default=_json_default) + "\n")
        if preview:
            write_preview(tmp)
        _replace_folder(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("wrote %d images to %s", len(records), out_dir)
    return out_dir / "manifest.json"


def _plain(value: object) -> object:
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value  # type: ignore[arg-type]


def _json_default(value: object) -> object:
    # Rain parameters may hold numpy scalars/arrays; JSON needs plain numbers and lists.
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to the manifest")


def default_workers() -> int:
    """Worker processes for `jrgr data synth`: the CPU cores this process may use, at most 8."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(8, cores))
