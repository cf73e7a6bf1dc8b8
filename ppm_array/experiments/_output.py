"""Writing results so that an interrupted run never leaves a file that looks complete."""

from __future__ import annotations

import csv
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "output_directory", "write_csv", "write_text"]


def output_directory(path) -> Path:
    """Create ``path`` if needed and check that it is writable; a clear error otherwise."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OSError(f"cannot create the output directory {str(path)!r}: {error.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise OSError(f"the output directory {str(path)!r} is not writable")
    return path


@contextmanager
def atomic_path(final: Path):
    """A temporary path in the same directory, renamed to ``final`` only if the block succeeds."""
    handle, temporary = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".partial")
    os.close(handle)
    try:
        yield Path(temporary)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp creates 0600; give the usual permissions
        os.replace(temporary, final)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def write_csv(final: Path, header, rows) -> None:
    with atomic_path(final) as temporary, open(temporary, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(rows)


def write_text(final: Path, text: str) -> None:
    with atomic_path(final) as temporary:
        temporary.write_text(text + "\n")
