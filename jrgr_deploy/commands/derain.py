"""`jrgr derain`: derain a camera, RTSP/HTTP stream, video file or image folder."""

from __future__ import annotations

import argparse

from jrgr_deploy.errors import JRGRError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("derain", help="derain a camera, RTSP/HTTP stream, video file or image folder (not built yet)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    raise JRGRError("'jrgr derain' is not built yet")
