"""Rewrite one `## Heading` section of BENCHMARKS.md and leave the others alone.

Each benchmark script owns a section (Quality, Latency, Streaming, Temporal stability, GPU) and replaces only its
body, so scripts run at different times (and by different people) do not overwrite each other's tables. What
follows a `KEEP_MARKER` line in a section (results measured by other commands, written by hand) is kept when the
script rewrites the section above it. The measuring scripts share their output options (`add_output_arguments`,
`resolve_markdown`).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

SECTIONS = ("Quality", "Latency", "Streaming", "Temporal stability", "GPU")
TITLE = "# Benchmarks"
PLACEHOLDER = "_Not run yet._"
KEEP_MARKER = "<!-- written by hand below: a script that rewrites this section keeps what follows -->"


def _skeleton() -> str:
    intro = "Every table below is written by its script under `benchmarks/`; re-run the script to update it."
    parts = [TITLE, "", intro, ""]
    for name in SECTIONS:
        parts += [f"## {name}", "", PLACEHOLDER, ""]
    return "\n".join(parts)


def replace_section(path: str | Path, heading: str, body: str) -> Path:
    """Set the body of `## {heading}` in `path` to `body` (created with the standard sections if absent).

    The section runs to the next `## ` heading (or the end of the file); a missing section is appended. A
    `KEEP_MARKER` line in the old section and what follows it stay after the new body.
    """
    path = Path(path)
    text = path.read_text() if path.is_file() else _skeleton()
    pattern = re.compile(rf"^## {re.escape(heading)}[ \t]*\n(.*?)(?=^## |\Z)", re.M | re.S)
    new = f"## {heading}\n\n{body.strip()}\n\n"
    match = pattern.search(text)
    if match:
        old_body = match.group(1)
        if KEEP_MARKER in old_body:
            new += old_body[old_body.index(KEEP_MARKER):].strip() + "\n\n"
        text = pattern.sub(lambda _: new, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + new
    path.write_text(text.rstrip("\n") + "\n")
    return path


def publish_section(markdown_path: Path | None, heading: str, png_path: Path, body_for_png) -> None:
    """Replace `## {heading}` with `body_for_png(png_ref)`, where png_ref is the figure's path relative to the
    Markdown file (so the link works on the repository page), and say so. No-op when markdown_path is None."""
    if markdown_path is None:
        return
    try:
        png_ref = png_path.relative_to(Path(markdown_path).resolve().parent)
    except ValueError:
        png_ref = png_path
    replace_section(markdown_path, heading, body_for_png(str(png_ref)))
    print(f"updated the {heading} section of {markdown_path}")


def add_output_arguments(parser: argparse.ArgumentParser, name: str, out: Path, work: Path) -> None:
    """The options every measuring script shares: --out, --name, --work, --markdown, --from-json."""
    parser.add_argument("--out", type=Path, default=out, help=f"results folder (default {out.parent.name}/{out.name})")
    parser.add_argument("--name", default=name, help=f"results file stem (default {name})")
    parser.add_argument("--work", type=Path, default=work, help="cache of what the script renders or exports")
    parser.add_argument("--markdown", type=Path, default=None,
                        help="BENCHMARKS.md to update (default: the repository's, except with --quick); 'none' skips")
    parser.add_argument("--from-json", type=Path, default=None, metavar=f"{name.upper()}.json",
                        help="measure nothing: redraw the plot and rewrite the Markdown section from a results file")


def resolve_markdown(args: argparse.Namespace, default: Path) -> None:
    """--markdown after parsing: unset -> `default` (None with --quick: smoke runs leave BENCHMARKS.md alone);
    'none' -> None."""
    if args.markdown is None:
        args.markdown = None if getattr(args, "quick", False) else default
    elif str(args.markdown).lower() == "none":
        args.markdown = None


def write_results(results: dict[str, Any], args: argparse.Namespace) -> Path:
    """`results` as JSON in args.out / f"{args.name}.json" (said on stdout)."""
    path = args.out / f"{args.name}.json"
    path.write_text(json.dumps(results, indent=2, default=float) + "\n")
    print(f"wrote {path}")
    return path


def run_script(main: Callable[[], int], script: str) -> None:
    """Exit with `main()`'s code; a JRGRError (bad input) is one line on stderr and exit 2, no traceback."""
    from jrgr_deploy.errors import JRGRError

    try:
        raise SystemExit(main())
    except JRGRError as error:
        print(f"{script}: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
