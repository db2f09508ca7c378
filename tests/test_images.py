"""Tests for jaxstyle.data.images (all images are tiny and generated here)."""

from __future__ import annotations

import os
import pathlib
import pickle
import struct
import sys
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile

from jaxstyle.data import images
from jaxstyle.data.images import (
    DEFAULT_MAX_PIXELS,
    ImageError,
    load_image,
    save_image,
    to_uint8,
)

WHITE = np.ones(3, np.float32)


def _check_output(arr: np.ndarray, shape: tuple[int, int]) -> None:
    assert isinstance(arr, np.ndarray)
    assert arr.dtype == np.float32
    assert arr.shape == (*shape, 3)
    assert arr.flags.c_contiguous and arr.flags.writeable
    assert np.all(arr >= 0.0) and np.all(arr <= 1.0)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _raw_png(width: int, height: int, bit_depth: int, color_type: int, rows: list[bytes]) -> bytes:
    """A minimal PNG written by hand (for formats Pillow cannot write, e.g. 48-bit RGB)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    idat = zlib.compress(b"".join(b"\x00" + row for row in rows))
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def _png_with_declared_size(path: pathlib.Path, width: int, height: int) -> pathlib.Path:
    """A 1x1 PNG whose IHDR claims ``width x height`` (the pixel data does not match)."""
    Image.new("RGB", (1, 1)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    path.write_bytes(bytes(data))
    return path


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


# ---------------------------------------------------------------------------
# modes
# ---------------------------------------------------------------------------


def test_rgb_png_exact(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "rgb.png")
    out = load_image(tmp_path / "rgb.png")  # os.PathLike
    _check_output(out, (5, 7))
    np.testing.assert_array_equal(out, pixels.astype(np.float32) / 255)
    np.testing.assert_array_equal(load_image(str(tmp_path / "rgb.png")), out)  # str path


def test_grayscale_l_gives_three_equal_channels(tmp_path):
    pixels = np.array([[0, 64, 255]], np.uint8)
    Image.fromarray(pixels).save(tmp_path / "l.png")
    out = load_image(tmp_path / "l.png")
    _check_output(out, (1, 3))
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], pixels / np.float32(255))


def test_bilevel_mode_1(tmp_path):
    img = Image.new("1", (2, 1))
    img.putpixel((1, 0), 1)
    img.save(tmp_path / "b.png")
    with Image.open(tmp_path / "b.png") as check:
        assert check.mode == "1"
    out = load_image(tmp_path / "b.png")
    np.testing.assert_array_equal(out[0], [[0, 0, 0], [1, 1, 1]])


def test_rgba_composited_on_white(tmp_path):
    pixels = np.array([[[10, 20, 30, 0], [10, 20, 30, 255], [0, 0, 0, 128]]], np.uint8)
    Image.fromarray(pixels).save(tmp_path / "rgba.png")
    out = load_image(tmp_path / "rgba.png")
    _check_output(out, (1, 3))
    np.testing.assert_array_equal(out[0, 0], WHITE)  # alpha 0 -> white, whatever the colour
    np.testing.assert_allclose(out[0, 1], np.array([10, 20, 30]) / 255, atol=1e-7)
    np.testing.assert_allclose(out[0, 2], 1 - 128 / 255, atol=1 / 255)  # black at half alpha


def test_la_half_alpha_blends_with_white(tmp_path):
    img = Image.new("LA", (2, 1))
    img.putpixel((0, 0), (0, 128))
    img.putpixel((1, 0), (100, 255))
    img.save(tmp_path / "la.png")
    with Image.open(tmp_path / "la.png") as check:
        assert check.mode == "LA"
    out = load_image(tmp_path / "la.png")
    np.testing.assert_allclose(out[0, 0], 1 - 128 / 255, atol=1 / 255)
    np.testing.assert_allclose(out[0, 1], 100 / 255, atol=1e-7)


def test_palette_with_transparent_index(tmp_path):
    img = Image.new("P", (2, 1))
    img.putpalette([255, 0, 0, 0, 0, 255] + [0] * (256 * 3 - 6))
    img.putpixel((0, 0), 0)
    img.putpixel((1, 0), 1)
    img.save(tmp_path / "p.png", transparency=0)
    with Image.open(tmp_path / "p.png") as check:
        assert check.mode == "P" and "transparency" in check.info
    out = load_image(tmp_path / "p.png")
    np.testing.assert_array_equal(out[0], [[1, 1, 1], [0, 0, 1]])


def test_palette_with_alpha_table(tmp_path):
    img = Image.new("P", (2, 1))
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * (256 * 3 - 6))
    img.putpixel((0, 0), 0)
    img.putpixel((1, 0), 1)
    img.save(tmp_path / "pa.png", transparency=bytes([128, 255]))  # per-entry alpha (tRNS)
    out = load_image(tmp_path / "pa.png")
    np.testing.assert_allclose(out[0, 0], 1 - 128 / 255, atol=1 / 255)
    np.testing.assert_array_equal(out[0, 1], [1, 0, 0])


def test_grayscale_colour_key_transparency(tmp_path):
    Image.fromarray(np.array([[0, 50]], np.uint8)).save(tmp_path / "lt.png", transparency=0)
    out = load_image(tmp_path / "lt.png")
    np.testing.assert_array_equal(out[0, 0], WHITE)
    np.testing.assert_allclose(out[0, 1], 50 / 255)


def test_16bit_png_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 1000, 32768, 65535]], np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    with Image.open(tmp_path / "g16.png") as check:
        assert check.mode.startswith("I")
    out = load_image(tmp_path / "g16.png")
    _check_output(out, (1, 4))
    np.testing.assert_allclose(out[0, :, 0], values[0] / 65535, rtol=1e-6)
    assert out[0, 3, 0] == 1.0
    assert abs(out[0, 2, 0] - 0.5) < 1e-4
    assert np.all(out[0] == out[0, :, :1])


def test_16bit_big_endian_tiff(tmp_path):
    img = Image.new("I;16B", (2, 1))
    img.putpixel((1, 0), 65535)
    img.save(tmp_path / "g16b.tif")
    with Image.open(tmp_path / "g16b.tif") as check:
        assert check.mode == "I;16B"
    np.testing.assert_array_equal(load_image(tmp_path / "g16b.tif")[0], [[0, 0, 0], [1, 1, 1]])


def test_32bit_int_and_float_tiff(tmp_path):
    Image.fromarray(np.array([[0, 32768, 65535]], np.int32)).save(tmp_path / "i.tif")
    out = load_image(tmp_path / "i.tif")
    np.testing.assert_allclose(out[0, :, 1], [0, 32768 / 65535, 1], rtol=1e-6)

    Image.fromarray(np.array([[0, 0.25, 1.0]], np.float32)).save(tmp_path / "f.tif")
    np.testing.assert_allclose(load_image(tmp_path / "f.tif")[0, :, 2], [0, 0.25, 1])


def test_48bit_rgb_png(tmp_path):
    row = struct.pack(">6H", 65535, 0, 32768, 0, 65535, 0)
    (tmp_path / "rgb48.png").write_bytes(_raw_png(2, 1, 16, 2, [row]))
    out = load_image(tmp_path / "rgb48.png")
    _check_output(out, (1, 2))
    np.testing.assert_allclose(out[0], [[1, 0, 0.5], [0, 1, 0]], atol=1 / 255)


def test_cmyk_to_rgb(tmp_path):
    img = Image.new("CMYK", (2, 1), (0, 0, 0, 0))
    img.putpixel((1, 0), (255, 0, 0, 0))  # pure cyan
    img.save(tmp_path / "c.tif")
    img.save(tmp_path / "c.jpg", quality=100)
    np.testing.assert_array_equal(load_image(tmp_path / "c.tif")[0], [[1, 1, 1], [0, 1, 1]])
    np.testing.assert_allclose(load_image(tmp_path / "c.jpg")[0], [[1, 1, 1], [0, 1, 1]], atol=0.05)


# ---------------------------------------------------------------------------
# EXIF orientation
# ---------------------------------------------------------------------------


def _oriented(path: pathlib.Path, orientation: int, **save_kw) -> None:
    img = Image.new("RGB", (8, 4), (0, 0, 0))  # W=8, H=4
    img.paste((255, 0, 0), (0, 0, 2, 2))  # red 2x2 marker in the top-left corner
    exif = Image.Exif()
    exif[0x0112] = orientation
    img.save(path, exif=exif, **save_kw)


def test_exif_orientation_png(tmp_path):
    _oriented(tmp_path / "o6.png", 6)  # 6: rotate 90 degrees clockwise for display
    out = load_image(tmp_path / "o6.png")
    _check_output(out, (8, 4))  # transposed shape
    np.testing.assert_array_equal(out[0, -1], [1, 0, 0])  # top-left -> top-right
    np.testing.assert_array_equal(out[0, 0], [0, 0, 0])
    assert out.sum() == 4  # only the four marker pixels are non-black (one channel each)

    _oriented(tmp_path / "o1.png", 1)
    out = load_image(tmp_path / "o1.png")
    assert out.shape == (4, 8, 3)
    np.testing.assert_array_equal(out[0, 0], [1, 0, 0])


def test_exif_orientation_jpeg(tmp_path):
    _oriented(tmp_path / "o6.jpg", 6, quality=100)
    out = load_image(tmp_path / "o6.jpg")
    _check_output(out, (8, 4))
    assert out[0, -1, 0] > 0.6 and out[0, -1, 1:].max() < 0.4
    assert out[-1, 0].max() < 0.2
    # orientation is applied before max_side
    assert load_image(tmp_path / "o6.jpg", max_side=4).shape == (4, 2, 3)


def test_unreadable_exif_is_ignored_with_a_warning(tmp_path):
    Image.new("RGB", (4, 2)).save(tmp_path / "base.png")
    data = (tmp_path / "base.png").read_bytes()
    exif = _png_chunk(b"eXIf", b"garbage!garbage!")
    (tmp_path / "badexif.png").write_bytes(data[:33] + exif + data[33:])  # after IHDR
    with pytest.warns(RuntimeWarning, match="badexif.png: ignoring unreadable EXIF"):
        out = load_image(tmp_path / "badexif.png")
    assert out.shape == (2, 4, 3)


# ---------------------------------------------------------------------------
# max_side
# ---------------------------------------------------------------------------


def test_max_side_downscales_keeping_aspect(tmp_path):
    Image.new("RGB", (40, 20), (10, 200, 30)).save(tmp_path / "a.png")
    out = load_image(tmp_path / "a.png", max_side=10)
    _check_output(out, (5, 10))
    np.testing.assert_allclose(out[2, 5], np.array([10, 200, 30]) / 255, atol=1 / 255)

    Image.new("L", (7, 3)).save(tmp_path / "b.png")
    assert load_image(tmp_path / "b.png", max_side=4).shape == (2, 4, 3)  # 1.71 rounds to 2
    Image.new("L", (1000, 1)).save(tmp_path / "thin.png")
    assert load_image(tmp_path / "thin.png", max_side=10).shape == (1, 10, 3)  # >= 1 px


def test_max_side_never_upscales(tmp_path):
    Image.new("RGB", (40, 20)).save(tmp_path / "a.png")
    assert load_image(tmp_path / "a.png", max_side=40).shape == (20, 40, 3)
    assert load_image(tmp_path / "a.png", max_side=4000).shape == (20, 40, 3)


def test_max_side_composites_alpha_before_resizing(tmp_path):
    pixels = np.zeros((16, 16, 4), np.uint8)  # black but fully transparent
    pixels[:8, :, 3] = 255  # top half opaque black
    Image.fromarray(pixels).save(tmp_path / "a.png")
    out = load_image(tmp_path / "a.png", max_side=4)
    _check_output(out, (4, 4))
    np.testing.assert_allclose(out[3], 1.0, atol=1 / 255)  # no dark halo from hidden colour
    np.testing.assert_allclose(out[0], 0.0, atol=1 / 255)


def test_max_side_on_16bit_stays_in_range(tmp_path):
    values = np.zeros((16, 16), np.uint16)
    values[:, ::2] = 65535  # stripes make LANCZOS ring
    Image.fromarray(values).save(tmp_path / "g16.png")
    out = load_image(tmp_path / "g16.png", max_side=5)
    _check_output(out, (5, 5))
    assert 0.3 < out.mean() < 0.7


# ---------------------------------------------------------------------------
# failures
# ---------------------------------------------------------------------------


def _truncated(tmp_path: pathlib.Path, suffix: str) -> pathlib.Path:
    pixels = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    full = tmp_path / f"full{suffix}"
    Image.fromarray(pixels).save(full)
    cut = tmp_path / f"cut{suffix}"
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    return cut


def _make_failure(kind: str, tmp_path: pathlib.Path) -> tuple[pathlib.Path, dict]:
    if kind == "missing":
        return tmp_path / "missing.png", {}
    if kind == "directory":
        (tmp_path / "folder.png").mkdir()
        return tmp_path / "folder.png", {}
    if kind == "empty":
        (tmp_path / "empty.jpg").write_bytes(b"")
        return tmp_path / "empty.jpg", {}
    if kind == "text":
        (tmp_path / "notes.jpg").write_text("this is not an image\n")
        return tmp_path / "notes.jpg", {}
    if kind == "truncated_jpeg":
        return _truncated(tmp_path, ".jpg"), {}
    if kind == "truncated_png":
        return _truncated(tmp_path, ".png"), {}
    if kind == "bomb_header":  # declared 2000x2000; must be refused before decoding
        return _png_with_declared_size(tmp_path / "bomb.png", 2000, 2000), {"max_pixels": 1_000_000}
    if kind == "bomb_pillow":  # declared 20000x20000: above Pillow's own hard limit
        return _png_with_declared_size(tmp_path / "huge.png", 20000, 20000), {"max_pixels": None}
    if kind == "bomb_real":
        Image.new("L", (1200, 1000)).save(tmp_path / "big.png")
        return tmp_path / "big.png", {"max_pixels": 1_000_000}
    if kind == "too_small":
        Image.new("RGB", (30, 10)).save(tmp_path / "small.png")
        return tmp_path / "small.png", {"min_side": 16}
    if kind == "too_small_after_downscale":
        Image.new("RGB", (300, 30)).save(tmp_path / "wide.png")
        return tmp_path / "wide.png", {"min_side": 16, "max_side": 100}
    raise AssertionError(kind)


FAILURES = {
    "missing": "no such file",
    "directory": "directory",
    "empty": "empty file",
    "text": "not an image file",
    "truncated_jpeg": "truncated or corrupt image data",
    "truncated_png": "truncated or corrupt image data",
    "bomb_header": "exceeds the limit of 1.0 Mpx",
    "bomb_pillow": "decompression-bomb limit",
    "bomb_real": "1200x1000 = 1.2 Mpx exceeds the limit of 1.0 Mpx; pass max_pixels=",
    "too_small": "at least 16 px",
    "too_small_after_downscale": "minimum side of 16 px",
}


@pytest.mark.parametrize("kind", sorted(FAILURES))
def test_failures_raise_image_error(kind, tmp_path):
    path, kwargs = _make_failure(kind, tmp_path)
    max_pixels_before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageError) as info:
        load_image(path, **kwargs)
    err = info.value
    assert isinstance(err, ValueError)
    message = str(err)
    assert path.name in message and "\n" not in message
    assert FAILURES[kind] in message, message
    assert err.path == str(path) and err.reason and err.reason in message
    assert type(err.__cause__) in (type(None), ImageError)  # no leaked Pillow exception
    # global Pillow state is never modified
    assert Image.MAX_IMAGE_PIXELS == max_pixels_before
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_default_max_pixels_constant():
    assert DEFAULT_MAX_PIXELS == 178_956_970 == 2 * Image.MAX_IMAGE_PIXELS


@pytest.mark.parametrize(
    "kwargs", [{"max_side": 0}, {"max_side": 2.5}, {"min_side": -1}, {"max_pixels": True}]
)
def test_bad_arguments(kwargs, tmp_path):
    Image.new("RGB", (2, 2)).save(tmp_path / "a.png")
    with pytest.raises(ImageError, match="a.png"):
        load_image(tmp_path / "a.png", **kwargs)


def test_non_path_argument():
    with pytest.raises(ImageError, match="not a file path"):
        load_image(123)


def test_image_error_pickles():
    err = pickle.loads(pickle.dumps(ImageError("x.png", "broken")))
    assert (str(err), err.path, err.reason) == ("x.png: broken", "x.png", "broken")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc/self/fd")
def test_file_handles_are_closed(tmp_path):
    Image.new("RGB", (4, 4)).save(tmp_path / "ok.png")
    cut = _truncated(tmp_path, ".png")
    before = _open_fds()
    for _ in range(5):
        load_image(tmp_path / "ok.png", max_side=2)
        with pytest.raises(ImageError):
            load_image(cut)
    assert _open_fds() == before


# ---------------------------------------------------------------------------
# save_image / to_uint8
# ---------------------------------------------------------------------------


def test_to_uint8_clips_and_rounds():
    arr = np.array([[-1.0, 0.0, 0.5 / 255, 0.51 / 255, 0.5, 1.0, 2.0]], np.float32)
    np.testing.assert_array_equal(to_uint8(arr), [[0, 0, 0, 1, 128, 255, 255]])
    u8 = np.arange(6, dtype=np.uint8).reshape(2, 3)
    assert to_uint8(u8) is u8
    assert to_uint8(np.ones((2, 2, 1), bool)).tolist() == [[[255], [255]], [[255], [255]]]


def test_save_png_exact_round_trip(tmp_path):
    pixels = np.random.default_rng(2).integers(0, 256, (6, 9, 3), dtype=np.uint8)
    out_path = save_image(tmp_path / "out.png", pixels.astype(np.float32) / 255)
    assert out_path == tmp_path / "out.png" and isinstance(out_path, pathlib.Path)
    with Image.open(out_path) as img:
        assert img.format == "PNG" and img.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(img), pixels)
    np.testing.assert_array_equal(load_image(out_path), pixels / np.float32(255))


@pytest.mark.parametrize("shape", [(4, 5), (4, 5, 1)])
def test_save_grayscale(shape, tmp_path):
    gray = np.linspace(0, 1, 20, dtype=np.float32).reshape(shape)
    save_image(tmp_path / "g.png", gray)
    with Image.open(tmp_path / "g.png") as img:
        assert img.mode == "L"
    out = load_image(tmp_path / "g.png")
    np.testing.assert_allclose(out[..., 0], gray.reshape(4, 5), atol=0.5 / 255 + 1e-6)
    assert np.all(out == out[..., :1])


@pytest.mark.parametrize("name", ["out.jpg", "OUT.JPEG", "x.Jpg"])
def test_save_jpeg_approx(name, tmp_path):
    y, x = np.mgrid[0:16, 0:16] / 15.0
    smooth = np.stack([x, y, 0.5 * np.ones_like(x)], axis=-1).astype(np.float32)
    save_image(tmp_path / name, smooth)
    with Image.open(tmp_path / name) as img:
        assert img.format == "JPEG"
    assert np.abs(load_image(tmp_path / name) - smooth).mean() < 0.02


def test_save_accepts_array_likes(tmp_path):
    class ArrayLike:  # stands in for a jax.Array: anything np.asarray accepts
        def __array__(self, dtype=None, copy=None):
            return np.full((2, 3, 3), 0.25, np.float32)

    save_image(tmp_path / "a.png", ArrayLike())
    save_image(tmp_path / "b.png", [[[0.0, 0.5, 1.0]]])
    assert load_image(tmp_path / "a.png").shape == (2, 3, 3)


def test_save_refuses_overwrite_and_keeps_original(tmp_path):
    target = tmp_path / "out.png"
    target.write_bytes(b"original")
    expected = r"out.png: .*exists; pass overwrite=True \(CLI: --overwrite\)"
    with pytest.raises(ImageError, match=expected):
        save_image(target, np.zeros((2, 2, 3)))
    assert target.read_bytes() == b"original"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]  # no temp file left

    save_image(target, np.ones((2, 2, 3)), overwrite=True)
    np.testing.assert_array_equal(load_image(target), np.ones((2, 2, 3)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


def test_save_refuses_when_link_unsupported(tmp_path, monkeypatch):
    def no_link(src, dst):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(images.os, "link", no_link)  # e.g. FAT / some network filesystems
    save_image(tmp_path / "a.png", np.zeros((2, 2)))
    assert load_image(tmp_path / "a.png").shape == (2, 2, 3)
    with pytest.raises(ImageError, match="exists"):
        save_image(tmp_path / "a.png", np.zeros((2, 2)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


@pytest.mark.parametrize(
    "name, array, match",
    [
        ("out.gif", np.zeros((2, 2, 3)), r"out.gif: unsupported file type.*\.png, \.jpg, \.jpeg"),
        ("noext", np.zeros((2, 2, 3)), "no extension"),
        ("nan.png", np.full((2, 2, 3), np.nan), r"shape \(2, 2, 3\) contains 12 NaN/inf"),
        ("inf.jpg", np.array([[[0.0, np.inf, 0.0]]]), "NaN/inf"),
        ("rgba.png", np.zeros((2, 2, 4)), r"1 or 3 channels.*\(2, 2, 4\)"),
        ("vec.png", np.zeros(5), r"shape \(5,\)"),
        ("empty.png", np.zeros((0, 4, 3)), "empty"),
        ("int.png", np.zeros((2, 2, 3), np.int64), "ambiguous"),
        ("str.png", np.array([["a"]]), "unsupported dtype"),
    ],
)
def test_save_bad_input_writes_nothing(name, array, match, tmp_path):
    with pytest.raises(ImageError, match=match) as info:
        save_image(tmp_path / "sub" / name, array)
    assert name in str(info.value)
    assert list(tmp_path.iterdir()) == []  # not even the parent directory


def test_save_bad_quality(tmp_path):
    for quality in (0, 101, 9.5):
        with pytest.raises(ImageError, match="quality"):
            save_image(tmp_path / "q.jpg", np.zeros((2, 2, 3)), quality=quality)
    assert list(tmp_path.iterdir()) == []


def test_save_cleans_up_after_write_failure(tmp_path, monkeypatch):
    def failing_save(self, fp, *args, **kwargs):
        fp.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", failing_save)
    with pytest.raises(ImageError, match=r"out.png: cannot write image \(OSError: disk full\)"):
        save_image(tmp_path / "out.png", np.zeros((2, 2, 3)))
    assert list(tmp_path.iterdir()) == []


def test_save_creates_parent_directories(tmp_path):
    target = tmp_path / "a" / "b" / "out.jpg"
    assert save_image(target, np.zeros((3, 3, 3))) == target
    assert target.is_file()
    assert [p.name for p in target.parent.iterdir()] == ["out.jpg"]


def test_save_into_existing_directory_path(tmp_path):
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(ImageError, match="directory"):
        save_image(tmp_path / "dir.png", np.zeros((2, 2, 3)), overwrite=True)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_saved_file_has_normal_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        save_image(tmp_path / "p.png", np.zeros((2, 2, 3)))
    finally:
        os.umask(old)
    assert (tmp_path / "p.png").stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600
