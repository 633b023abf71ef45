"""`Closing`: the context-manager plumbing of everything that holds a file, a session or a device."""

from __future__ import annotations

from types import TracebackType
from typing import TypeVar

_Closing = TypeVar("_Closing", bound="Closing")


class Closing:
    """`with thing:` closes it on the way out, whatever happens; subclasses define `close()` (idempotent)."""

    def close(self) -> None:
        """Release what the object holds."""

    def __enter__(self: _Closing) -> _Closing:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


__all__ = ["Closing"]
