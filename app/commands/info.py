"""`jrgr info`: what the default model is, and which backends and tools this installation has."""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("info", help="describe the default model and the installed backends")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(func=run)


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _backends() -> dict[str, object]:
    report: dict[str, object] = {}
    if importlib.util.find_spec("onnxruntime") is not None:
        import onnxruntime

        report["onnxruntime"] = {
            "version": onnxruntime.__version__,
            "package": "onnxruntime-gpu" if _version("onnxruntime-gpu") else "onnxruntime",
            "providers": onnxruntime.get_available_providers(),
        }
    else:
        report["onnxruntime"] = "not installed: pip install 'jrgr-deploy[cpu]' (or [gpu])"
    report["tensorrt"] = _version("tensorrt") or "not installed: pip install 'jrgr-deploy[trt]'"
    report["cuda-python"] = _version("cuda-python") or "not installed: pip install 'jrgr-deploy[trt]' (or [gpu])"
    report["modelopt"] = _version("nvidia-modelopt") or "not installed: pip install 'jrgr-deploy[export]'"
    report["torch"] = _version("torch") or "not installed: pip install 'jrgr-deploy[train]'"
    return report


def _default_model() -> list[dict[str, object]]:
    from jrgr_deploy.artifact import read_sidecar, sidecar_path
    from jrgr_deploy.default_model import shipped_files

    rows = []
    for path in shipped_files():
        if path.suffix == ".json" or path.name == "README.md":
            continue
        row: dict[str, object] = {"file": str(path), "size_mib": round(path.stat().st_size / 2**20, 2)}
        if sidecar_path(path).is_file():
            info = read_sidecar(path)
            row.update(net=info.net, precision=info.precision, size_multiple=info.size_multiple,
                       accuracy=info.accuracy.get("summary", info.accuracy))
        rows.append(row)
    return rows


def _derain_default() -> dict[str, str]:
    """Which shipped F_r file `jrgr derain` runs on a CPU without --weights, and why."""
    from jrgr_deploy.default_model import cpu_onnx_choice
    from jrgr_deploy.errors import JRGRError

    try:
        path, why = cpu_onnx_choice("f_r")
    except JRGRError as error:
        return {"file": None, "why": str(error)}
    return {"file": str(path), "why": why}


def run(args: argparse.Namespace) -> int:
    from jrgr_deploy import __version__
    from jrgr_deploy.default_model import WEIGHTS_DIR

    report = {"jrgr-deploy": __version__, "weights_dir": str(WEIGHTS_DIR), "default_model": _default_model(),
              "derain_default_on_cpu": _derain_default(), "backends": _backends()}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"jrgr-deploy {__version__}")
    print(f"default model ({WEIGHTS_DIR}; model card: README.md there):")
    if not report["default_model"]:
        print("  none installed")
    for row in report["default_model"]:
        extra = f"  {row.get('net', '')} {row.get('precision', '')}".rstrip()
        print(f"  {row['file']}  {row['size_mib']} MiB{extra}")
    chosen = report["derain_default_on_cpu"]
    print(f"jrgr derain / demo on a CPU run: {chosen['file'] or 'nothing'} ({chosen['why']})")
    print("backends and tools:")
    for name, value in report["backends"].items():
        print(f"  {name}: {json.dumps(value) if isinstance(value, dict) else value}")
    return 0
