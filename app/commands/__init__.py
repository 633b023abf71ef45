"""Sub-commands of `jrgr`; each module exposes `register(subparsers)`."""
