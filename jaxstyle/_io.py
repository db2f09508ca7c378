"""Atomic file writing shared by the weight cache, parameter files and image saving."""

from __future__ import annotations

import contextlib
import os
import pathlib
import tempfile
from typing import Callable, Iterator


def exists_message(path: str | os.PathLike) -> str:
    return f"{path}: already exists; pass overwrite=True (CLI: --overwrite) to replace it"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, overwrite: bool = False,
                error: Callable[[str], Exception] = FileExistsError) -> Iterator[pathlib.Path]:
    """Yield a temporary path next to ``path``; when the block succeeds it is moved onto ``path``.

    The temporary file lives in the destination directory (so the final move is atomic), keeps the destination's
    suffix (writers that pick a format by extension work) and gets the permissions ``open()`` would give. Without
    ``overwrite`` the move is a hard link, which refuses an existing destination race-free (check-then-replace on
    file systems without hard links). On any exception the temporary file is removed and ``path`` is untouched.

    Args:
      path: the final destination. Its parent directory is created if missing.
      overwrite: replace an existing ``path``; otherwise refuse with ``error(message)``.
      error: exception factory for the refusal.
    """
    path = pathlib.Path(path)
    if path.exists() and not overwrite:
        raise error(exists_message(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    umask = os.umask(0o022)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    tmp_path = pathlib.Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp_path, path)
        else:
            try:
                os.link(tmp_path, path)
            except FileExistsError:
                raise error(exists_message(path)) from None
            except OSError:  # no hard links here
                if path.exists():
                    raise error(exists_message(path)) from None
                os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)
