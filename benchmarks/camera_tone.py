"""The population tone map after F_r (`jrgr export --tone`) on the camera-adaptation benchmark's cameras.

    python benchmarks/camera_tone.py --cameras W1 W2 W3 [--backgrounds ../shared/data/backgrounds]

Each W is a `benchmarks/camera_adapt.py` work folder (its footage/, dry/ and test/ frames: a fixed camera, the
first 200 rainy frames for adaptation, 120 dry frames of the same view at another time, the last 100 rainy frames
with ground truth for scoring). For the shipped model (or --weights) the tone map is fitted as `jrgr export --tone`
fits it (`export.tone.fit_population_tone`: F_r's outputs on up to 128 footage frames against up to 128 clean
images) with two clean sets: the camera's dry footage (the same scene; fitted as it is lit and with its light
matched to the footage's, `--tone-light match`, the default) and the backgrounds' photographs (other scenes,
what a user without dry footage could give); the test frames are scored (PSNR-Y, F_r at the frame's size,
as camera_adapt.py scores) at every strength of --strengths, each frame re-toned as far as it shows the veil (the
runtime's rule, `MomentTransfer.apply_to_veil`), and so are the clean test frames through the model and the map
(a dry day: the map is fitted for rain). `--dry-light GAIN OFFSET` fits to the dry clip re-lit (a dry day lit
otherwise than the rainy one). Nothing is chosen on the test frames: the rows show the whole curve.
Writes RESULTS/camera_tone.json and prints one line per camera and clean set.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_BACKGROUNDS = REPO.parent / "shared" / "data" / "backgrounds"
STRENGTHS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def _relit(dry: Path, folder: Path, gain: float, offset: float) -> Path:
    """The dry clip's frames as gain x frame + offset (uint8, clipped), written once into `folder`."""
    from jrgr_deploy.image_files import list_images, read_rgb, write_rgb

    for path in list_images(dry):
        target = folder / f"dry_{gain:g}x{offset:+g}" / path.name
        if not target.is_file():
            write_rgb(target, np.clip(read_rgb(path) * np.float32(gain) + offset, 0, 255).round().astype(np.uint8))
    return folder / f"dry_{gain:g}x{offset:+g}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cameras", type=Path, nargs="+", required=True, help="camera_adapt.py work folders")
    parser.add_argument("--weights", type=Path, default=None, help="a checkpoint (default: the shipped model's)")
    parser.add_argument("--backgrounds", type=Path, default=DEFAULT_BACKGROUNDS,
                        help="photographs of other scenes, the clean set of the second row")
    parser.add_argument("--strengths", type=float, nargs="+", default=list(STRENGTHS))
    parser.add_argument("--images", type=int, default=128, help="footage frames and clean images fitted on")
    parser.add_argument("--dry-light", type=float, nargs=2, default=(1.0, 0.0), metavar=("GAIN", "OFFSET"),
                        help="fit to the dry clip re-lit as GAIN x frame + OFFSET (levels): a dry day lit otherwise "
                             "than the rainy one (the map carries the difference; default 1 0: as rendered)")
    parser.add_argument("--work", type=Path, default=HERE / "work" / "camera_tone",
                        help="where re-lit dry clips are written")
    parser.add_argument("--results", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    import torch

    from jrgr_deploy.checkpoint import load_checkpoint, load_net
    from jrgr_deploy.default_model import default_checkpoint
    from jrgr_deploy.export.tone import fit_population_tone
    from jrgr_deploy.image_files import list_images, read_rgb
    from jrgr_deploy.metrics import psnr_y
    from jrgr_deploy.nn.build import size_multiple
    from jrgr_deploy.runtime.call_latency import timed_ms
    from jrgr_deploy.training.evaluate import remove_rain

    torch.set_num_threads(1)
    for camera in args.cameras:
        if not all((camera / part).is_dir() for part in ("footage", "dry", "test/rainy", "test/clean")):
            print(f"error: '{camera}' is not a camera_adapt.py work folder (footage/, dry/, test/)", file=sys.stderr)
            return 2
    photos = sorted(p for p in args.backgrounds.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not photos:
        print(f"error: no photographs under --backgrounds '{args.backgrounds}'", file=sys.stderr)
        return 2
    weights = args.weights or default_checkpoint()
    checkpoint = load_checkpoint(weights)
    f_r, multiple = load_net(checkpoint, "f_r"), size_multiple(checkpoint.config, "f_r")
    strengths = sorted({0.0, *args.strengths})
    began, cameras = time.time(), {}
    for camera in args.cameras:
        rainy = [read_rgb(p) for p in list_images(camera / "test" / "rainy")]
        clean = [read_rgb(p) for p in list_images(camera / "test" / "clean")]
        with torch.no_grad():
            derained = remove_rain(f_r, rainy, multiple=multiple)
            dry_day = remove_rain(f_r, clean, multiple=multiple)
        row = {"input_psnr_y": float(np.mean([psnr_y(r, c) for r, c in zip(rainy, clean, strict=True)]))}
        dry = camera / "dry" if tuple(args.dry_light) == (1.0, 0.0) else _relit(camera / "dry", args.work / camera.name,
                                                                                *args.dry_light)
        for name, clean_set, match_light in (("dry", dry, False), ("dry_matched", dry, True),
                                             ("photographs", photos, False)):
            tone, light_gain = fit_population_tone(f_r, camera / "footage", clean_set, 4, args.images, multiple,
                                                   match_light)
            row[f"{name}_light_gain"] = light_gain
            row[name] = {str(s): float(np.mean([psnr_y(tone.apply_to_veil(o, s) if s else o, c)
                                                for o, c in zip(derained, clean, strict=True)])) for s in strengths}
            # a dry day (the map is fitted for rain): the clean test frames through the model and the map
            row[f"{name}_dry_day"] = {str(s): float(np.mean([psnr_y(tone.apply_to_veil(o, s) if s else o, c)
                                                             for o, c in zip(dry_day, clean, strict=True)]))
                                      for s in strengths}
            if match_light:  # the runtime's tone stage on one frame (the frame's share and the map), p50
                stage = tone.apply_to_veil
                row["tone_stage_ms"] = float(np.median([timed_ms(lambda o=o, f=stage: f(o, 1.0)) for o in derained]))
            print(f"{camera.name}: input {row['input_psnr_y']:.2f} dB; model + tone map to {name}: "
                  + ", ".join(f"S {s:g} {row[name][str(s)]:.2f}" for s in strengths), flush=True)
        cameras[camera.name] = row
    args.results.mkdir(parents=True, exist_ok=True)
    relit = tuple(args.dry_light) != (1.0, 0.0)
    out = args.results / (f"camera_tone_dry_{args.dry_light[0]:g}x{args.dry_light[1]:+g}.json" if relit
                          else "camera_tone.json")
    out.write_text(json.dumps({"benchmark": "camera_tone", "command": shlex.join(["python", *sys.argv]),
                               "weights": str(weights), "images": args.images, "dry_light": list(args.dry_light),
                               "strengths": strengths,
                               "cameras": cameras, "wall_min": (time.time() - began) / 60}, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
