"""TFDS builders for COCO / WikiArt on tiny generated archives, read back through the training pipeline."""

import io
import sys
import tarfile
import zipfile

import numpy as np
import pytest
from conftest import require_module
from PIL import Image

tfds_source = require_module("jaxstyle.data.tfds_source")

from jaxstyle.configs import common  # noqa: E402
from jaxstyle.data import pipeline  # noqa: E402


def _png(seed: int, size=(48, 40)) -> bytes:
    buf = io.BytesIO()
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("tfds")
    coco, wikiart = root / "coco", root / "wikiart"
    coco.mkdir()
    with zipfile.ZipFile(coco / "train2017.zip", "w") as z:
        for i in range(5):
            z.writestr(f"train2017/{i:012d}.jpg", _png(i))
        z.writestr("train2017/000000000099.jpg", b"\xff\xd8 broken")  # a corrupt member: skipped at train time
        z.writestr("__MACOSX/._junk.jpg", b"junk")
    (coco / "val2017").mkdir()
    (coco / "val2017" / "000000000100.jpg").write_bytes(_png(100))
    (wikiart / "Impressionism").mkdir(parents=True)
    (wikiart / "Impressionism" / "monet.png").write_bytes(_png(7))
    with tarfile.open(wikiart / "more.tar.gz", "w:gz") as t:
        data = _png(8)
        info = tarfile.TarInfo("Cubism/picasso.png")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    data_dir = root / "data"
    tfds_source.prepare("coco_images", coco, data_dir)
    tfds_source.prepare("wikiart_images", wikiart, data_dir)
    return data_dir


def test_builders_prepare_array_records_without_tensorflow(prepared):
    train = tfds_source.data_source("coco_images", "train", data_dir=prepared)
    val = tfds_source.data_source("coco_images", "validation", data_dir=prepared)
    style = tfds_source.data_source("wikiart_images", "train", data_dir=prepared)
    assert (len(train), len(val), len(style)) == (6, 1, 2)
    paths = sorted(style[i]["path"].decode() for i in range(2))  # Text features read back as bytes
    assert paths == ["Impressionism/monet.png", "more.tar.gz:Cubism/picasso.png"]
    assert isinstance(train[0]["image"], bytes)
    assert "tensorflow" not in sys.modules


def test_tfds_source_feeds_the_training_pipeline(prepared):
    cfg = common.get_config().data
    cfg.update(source="tfds", tfds_data_dir=str(prepared), resize_to=40, crop_size=32, batch_size=4)
    content, style = pipeline.make_sources(cfg)
    it = iter(pipeline.training_pipeline(content, style, cfg, seed=0))
    batches = [next(it) for _ in range(4)]  # 24 content draws over 6 records: the corrupt one comes up
    assert batches[0]["content"].shape == (4, 32, 32, 3)
    assert sum(int(b["skipped"].sum()) for b in batches) >= 1


def test_unprepared_dataset_names_the_prepare_command(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m jaxstyle.data.tfds_source wikiart_images"):
        tfds_source.data_source("wikiart_images", "train", data_dir=tmp_path)
