"""File I/O shared by the package: atomic writes (weight cache, parameter files, images) and run folders that may
be cloud URIs (``etils.epath``, owned here: ``gs://bucket/run`` reaches orbax and the log writers unchanged)."""

from __future__ import annotations

import contextlib
import os
import pathlib
import tempfile
import zipfile
from typing import Callable, Iterator

#: What :func:`atomic_path` names its temporary files: ``.<stem>.<random>.tmp<suffix>`` (hidden, beside the target).
TMP_MARK = ".tmp"


def is_remote(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a URI (``gs://...``, ``s3://...``) rather than a local path."""
    return "://" in os.fspath(path)


def run_path(path: str | os.PathLike):
    """``path`` as an ``etils.epath.Path``: a URI unchanged, a local path made absolute (orbax wants one)."""
    from etils import epath

    return epath.Path(path if is_remote(path) else os.path.abspath(os.fspath(path)))


def listed(items: list[str], n: int = 3) -> str:
    """``"a, b, c and 7 more"``: the first ``n`` items of a long list, for a one-line message."""
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")


def ensure_writable_dir(path: str | os.PathLike, name: str) -> None:
    """Create folder ``path`` (and parents) if needed and check it takes files, before any work is done.

    Raises:
      ValueError: one line naming ``name`` (e.g. ``--out``) and the fix: the path is a file, lies under a file,
        or cannot be created or written.
    """
    p = pathlib.Path(path)
    if p.exists() and not p.is_dir():
        raise ValueError(f"{name} {path}: is a file, not a folder; pass a folder path")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):  # a parent is a file
        raise ValueError(f"{name} {path}: a part of the path is a file, not a folder; pass a folder path") from None
    except OSError as e:
        raise ValueError(f"{name} {path}: cannot create the folder ({e.strerror}); pick a location you can write "
                         "to") from None
    if not os.access(p, os.W_OK | os.X_OK):
        raise ValueError(f"{name} {path}: the folder is not writable; pick a location you can write to")


def npz_problem(e: Exception) -> str:
    """A short reason why ``np.load`` could not read an ``.npz`` (never NumPy's advice to allow pickles)."""
    if isinstance(e, (zipfile.BadZipFile, EOFError)) or "pickle" in str(e):
        return "not an .npz archive: damaged, cut short, or another kind of file"
    return f"{type(e).__name__}: {str(e)[:120]}"


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
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f"{TMP_MARK}{path.suffix}")
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
