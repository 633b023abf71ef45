"""Exceptions the CLI reports as one clear line instead of a traceback."""


class JRGRError(Exception):
    """A user-facing error: bad input, a missing optional dependency, an incompatible artefact.

    The message names the offending file or value and what was expected.
    """


class MissingDependencyError(JRGRError):
    """An optional dependency is not installed; the message names the extra that provides it."""

    def __init__(self, module: str, extra: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the Python module '{module}', which is not installed: "
            f"pip install 'jrgr-deploy[{extra}]'"
        )
        self.module = module
        self.extra = extra
