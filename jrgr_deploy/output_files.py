"""Writing outputs safely: never onto an input, never a half-written file under its final name.

The one place every command's outputs go through (videos, image folders, statistics, checkpoints, sidecars,
exported files, the training log):

- `check_not_input` refuses an output that is an input, lies inside an input folder, or — for a folder
  output that keeps the input files' names — is the folder an input file lies in. Paths are compared resolved
  (symbolic links followed; hard links by `os.path.samefile`), before anything is opened for writing.
- `ensure_folder` creates an output folder, or says which path is in the way and what was expected (a file
  where a folder should be, a folder that cannot be created or written to) — a clear error, not a traceback.
  With ``create=False`` it only checks, before a long or failing start, and leaves no folder behind: a command
  that stops before its first output (a bad model, Ctrl-C while it loads) leaves no empty output folder.
- `PartialFile` is an output under construction: it is written under a temporary name in the same folder
  (`.<stem>.partial-<random><suffix>`; the suffix is kept because a video's container follows it) and
  `publish()` renames it to its final name in one step, replacing what was there. A crash, a kill or a failed
  write therefore never leaves a half-written file under the final name, and never touches the previous
  file (or the source) before the new one is complete. `remove_stale_partials` clears what a killed run left.
- `atomic_write` is the same for a file written in one go (`with atomic_write(path) as tmp: ...`).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from jrgr_deploy.errors import JRGRError

PARTIAL_MARK = ".partial-"
WRITE_CHECK = "write-check"  # the name of the empty file that proves a folder writable


def _resolved(path: Path) -> Path:
    return Path(os.path.abspath(path)).resolve()


def _same(a: Path, b: Path) -> bool:
    if _resolved(a) == _resolved(b):
        return True
    try:
        return os.path.samefile(a, b)  # hard links
    except OSError:
        return False


def check_not_input(output: str | Path, inputs: Sequence[str | Path], what: str = "output",
                    keeps_names: bool = False) -> None:
    """Raise JRGRError when writing `output` could destroy or mix with one of `inputs` (files or folders).

    Refused: `output` is an input (same file or folder); `output` lies inside an input folder; `keeps_names`
    (a folder output whose files are named after the input files) and `output` is the folder an input file
    lies in (its output would overwrite it).
    """
    output = Path(output)
    target = _resolved(output)
    for source in map(Path, inputs):  # the plainest statement first: the output is an input
        if _same(output, source):
            raise JRGRError(
                f"{what} '{output}' is the input '{source}': writing it would destroy the input; "
                "give another path"
            )
    for source in map(Path, inputs):
        resolved = _resolved(source)
        if resolved.is_dir() and target.is_relative_to(resolved):
            raise JRGRError(
                f"{what} '{output}' lies inside the input folder '{source}'; give a path outside it"
            )
        if keeps_names and not resolved.is_dir() and _same(output, resolved.parent):
            raise JRGRError(
                f"{what} '{output}' is the folder of the input '{source}', whose output file keeps its name and "
                "would overwrite it; give another folder"
            )


def ensure_folder(folder: str | Path, what: str = "output folder", writable: bool = True,
                  create: bool = True) -> Path:
    """Create `folder` (and its parents) if needed; check that it can be written to (a file is created and
    removed there). A clear JRGRError naming the path and what was expected otherwise. `create` False: the
    same check, then the folders it made are removed again (the writer makes them at its first output).
    Returns the folder."""
    folder = Path(folder)
    _make_folder(folder, f"{what} '{folder}'", writable, create)
    return folder


def ensure_parent(path: str | Path, what: str = "output", create: bool = True) -> Path:
    """`ensure_folder` for the folder `path` will be written in (`path` itself must not be a folder); returns
    `path`."""
    path = Path(path)
    if path.is_dir():
        raise JRGRError(f"{what} '{path}' is a folder, expected a file name")
    _make_folder(path.parent, f"{what} '{path}': its folder '{path.parent}'", writable=True, create=create)
    return path


def _make_folder(folder: Path, subject: str, writable: bool, create: bool = True) -> None:
    blocking = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise JRGRError(f"{subject} cannot be created: '{blocking}' is a file, expected a folder")
    missing = [p for p in (folder, *folder.parents) if not p.exists()]  # the deepest first
    try:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            reason = error.strerror or error
            raise JRGRError(f"{subject} cannot be created ({reason}); expected a writable folder") from None
        if writable:
            probe = PartialFile(folder / WRITE_CHECK)
            try:
                probe.path.touch()
            except OSError as error:
                reason = error.strerror or error
                raise JRGRError(f"{subject} is not writable ({reason}); expected a writable folder") from None
            probe.discard()
    finally:
        if not create:  # a check only: what it made goes again, so an early stop leaves nothing behind
            for made in missing:
                try:
                    made.rmdir()
                except OSError:
                    break  # not made here after all, or no longer empty (another writer's): left as it is


def partial_path(final: Path) -> Path:
    """A fresh temporary name for `final` in its folder: `.<stem>.partial-<random><suffix>`."""
    return final.with_name(f".{final.stem}{PARTIAL_MARK}{secrets.token_hex(4)}{final.suffix}")


def remove_stale_partials(final: str | Path) -> list[Path]:
    """Remove the temporary files a killed writer of `final` left behind; returns what was removed."""
    final = Path(final)
    if not final.parent.is_dir():
        return []
    removed = []
    # also the folder's writability probes (`_make_folder`), which a kill can leave behind in the same way
    stale_files = [*final.parent.glob(f".{final.stem}{PARTIAL_MARK}*{final.suffix}"),
                   *final.parent.glob(f".{WRITE_CHECK}{PARTIAL_MARK}*")]
    for stale in stale_files:
        stale.unlink(missing_ok=True)
        removed.append(stale)
    return removed


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a folder; the rename itself is still atomic
    finally:
        os.close(fd)


class PartialFile:
    """An output file under construction: write to `path`, then `publish()` (rename to `final`) or
    `discard()` (remove). `durable`: fsync the file and its folder on publish (checkpoints, videos), so
    the new file survives a power cut too; a kill never needs it."""

    def __init__(self, final: str | Path, durable: bool = True) -> None:
        self.final = Path(final)
        self.path = partial_path(self.final)
        self.durable = durable

    def publish(self) -> Path:
        """Give the written file its final name, replacing any previous one in one step; returns it."""
        if self.durable:
            with open(self.path, "rb+") as handle:
                os.fsync(handle.fileno())
        # A temporary file of mkstemp-like origin may be private; outputs get the user's usual permissions.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self.path, 0o666 & ~umask)
        os.replace(self.path, self.final)
        if self.durable:
            _fsync_folder(self.final.parent)
        return self.final

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


@contextmanager
def atomic_write(final: str | Path, durable: bool = True) -> Iterator[Path]:
    """`with atomic_write(path) as tmp:` write `tmp`; it becomes `path` when the block ends normally and is
    removed when it raises (or the process dies: then `remove_stale_partials` clears it)."""
    partial = PartialFile(final, durable=durable)
    try:
        yield partial.path
        partial.publish()
    except BaseException:
        partial.discard()
        raise


def write_text_atomic(final: str | Path, text: str, durable: bool = True) -> Path:
    """Write `text` to `final` through `atomic_write`; returns `final`."""
    with atomic_write(final, durable=durable) as tmp:
        tmp.write_text(text)
    return Path(final)


__all__ = [
    "PARTIAL_MARK",
    "PartialFile",
    "atomic_write",
    "check_not_input",
    "ensure_folder",
    "ensure_parent",
    "partial_path",
    "remove_stale_partials",
    "write_text_atomic",
]
