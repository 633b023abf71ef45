"""`jrgr export`: export F_r / G_r to ONNX, FP16/INT8, TensorRT engines or a Triton repository."""

from __future__ import annotations

import argparse

from jrgr_deploy.errors import JRGRError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("export", help="export F_r / G_r to ONNX, FP16/INT8, TensorRT engines or a Triton repository (not built yet)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    raise JRGRError("'jrgr export' is not built yet")
