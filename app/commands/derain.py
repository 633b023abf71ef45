"""`jrgr derain`: derain a camera, RTSP/HTTP stream, video file or image folder."""

from __future__ import annotations

import argparse

from jrgr_deploy.app.stream_command import add_stream_parser

DESCRIPTION = """\
Derain SOURCE with F_r in a threaded capture -> infer -> write pipeline and report latency. SOURCE: a video
file, an image folder or glob ('frames/*.png'), a camera index (0) or an rtsp:// / http:// URL. Cameras and
URLs are live: the newest frame is processed and older ones are dropped (counted); files never drop a frame.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    summary = "derain a camera, RTSP/HTTP stream, video file or image folder"
    parser = add_stream_parser(subparsers, "derain", summary, DESCRIPTION, net="F_r", output="derained")
    parser.add_argument(
        "--temporal",
        action="store_true",
        help="stabilise the output over time (causal motion-adaptive filter: less flicker on fixed and moving "
        "cameras; restarts on a scene cut or a reconnect)",
    )
    parser.add_argument(
        "--veil",
        type=float,
        default=None,
        metavar="S",
        help="remove this share (0 to below 1) of the dark-channel veil the net leaves (distant rain as haze; "
        "jrgr_deploy/veil_removal.py); 0.3 was best on a proxy validation and gave +1.25 to +1.81 dB on three "
        "benchmark cameras (BENCHMARKS.md, 'Veil removal'). Default: the model's own (its sidecar's veil_strength: "
        "chosen per camera by `jrgr adapt`, 0 for the shipped model); --veil 0 turns it off",
    )
    parser.add_argument(
        "--tone",
        type=float,
        default=None,
        metavar="S",
        help="the strength (0-1) of the model's tone map (its sidecar's `tone`, written by `jrgr adapt --dry` or "
        "`jrgr export --tone`: each derained frame re-toned towards the camera's dry footage as far as it shows "
        "the rain's veil). Default: the model's own; --tone 0 turns it off",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from jrgr_deploy.app.stream_command import run_model
    from jrgr_deploy.moment_transfer import check_tone_strength
    from jrgr_deploy.runtime.deraining import Deraining
    from jrgr_deploy.veil_removal import check_strength

    if args.veil is not None:
        check_strength(args.veil)  # before the model loads
    if args.tone is not None:
        check_tone_strength(args.tone, "--tone")
    return run_model(Deraining, args, temporal=args.temporal, veil=args.veil, tone=args.tone)
