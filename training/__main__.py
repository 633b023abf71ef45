"""``python -m jrgr_deploy.training`` / ``torchrun --nproc_per_node=N -m jrgr_deploy.training``: the same
arguments as ``jrgr train``."""

from __future__ import annotations

import argparse
import logging
import sys

from jrgr_deploy.app.commands.train import add_arguments, needs, run
from jrgr_deploy.errors import JRGRError, require
from jrgr_deploy.redaction import redact, redact_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jrgr_deploy.training", description="train JRGR")
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    redact_logging()
    try:
        require(needs(args), "python -m jrgr_deploy.training")
        return run(args)
    except JRGRError as error:
        print(f"jrgr train: error: {redact(str(error))}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
