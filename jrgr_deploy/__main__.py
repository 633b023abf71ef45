"""`python -m jrgr_deploy` is the `jrgr` command."""

from jrgr_deploy.app.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
