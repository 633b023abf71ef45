#!/usr/bin/env bash
# One command for a machine with an NVIDIA GPU: environment report, the CUDA/TensorRT tests, and the latency
# benchmark on the GPU backends, all written under RESULTS_DIR.
#
#   benchmarks/gpu_check.sh RESULTS_DIR
#
# Steps (each one says OK / SKIPPED (why) / FAILED and the script goes on with the rest):
#   1. environment: nvidia-smi, nvcc, OS, Python                          -> RESULTS_DIR/environment.txt
#   2. install (GPU found): a venv (benchmarks/work/venv-gpu, or $JRGR_GPU_VENV) with `pip install -e '.[gpu,export]' pytest`
#      plus `[trt]` when TensorRT installs; exactly one of onnxruntime / onnxruntime-gpu is kept (both own
#      the `onnxruntime` module). No GPU: nothing is installed, the current environment is used as is.
#      JRGR_GPU_PYTHON=/path/to/python skips the install and uses that interpreter (e.g. an NGC container); it needs
#      what [train] and, for the ONNX rows, [export]'s onnx + onnxslim bring (the latency step fails without them).
#   3. library report: torch (+CUDA), onnxruntime providers, tensorrt, cuda-python -> RESULTS_DIR/environment.txt
#   4. tests: `pytest -m gpu -rs` (CUDA/TensorRT tests; skipped with their reason when a part is missing)
#                                                                       -> RESULTS_DIR/pytest_gpu.{log,xml}
#   5. latency: benchmarks/latency.py --backends gpu (PyTorch CUDA FP32/FP16 + CUDA graphs, ORT CUDA and
#      TensorRT EPs, native TensorRT), plus the CPU FP32 rows for reference -> RESULTS_DIR/latency_gpu.{json,png,log}
#      and RESULTS_DIR/BENCHMARKS_gpu.md (its table, for the GPU section of BENCHMARKS.md)
#   6. summary                                                          -> RESULTS_DIR/summary.txt
# Exit status: 0 when no step FAILED (SKIPPED is not a failure), 1 otherwise, 2 on bad usage.

set -u -o pipefail

usage() { echo "usage: $0 RESULTS_DIR   (see the header of this script)" >&2; exit 2; }
[ $# -eq 1 ] || usage
case "$1" in -h|--help) sed -n '2,21p' "$0"; exit 0 ;; esac

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "$1" || { echo "cannot create results folder '$1'" >&2; exit 2; }
RESULTS="$(cd "$1" && pwd)"
ENV_FILE="$RESULTS/environment.txt"
SUMMARY=()
FAILED=0

say() { printf '\n== %s\n' "$*"; }
record() {  # record STEP STATUS [DETAIL]
    SUMMARY+=("$(printf '%-12s %-8s %s' "$1" "$2" "${3:-}")")
    [ "$2" = "FAILED" ] && FAILED=1
    printf -- '-> %s: %s %s\n' "$1" "$2" "${3:-}"
}

# -- 1. environment -------------------------------------------------------------------------------------
say "1. environment -> $ENV_FILE"
{
    echo "date (UTC): $(date -u '+%Y-%m-%d %H:%M:%S')"
    echo "host: $(uname -a)"
    [ -r /etc/os-release ] && grep -E '^PRETTY_NAME=' /etc/os-release
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//') ($(nproc) logical CPUs)"
    echo "repository: $REPO ($(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo 'not a git checkout'))"
    echo
} > "$ENV_FILE"
HAVE_GPU=0
if command -v nvidia-smi >/dev/null 2>&1; then
    if nvidia-smi >> "$ENV_FILE" 2>&1; then
        HAVE_GPU=1
        nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv >> "$ENV_FILE" 2>&1
        record environment OK "$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1)"
    else
        record environment SKIPPED "nvidia-smi is installed but found no usable GPU (driver not loaded?)"
    fi
else
    echo "nvidia-smi: not found" >> "$ENV_FILE"
    record environment SKIPPED "no nvidia-smi: no NVIDIA driver/GPU on this machine; GPU steps will skip"
fi
if command -v nvcc >/dev/null 2>&1; then nvcc --version >> "$ENV_FILE" 2>&1; else echo "nvcc: not found (not needed: the wheels bring their CUDA libraries)" >> "$ENV_FILE"; fi

# -- 2. install -----------------------------------------------------------------------------------------
say "2. Python environment"
PY=""
if [ -n "${JRGR_GPU_PYTHON:-}" ]; then
    PY="$JRGR_GPU_PYTHON"
    record install SKIPPED "JRGR_GPU_PYTHON=$PY: using it as is"
elif [ "$HAVE_GPU" -eq 0 ]; then
    # Installing the CUDA wheels (torch, onnxruntime-gpu, tensorrt: several GB) on a machine without a GPU
    # would prove nothing; use the project's environment to show which checks skip and why.
    for candidate in "$REPO/.venv/bin/python" "$(command -v python3 || true)"; do
        if [ -n "$candidate" ] && [ -x "$candidate" ]; then PY="$candidate"; break; fi
    done
    record install SKIPPED "no GPU: nothing installed; using ${PY:-no python}"
else
    VENV="${JRGR_GPU_VENV:-$REPO/benchmarks/work/venv-gpu}"  # benchmarks/work/ is git-ignored
    LOG="$RESULTS/install.log"
    : > "$LOG"
    if [ ! -x "$VENV/bin/python" ]; then
        python3 -m venv "$VENV" >> "$LOG" 2>&1 || { record install FAILED "python3 -m venv $VENV (see $LOG)"; }
    fi
    PY="$VENV/bin/python"
    if [ -x "$PY" ]; then
        "$PY" -m pip install --upgrade pip >> "$LOG" 2>&1
        # torch==2.13.0 from PyPI is the CUDA build on Linux x86-64 (the CPU-only wheel is a different index).
        if "$PY" -m pip install -e "$REPO[gpu,export]" pytest >> "$LOG" 2>&1; then
            record install OK "jrgr-deploy[gpu,export] into $VENV (log: $LOG)"
        else
            record install FAILED "pip install -e '.[gpu,export]' (see $LOG)"
        fi
        if "$PY" -m pip install -e "$REPO[trt]" >> "$LOG" 2>&1; then
            record tensorrt OK "jrgr-deploy[trt] installed"
        else
            record tensorrt SKIPPED "pip install '.[trt]' failed (TensorRT wheels unreachable?); native TensorRT rows will skip"
        fi
        # Exactly one of onnxruntime / onnxruntime-gpu: a dependency may have pulled the CPU one back in.
        if "$PY" -m pip show onnxruntime >/dev/null 2>&1 && "$PY" -m pip show onnxruntime-gpu >/dev/null 2>&1; then
            echo "both onnxruntime and onnxruntime-gpu were installed: keeping onnxruntime-gpu" >> "$LOG"
            "$PY" -m pip uninstall -y onnxruntime onnxruntime-gpu >> "$LOG" 2>&1
            "$PY" -m pip install "onnxruntime-gpu>=1.18" >> "$LOG" 2>&1 \
                && record onnxruntime OK "kept onnxruntime-gpu only" \
                || record onnxruntime FAILED "reinstalling onnxruntime-gpu (see $LOG)"
        fi
    fi
fi
if [ -z "$PY" ] || ! "$PY" -c 'import jrgr_deploy' >/dev/null 2>&1; then
    record python FAILED "no Python with jrgr_deploy importable (${PY:-none}); cannot go on"
    printf '%s\n' "${SUMMARY[@]}" | tee "$RESULTS/summary.txt"
    exit 1
fi

# -- 3. library report ------------------------------------------------------------------------------------
say "3. libraries -> $ENV_FILE"
"$PY" - >> "$ENV_FILE" 2>&1 <<'EOF'
import importlib, importlib.metadata as md, platform
print(f"\npython {platform.python_version()} ({platform.python_implementation()})")
for dist in ("jrgr-deploy", "torch", "onnxruntime", "onnxruntime-gpu", "onnx", "nvidia-modelopt", "tensorrt",
             "cuda-python", "numpy", "opencv-python-headless"):
    try:
        print(f"{dist}: {md.version(dist)}")
    except md.PackageNotFoundError:
        print(f"{dist}: not installed")
try:
    import torch
    print(f"torch CUDA build {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}, "
          f"cuda available {torch.cuda.is_available()}"
          + (f", device {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""))
except Exception as error:  # noqa: BLE001
    print(f"torch: {error}")
try:
    import onnxruntime as ort
    print(f"onnxruntime {ort.__version__} providers: {ort.get_available_providers()}")
except Exception as error:  # noqa: BLE001
    print(f"onnxruntime: {error}")
try:
    import tensorrt as trt
    print(f"tensorrt {trt.__version__}")
except Exception as error:  # noqa: BLE001
    print(f"tensorrt: not importable ({type(error).__name__}: {error})")
try:
    from cuda.bindings import runtime as cudart
    err, count = cudart.cudaGetDeviceCount()
    print(f"cuda-python: cudaGetDeviceCount -> {err}, {count}")
except Exception as error:  # noqa: BLE001
    print(f"cuda-python: not usable ({type(error).__name__}: {error})")
EOF
record libraries OK "$(grep -E '^(torch CUDA|onnxruntime [0-9].* providers|tensorrt [0-9]|tensorrt: not importable)' "$ENV_FILE" | tr '\n' ';' | cut -c1-200)"

# -- 4. tests -------------------------------------------------------------------------------------------------
say "4. GPU tests (pytest -m gpu)"
(cd "$REPO" && "$PY" -m pytest -m gpu -rs -q -p no:cacheprovider --junitxml="$RESULTS/pytest_gpu.xml" tests) \
    > "$RESULTS/pytest_gpu.log" 2>&1
status=$?
tail -n 15 "$RESULTS/pytest_gpu.log"
summary_line="$(grep -E '(passed|failed|skipped|deselected|error)' "$RESULTS/pytest_gpu.log" | tail -n 1)"
case $status in
    0) if grep -qE '[0-9]+ passed' <<<"$summary_line"; then record tests OK "$summary_line"
       else record tests SKIPPED "$summary_line (every GPU test skipped; reasons in pytest_gpu.log)"; fi ;;
    5) record tests SKIPPED "no GPU test collected" ;;
    *) record tests FAILED "$summary_line (see $RESULTS/pytest_gpu.log)" ;;
esac

# -- 5. latency on the GPU backends -------------------------------------------------------------------------
say "5. latency benchmark on the GPU backends"
if [ "$HAVE_GPU" -eq 1 ]; then
    LATENCY_ARGS=(--backends gpu ort-fp32 --presets tiny paper --iters "${JRGR_GPU_ITERS:-50}" --warmup 5
                  --paper-iters "${JRGR_GPU_ITERS:-50}" --paper-warmup 5)
else
    # Without a GPU every GPU row skips with its reason; keep the CPU work of the run (export) small.
    LATENCY_ARGS=(--backends gpu --presets tiny --sizes 640x360 --iters 1 --warmup 0 --infer-presets)
fi
(cd "$REPO" && "$PY" benchmarks/latency.py "${LATENCY_ARGS[@]}" \
    --out "$RESULTS" --name latency_gpu --work "$RESULTS/work" --markdown "$RESULTS/BENCHMARKS_gpu.md") \
    > "$RESULTS/latency_gpu.log" 2>&1
status=$?
tail -n 12 "$RESULTS/latency_gpu.log"
if [ $status -ne 0 ]; then
    record latency FAILED "benchmarks/latency.py exited $status (see $RESULTS/latency_gpu.log)"
else
    measured="$("$PY" - "$RESULTS/latency_gpu.json" <<'EOF'
import json, sys
results = json.load(open(sys.argv[1]))
gpu_rows = sorted({r["backend"] for p in results["presets"] for r in p["rows"] if r["device"] == "cuda"})
skipped = sorted({f"{k}" for p in results["presets"] for k in p["skipped"]})
print(f"measured: {', '.join(gpu_rows) or 'no GPU backend'}; not measured: {', '.join(skipped) or 'none'}")
EOF
)"
    if grep -q 'measured: no GPU backend' <<<"$measured"; then
        record latency SKIPPED "$measured (reasons in latency_gpu.json 'skipped')"
    else
        record latency OK "$measured -> latency_gpu.json/png"
    fi
fi

# -- 6. summary ---------------------------------------------------------------------------------------------
say "6. summary -> $RESULTS/summary.txt"
printf '%s\n' "${SUMMARY[@]}" | tee "$RESULTS/summary.txt"
exit $FAILED
