"""The project's vocabulary in one place: net names, their groups, backends and precisions.

Plain tuples and one dict, no imports: the CLI builds its `--help` choices from here without loading
torch, onnxruntime or anything else. Every other module takes these names from here.

Nets, by their names in the paper (docs/ARCHITECTURE.md, "The method"):

- removal nets F: ``f_s``, ``f_r`` map a rainy image O to its background B (synthetic / real rain);
- rain-layer nets G: ``g_s``, ``g_r`` map a rain layer R = O - B to the same rain in the other domain's
  style (``g_r``: into the real domain, ``g_s``: into the synthetic one);
- discriminators D: ``d_b`` (clean backgrounds), ``d_or`` (real rainy images), ``d_os`` (synthetic ones).

F and G together are the generator group (one optimiser, one step); the D nets the discriminator group.
The generators are also the nets `jrgr export` writes and an artefact's sidecar may name.
"""

from __future__ import annotations

REMOVAL_NETS = ("f_s", "f_r")
RAIN_LAYER_NETS = ("g_s", "g_r")
GENERATORS = REMOVAL_NETS + RAIN_LAYER_NETS
DISCRIMINATORS = ("d_b", "d_or", "d_os")
NETS = GENERATORS + DISCRIMINATORS

# Inference backends (`jrgr derain --backend`); the default is chosen by the artefact's suffix.
BACKENDS = ("onnxruntime", "onnxruntime-cuda", "onnxruntime-trt", "tensorrt", "torch")

# What `jrgr export --precision` writes (one file each). Both INT8 variants record the sidecar precision
# "int8"; the sidecar's `quantization.variant` tells them apart.
EXPORT_PRECISIONS = ("fp32", "fp16", "int8", "int8-cpu")
SIDECAR_PRECISION = {"fp32": "fp32", "fp16": "fp16", "int8": "int8", "int8-cpu": "int8"}
SIDECAR_PRECISIONS = ("fp32", "fp16", "int8")

# The two rain models of `jrgr_deploy.rain` (A: synthetic streaks + haze, B: physically based "realistic" rain)
# and their strengths.
RAIN_MODELS = ("synthetic", "realistic")
RAIN_PRESETS = ("light", "medium", "heavy")
# The scene depth model B's veil and hidden drops follow in a synthesised data set (`jrgr_deploy.rain.depth`).
DEPTH_MODELS = ("ground_plane", "street_canyon")

__all__ = [
    "BACKENDS",
    "DEPTH_MODELS",
    "DISCRIMINATORS",
    "EXPORT_PRECISIONS",
    "GENERATORS",
    "NETS",
    "RAIN_LAYER_NETS",
    "RAIN_MODELS",
    "RAIN_PRESETS",
    "REMOVAL_NETS",
    "SIDECAR_PRECISION",
    "SIDECAR_PRECISIONS",
]

# Several live cameras through one backend (`runtime/multi.py`, `jrgr derain --batch-window`): how long a round
# may wait, at most, for the cameras whose next frame is due, so that their frames share one call (ms). 0 on the
# CPU: there a call of 4 frames costs about 4 calls of one, and waiting only added latency (BENCHMARKS.md,
# "Cameras"); a backend whose batched calls are much cheaper per frame (a GPU) is where waiting pays.
BATCH_WINDOW_MS = 0.0
# ... and how many backend calls may run at once (`jrgr derain --infer-workers`, `runtime.multi.infer_worker_count`):
# "auto" is the physical cores where the backend takes concurrent calls (ONNX Runtime on the CPU, where a call of n
# frames costs about n calls of one, and two calls at once brought every frame out sooner: BENCHMARKS.md, "Cameras"),
# else 1 (one batched call at a time, what pays on a GPU).
INFER_WORKERS = "auto"
