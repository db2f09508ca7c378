"""Optional TFDS sources (``pip install -e ".[tfds]"``): COCO content and WikiArt style images as ArrayRecord.

Two builders read what the user downloaded by hand (``manual_dir``): zip or tar archives and/or folders of images,
e.g. COCO's ``train2017.zip`` / ``val2017.zip`` and a WikiArt folder or ``wikiart.zip``. Records keep the encoded
image bytes (``{"image": bytes, "path": str}``) unchanged, so preparing and reading need no TensorFlow: the
training pipeline decodes them with Pillow like files from a folder.

Prepare once, then train with ``--config.data.source=tfds``::

    python -m jaxstyle.data.tfds_source coco_images --manual_dir ~/downloads/coco
    python -m jaxstyle.data.tfds_source wikiart_images --manual_dir ~/downloads/wikiart

This is the only module that imports ``tensorflow_datasets``.
"""

from __future__ import annotations

import os
import pathlib
import sys
import tarfile
import zipfile
from typing import Iterator

import numpy as np
import tensorflow_datasets as tfds

from jaxstyle.data.images import IMAGE_SUFFIXES



def _is_image(name: str) -> bool:
    base = os.path.basename(name)
    return name.lower().endswith(IMAGE_SUFFIXES) and not base.startswith((".", "._"))


def iter_images(root: pathlib.Path) -> Iterator[tuple[str, bytes]]:
    """``(key, encoded bytes)`` for every image under ``root`` (a folder or one archive): plain files and members
    of zip / tar archives."""
    base = root.parent if root.is_file() else root
    for path in [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(base).as_posix()
        name = path.name.lower()
        if name.endswith(".zip"):
            with zipfile.ZipFile(path) as z:
                for info in sorted(z.infolist(), key=lambda i: i.filename):
                    if not info.is_dir() and _is_image(info.filename):
                        yield f"{rel}:{info.filename}", z.read(info)
        elif name.endswith((".tar", ".tar.gz", ".tgz")):
            with tarfile.open(path) as t:
                for m in t:  # streaming order (tar members are read sequentially)
                    if m.isfile() and _is_image(m.name):
                        yield f"{rel}:{m.name}", t.extractfile(m).read()
        elif _is_image(name):
            yield rel, path.read_bytes()


class _ImageFolderBuilder(tfds.core.GeneratorBasedBuilder):
    """Images from ``manual_dir`` (archives and/or folders) → ``{"image": bytes, "path": str}`` records."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Encoded image bytes from manually downloaded archives or folders."}

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=self.__doc__,
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Tensor(shape=(), dtype=np.object_),  # encoded bytes, decoded by Pillow
                "path": tfds.features.Text(),
            }),
        )

    def _split_roots(self, manual_dir: pathlib.Path) -> dict[str, list[pathlib.Path]]:
        return {"train": [manual_dir]}

    def _split_generators(self, dl_manager):
        manual_dir = pathlib.Path(dl_manager.manual_dir)
        if not manual_dir.is_dir():
            raise FileNotFoundError(f"manual_dir {str(manual_dir)!r} does not exist; {self.MANUAL_DOWNLOAD_INSTRUCTIONS}")
        return {split: self._generate_examples(roots) for split, roots in self._split_roots(manual_dir).items()}

    def _generate_examples(self, roots):
        n = 0
        for root in roots:
            for key, data in iter_images(root):
                n += 1
                yield key, {"image": data, "path": key}
        if not n:
            raise FileNotFoundError(f"no images found under {[str(r) for r in roots]}; "
                                    f"{self.MANUAL_DOWNLOAD_INSTRUCTIONS}")


class CocoImages(_ImageFolderBuilder):
    """COCO 2017 photos (content images), from the user's downloaded archives."""

    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "download train2017.zip (and optionally val2017.zip) from https://cocodataset.org/#download into manual_dir "
        "(zips or extracted train2017/ and val2017/ folders)")

    def _split_roots(self, manual_dir):
        val = [p for p in manual_dir.iterdir() if "val" in p.name.lower()]
        train = [p for p in manual_dir.iterdir() if p not in val]
        return {"train": train, **({"validation": val} if val else {})}

    def _generate_examples(self, roots):
        yield from super()._generate_examples(sorted(roots))


class WikiartImages(_ImageFolderBuilder):
    """WikiArt paintings (style images), from the user's download (e.g. the ArtGAN ``wikiart.zip``)."""

    MANUAL_DOWNLOAD_INSTRUCTIONS = "put wikiart.zip or the extracted wikiart/ folder (style subfolders) into manual_dir"


BUILDERS = {"coco_images": CocoImages, "wikiart_images": WikiartImages}


def prepare(name: str, manual_dir: str | os.PathLike, data_dir: str | os.PathLike | None = None) -> pathlib.Path:
    """Build ``name`` (``coco_images`` | ``wikiart_images``) from ``manual_dir`` into ArrayRecord files."""
    if name not in BUILDERS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(BUILDERS)}")
    builder = BUILDERS[name](data_dir=os.fspath(data_dir) if data_dir else None, file_format="array_record")
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=os.fspath(manual_dir)))
    return pathlib.Path(builder.data_dir)


def data_source(name: str, split: str = "train", *, data_dir: str | os.PathLike | None = None):
    """A random-access source of ``{"image": bytes, "path": str}`` records (``len`` + ``[i]``), via
    ``tfds.data_source``. Raises ``FileNotFoundError`` naming the prepare command when the data is missing."""
    if name not in BUILDERS:
        raise ValueError(f"config.data.tfds_*={name!r}: unknown dataset; choose one of {', '.join(BUILDERS)}")
    root = pathlib.Path(data_dir) if data_dir else pathlib.Path(tfds.core.constants.DATA_DIR).expanduser()
    missing = FileNotFoundError(
        f"TFDS dataset {name!r} (split {split!r}) is not prepared in {str(root)!r}; run "
        f"`python -m jaxstyle.data.tfds_source {name} --manual_dir DIR` first (or set config.data.tfds_data_dir)")
    if not (root / name).is_dir():
        raise missing
    try:
        return tfds.data_source(name, split=split, data_dir=os.fspath(root), download=False)
    except (AssertionError, FileNotFoundError, NotImplementedError, ValueError,
            tfds.core.registered.DatasetNotFoundError):
        raise missing from None


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m jaxstyle.data.tfds_source", description=__doc__.split("\n")[0])
    p.add_argument("name", choices=sorted(BUILDERS))
    p.add_argument("--manual_dir", required=True, help="folder with the downloaded archives / image folders")
    p.add_argument("--data_dir", default=None, help="TFDS data dir (default ~/tensorflow_datasets)")
    a = p.parse_args(argv)
    try:
        out = prepare(a.name, a.manual_dir, a.data_dir)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"prepared {a.name} in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
