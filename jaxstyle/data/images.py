"""Reading and writing image files.

This is the only module in :mod:`jaxstyle` that imports Pillow. Everything
else in the library works on float32 ``[H, W, 3]`` RGB arrays in ``[0, 1]``,
which is what :func:`load_image` returns and :func:`save_image` accepts.

Every failure (missing file, not an image, truncated data, decompression
bomb, image too small, unsupported extension, bad array, ...) is reported as
an :class:`ImageError` whose message is a single line naming the path, the
reason and, where there is one, the fix.
"""

from __future__ import annotations

import io
import os
import pathlib
import re
import stat
import warnings
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from jaxstyle._io import atomic_path

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "SAVE_EXTENSIONS",
    "ImageError",
    "IMAGE_SUFFIXES",
    "decode_image",
    "image_files",
    "load_image",
    "save_image",
    "to_uint8",
]

#: File suffixes treated as images when a folder is listed (training data, infer.py inputs, dataset archives).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def image_files(folder: str | os.PathLike, *, recursive: bool = False) -> list[pathlib.Path]:
    """The image files (by suffix) in ``folder``, sorted; ``recursive`` searches subfolders too."""
    found = pathlib.Path(folder).rglob("*") if recursive else pathlib.Path(folder).iterdir()
    return sorted(f for f in found if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())


#: Default pixel-count limit of :func:`load_image`: twice Pillow's
#: ``Image.MAX_IMAGE_PIXELS`` warning threshold, i.e. the size at which Pillow
#: itself refuses to open an image as a likely decompression bomb.
DEFAULT_MAX_PIXELS: int = 178_956_970

#: File extensions :func:`save_image` understands (lower case) and the Pillow
#: format each one is written as.
SAVE_EXTENSIONS: dict[str, str] = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}

_EXISTS = "file exists; pass overwrite=True (CLI: --overwrite) to replace it"
_MODES_16BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I;16S")
_INT32_MAX = 2**31 - 1


class ImageError(ValueError):
    """An image could not be loaded or saved.

    ``str(err)`` is a one-line message ``"<path>: <reason>"``.

    Attributes:
        path: The offending path, as a string.
        reason: What went wrong (and, where there is one, how to fix it).
    """

    def __init__(self, path: Any, reason: str) -> None:
        self.path = _display_path(path)
        self.reason = " ".join(str(reason).split())  # always a single line
        super().__init__(f"{self.path}: {self.reason}")

    def __reduce__(self):  # keep pickling (e.g. across processes) working
        return (type(self), (self.path, self.reason))


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def _display_path(path: Any) -> str:
    try:
        return os.fsdecode(os.fspath(path))
    except TypeError:
        return repr(path)


def _fspath(path: Any) -> str:
    """``os.fspath`` that reports a non-path argument as an ImageError."""
    try:
        return os.fsdecode(os.fspath(path))
    except TypeError:
        raise ImageError(
            path, f"not a file path (got {type(path).__name__}; pass a str or os.PathLike)"
        ) from None


def _exc_text(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _fmt_pixels(n: int) -> str:
    return f"{n / 1e6:.1f} Mpx" if n >= 100_000 else f"{n} px"


def _check_int(name: str, path: str, value: Any, *, minimum: int, allow_none: bool) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        kind = {0: "a non-negative integer", 1: "a positive integer"}.get(
            minimum, f"an integer >= {minimum}"
        )
        none = " or None" if allow_none else ""
        raise ImageError(path, f"{name} must be {kind}{none}, got {value!r}")


def downscaled_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """(width, height) after shrinking the longer side to ``max_side`` (never enlarges)."""
    longer = max(width, height)
    if max_side is None or longer <= max_side:
        return width, height
    scale = max_side / longer
    return max(1, round(width * scale)), max(1, round(height * scale))


def _shorter_side_size(width: int, height: int, shorter: int) -> tuple[int, int]:
    scale = shorter / min(width, height)
    return max(shorter, round(width * scale)), max(shorter, round(height * scale))


def _pillow_bomb_pixels(exc: BaseException) -> int | None:
    match = re.search(r"\((\d+) pixels\)", str(exc))
    return int(match.group(1)) if match else None


# --------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------


def load_image(
    path: str | os.PathLike,
    *,
    max_side: int | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    min_side: int = 1,
    shorter_side: int | None = None,
) -> np.ndarray:
    """Loads an image file as a float32 RGB array.

    The EXIF orientation tag is applied, transparency (RGBA, LA, PA, palette
    or colour-key transparency) is composited on white, 16-bit grayscale is
    scaled by 1/65535, CMYK is converted by Pillow, and grayscale becomes
    three equal channels. Only the first frame of a multi-frame file is read.
    Embedded ICC profiles are ignored (no colour management).

    Float (mode ``F``) images are taken as-is when their values lie in
    ``[0, 1]`` and are otherwise assumed to be on Pillow's 0..255 scale.
    32-bit integer (mode ``I``) images whose values fit in ``[0, 65535]``
    are treated as 16-bit data (Pillow uses mode ``I`` for some 16-bit
    files); larger values are scaled by ``1 / (2**31 - 1)``.

    Args:
        path: Image file to read (``str`` or ``os.PathLike``).
        max_side: If given and the longer side exceeds it, the image is
            downscaled (LANCZOS, aspect ratio kept, sizes rounded, at least
            1 px) so that the longer side equals ``max_side``. Never upscales.
        max_pixels: Refuse images with more than this many pixels, checked
            from the header before anything is decoded (decompression-bomb
            guard). ``None`` disables this check; Pillow's own hard limit of
            ``2 * PIL.Image.MAX_IMAGE_PIXELS`` still applies.
        min_side: Refuse images whose shorter side (of the returned array,
            i.e. after orientation and ``max_side`` downscaling) is below this.
        shorter_side: If given, resize (LANCZOS, up or down, aspect ratio
            kept) so that the shorter side equals this; exclusive with
            ``max_side``. Used by the training pipeline.

    Returns:
        ``np.ndarray`` of shape ``[H, W, 3]``, dtype float32, values in
        ``[0, 1]``, C-contiguous and writable. ``H, W`` are the displayed
        (EXIF-oriented) height and width.

    Raises:
        ImageError: (a ``ValueError``) if the file is missing, a directory,
            empty, not an image, truncated or corrupt, larger than
            ``max_pixels``, smaller than ``min_side``, in an unsupported mode,
            or if an argument is invalid.
    """
    name = _fspath(path)
    _check_int("max_side", name, max_side, minimum=1, allow_none=True)
    _check_int("max_pixels", name, max_pixels, minimum=0, allow_none=True)
    _check_int("min_side", name, min_side, minimum=0, allow_none=False)
    _check_int("shorter_side", name, shorter_side, minimum=1, allow_none=True)
    if max_side is not None and shorter_side is not None:
        raise ImageError(name, "give max_side or shorter_side, not both")

    try:
        st = os.stat(name)
    except FileNotFoundError:
        raise ImageError(name, "no such file") from None
    except PermissionError:
        raise ImageError(name, "permission denied") from None
    except (OSError, ValueError) as exc:
        raise ImageError(name, f"cannot access file ({_exc_text(exc)})") from None
    if stat.S_ISDIR(st.st_mode):
        raise ImageError(name, "is a directory, not an image file")
    if not stat.S_ISREG(st.st_mode):
        raise ImageError(name, "not a regular file")
    if st.st_size == 0:
        raise ImageError(name, "empty file (0 bytes)")

    try:
        fh = open(name, "rb")
    except PermissionError:
        raise ImageError(name, "permission denied") from None
    except OSError as exc:
        raise ImageError(name, f"cannot open file ({_exc_text(exc)})") from None
    with fh:
        return _decode(fh, name, max_side=max_side, max_pixels=max_pixels, min_side=min_side,
                       shorter_side=shorter_side)


def decode_image(data: bytes, *, name: str = "<bytes>", max_pixels: int | None = DEFAULT_MAX_PIXELS,
                 shorter_side: int | None = None) -> np.ndarray:
    """:func:`load_image` for encoded image bytes (e.g. a dataset record): ``[H, W, 3]`` float32 in [0, 1].

    Raises:
        ImageError: naming ``name`` if the bytes are empty, not an image, corrupt or too large.
    """
    _check_int("max_pixels", name, max_pixels, minimum=0, allow_none=True)
    _check_int("shorter_side", name, shorter_side, minimum=1, allow_none=True)
    if not data:
        raise ImageError(name, "empty image data (0 bytes)")
    return _decode(io.BytesIO(data), name, max_side=None, max_pixels=max_pixels, min_side=1,
                   shorter_side=shorter_side)


def _decode(fh, name: str, *, max_side, max_pixels, min_side, shorter_side=None) -> np.ndarray:
    stage = "open"
    try:
        with warnings.catch_warnings():
            # Pillow warns (DecompressionBombWarning) above MAX_IMAGE_PIXELS,
            # which is *below* DEFAULT_MAX_PIXELS. Our own header check below is
            # the authoritative limit, so silence the warning inside this block
            # only (the global Image.MAX_IMAGE_PIXELS is left untouched).
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(fh) as img:
                width, height = img.size
                _check_size(name, width, height, max_side, max_pixels, min_side)
                stage = "decode"
                img.load()  # force the full decode here, inside the try
                stage = "orient"
                _apply_exif_orientation(img, name)
                stage = "convert"
                work = _to_working_image(img, name)
                stage = "resize"
                if shorter_side is not None:
                    new_size = _shorter_side_size(*work.size, shorter_side)
                else:
                    new_size = downscaled_size(*work.size, max_side)
                if new_size != work.size:
                    work = work.resize(new_size, Image.Resampling.LANCZOS)
                stage = "convert"
                return _to_float_rgb(work)
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageError(name, _bomb_reason(exc, max_pixels)) from None
    except Image.UnidentifiedImageError:
        raise ImageError(name, "not an image file (cannot identify image format)") from None
    except MemoryError:
        raise ImageError(name, "out of memory while decoding the image") from None
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, struct.error, ...
        reason = {
            "open": "truncated or corrupt image header",
            "decode": "truncated or corrupt image data",
            "orient": "cannot apply EXIF orientation",
            "convert": "cannot convert image to RGB",
            "resize": "cannot resize image",
        }[stage]
        raise ImageError(name, f"{reason} ({_exc_text(exc)})") from None


def _check_size(name, width, height, max_side, max_pixels, min_side) -> None:
    pixels = width * height
    if max_pixels is not None and pixels > max_pixels:
        raise ImageError(
            name,
            f"{width}x{height} = {_fmt_pixels(pixels)} exceeds the limit of "
            f"{_fmt_pixels(max_pixels)}; pass max_pixels=... to allow it",
        )
    # The shorter side does not change under EXIF orientation (a transpose at
    # most swaps width and height), so this can be checked before decoding.
    shorter = min(width, height)
    if shorter < min_side:
        raise ImageError(
            name, f"image is {width}x{height}; the shorter side must be at least {min_side} px"
        )
    out_w, out_h = downscaled_size(width, height, max_side)
    if min(out_w, out_h) < min_side:
        raise ImageError(
            name,
            f"image is {width}x{height}; downscaled to max_side={max_side} it would be "
            f"{out_w}x{out_h}, below the minimum side of {min_side} px; "
            f"pass a larger max_side",
        )


def _bomb_reason(exc: BaseException, max_pixels: int | None) -> str:
    pixels = _pillow_bomb_pixels(exc)
    what = f"image of {_fmt_pixels(pixels)}" if pixels is not None else "image"
    hard = 2 * Image.MAX_IMAGE_PIXELS
    if max_pixels is not None and max_pixels <= hard:
        limit = _fmt_pixels(max_pixels)
        return f"{what} exceeds the limit of {limit}; pass max_pixels=... to allow it"
    return (
        f"{what} exceeds Pillow's decompression-bomb limit of {_fmt_pixels(hard)} "
        f"(2 * PIL.Image.MAX_IMAGE_PIXELS); raise PIL.Image.MAX_IMAGE_PIXELS to allow it"
    )


def _apply_exif_orientation(img: Image.Image, name: str) -> None:
    """Applies the EXIF Orientation tag in place; unreadable EXIF is ignored with a warning."""
    try:
        ImageOps.exif_transpose(img, in_place=True)
    except Exception as exc:  # malformed EXIF blocks are common and the pixels are fine
        warnings.warn(
            f"{name}: ignoring unreadable EXIF data ({_exc_text(exc)})",
            RuntimeWarning,
            stacklevel=4,
        )


def _to_working_image(img: Image.Image, name: str) -> Image.Image:
    """Converts any Pillow mode to "L" / "RGB" (uint8) or "F" (float32 in [0, 1]).

    Transparency is composited on white here, so later resizing never sees
    an alpha channel.
    """
    mode = img.mode
    if mode in ("L", "RGB"):
        if "transparency" not in img.info:
            return img
        img = img.convert("LA" if mode == "L" else "RGBA")  # colour-key transparency
    elif mode == "1":
        return img.convert("L")
    elif mode in ("P", "PA", "RGBa", "RGBX"):
        # convert("RGBA") honours both palette alpha (tRNS) and a transparent index.
        img = img.convert("RGBA" if mode != "RGBX" else "RGB")
    elif mode == "La":
        img = img.convert("LA")
    elif mode in _MODES_16BIT or mode in ("I", "F"):
        return Image.fromarray(_high_bit_to_unit(img, name))
    elif mode != "LA" and mode != "RGBA":
        # CMYK, YCbCr, HSV, ...: let Pillow do the colour conversion.
        img = img.convert("RGB")

    if img.mode in ("LA", "RGBA"):
        return Image.fromarray(_composite_on_white(np.asarray(img)))
    return img


def _composite_on_white(pixels: np.ndarray) -> np.ndarray:
    """``[H, W, C+1]`` uint8 colour+alpha -> ``[H, W, C]`` (or ``[H, W]``) uint8 on white."""
    color = pixels[..., :-1].astype(np.float32)
    alpha = pixels[..., -1:].astype(np.float32) * np.float32(1 / 255)
    out = np.rint(color * alpha + np.float32(255) * (1 - alpha))
    out = np.clip(out, 0, 255).astype(np.uint8)
    return out[..., 0] if out.shape[-1] == 1 else out


def _high_bit_to_unit(img: Image.Image, name: str) -> np.ndarray:
    """16/32-bit integer or float grayscale -> ``[H, W]`` float32 in [0, 1]."""
    arr = np.asarray(img)
    if img.mode in _MODES_16BIT:
        if arr.dtype.kind == "i":  # I;16S (signed)
            arr = np.clip(arr, 0, None)
        return (arr.astype(np.float32) / np.float32(65535)).astype(np.float32)
    if img.mode == "I":
        arr = np.clip(arr, 0, None)
        scale = 65535 if arr.size == 0 or arr.max() <= 65535 else _INT32_MAX
        return (arr.astype(np.float64) / scale).astype(np.float32)
    # mode "F"
    arr = arr.astype(np.float32)
    if not np.isfinite(arr).all():
        raise ImageError(name, "float image contains NaN or infinite values")
    if arr.size and arr.max() > 1.0:
        arr = arr / np.float32(255)
    return np.clip(arr, 0.0, 1.0).astype(np.float32)


def _to_float_rgb(img: Image.Image) -> np.ndarray:
    """"L"/"RGB"/"F" Pillow image -> ``[H, W, 3]`` float32 in [0, 1] (a fresh, writable array)."""
    arr = np.asarray(img)  # read-only view of Pillow's bytes
    if img.mode == "F":
        arr = np.clip(arr, 0.0, 1.0)  # LANCZOS may overshoot
    else:
        arr = arr.astype(np.float32) / np.float32(255)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    return np.ascontiguousarray(arr, dtype=np.float32)


# --------------------------------------------------------------------------
# saving
# --------------------------------------------------------------------------


def to_uint8(array: Any, *, path: Any = "<array>") -> np.ndarray:
    """Converts a float image to uint8, clipping to [0, 1] and rounding.

    Args:
        array: ``[H, W, 3]``, ``[H, W, 1]`` or ``[H, W]`` image; a numpy or
            JAX array or anything ``np.asarray`` accepts. Floats (and bools)
            are clipped to ``[0, 1]`` and mapped to ``round(255 * x)``.
            uint8 input is returned as-is (no copy). Other
            integer dtypes are rejected as ambiguous.
        path: Only used in error messages.

    Returns:
        uint8 ``np.ndarray`` with the same shape as ``array``.

    Raises:
        ImageError: if the array is empty, has the wrong rank or channel
            count, a non-numeric or ambiguous dtype, or NaN/inf values.
    """
    try:
        arr = np.asarray(array)
    except Exception as exc:
        raise ImageError(
            path, f"cannot convert {type(array).__name__} to an array ({_exc_text(exc)})"
        ) from None
    shape = tuple(arr.shape)
    if arr.ndim not in (2, 3):
        raise ImageError(
            path, f"image array must be [H, W, 3], [H, W, 1] or [H, W]; got shape {shape}"
        )
    if arr.ndim == 3 and arr.shape[2] not in (1, 3):
        raise ImageError(
            path, f"image array must have 1 or 3 channels (last axis); got shape {shape}"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageError(path, f"image array is empty (shape {shape})")
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype.kind in "iu":
        raise ImageError(
            path,
            f"integer dtype {arr.dtype} is ambiguous; pass floats in [0, 1] or uint8 in [0, 255]",
        )
    if arr.dtype.kind == "c" or arr.dtype.kind in "OSUVMm":
        raise ImageError(path, f"unsupported dtype {arr.dtype}; pass floats in [0, 1]")
    try:
        arr = arr.astype(np.float32)  # also handles bool, float16, bfloat16
    except Exception as exc:
        raise ImageError(path, f"unsupported dtype {arr.dtype} ({_exc_text(exc)})") from None
    bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
    if bad:
        raise ImageError(path, f"image array of shape {shape} contains {bad} NaN/inf value(s)")
    return np.rint(np.clip(arr, 0.0, 1.0) * np.float32(255)).astype(np.uint8)


def resize_image(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``[H, W, C]`` float → ``[h, w, C]`` float32 (``size = (h, w)``), Pillow's antialiased bicubic per channel."""
    h, w = int(size[0]), int(size[1])
    if array.shape[:2] == (h, w):
        return np.asarray(array, np.float32)
    chans = [np.asarray(Image.fromarray(np.ascontiguousarray(array[..., c], np.float32))
                        .resize((w, h), Image.Resampling.BICUBIC)) for c in range(array.shape[2])]
    return np.clip(np.stack(chans, -1), 0.0, 1.0)


def save_image(
    path: str | os.PathLike,
    array: Any,
    *,
    overwrite: bool = False,
    quality: int = 95,
) -> pathlib.Path:
    """Writes a float image to a PNG or JPEG file, atomically.

    The data is written to a temporary file in the destination directory,
    fsynced and then moved into place, so readers never see a partial file
    and a failure leaves nothing behind. Parent directories are created.
    Single-channel arrays are written as 8-bit grayscale.

    Args:
        path: Destination; the format follows the extension: ``.png``,
            ``.jpg`` or ``.jpeg`` (case-insensitive).
        array: ``[H, W, 3]``, ``[H, W, 1]`` or ``[H, W]`` float image in
            ``[0, 1]`` (values are clipped), numpy/JAX or anything
            ``np.asarray`` accepts; see :func:`to_uint8`.
        overwrite: Replace an existing file. Otherwise an existing file is
            an error (checked race-free where the filesystem supports hard
            links).
        quality: JPEG quality, 1..100 (ignored for PNG).

    Returns:
        The destination as a ``pathlib.Path``.

    Raises:
        ImageError: for an unsupported extension, an existing file without
            ``overwrite=True``, a bad array (see :func:`to_uint8`), a bad
            ``quality``, or a filesystem error. Nothing is written then.
    """
    name = _fspath(path)
    dest = pathlib.Path(name)
    ext = dest.suffix.lower()
    fmt = SAVE_EXTENSIONS.get(ext)
    if fmt is None:
        got = f"extension {ext!r}" if ext else "no extension"
        raise ImageError(
            name, f"unsupported file type ({got}); use one of {', '.join(SAVE_EXTENSIONS)}"
        )
    _check_int("quality", name, quality, minimum=1, allow_none=False)
    if quality > 100:
        raise ImageError(name, f"quality must be between 1 and 100, got {quality!r}")

    pixels = to_uint8(array, path=name)
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    image = Image.fromarray(np.ascontiguousarray(pixels))  # "RGB" or "L"

    if dest.is_dir():
        raise ImageError(name, "is a directory")
    options = {"quality": int(quality)} if fmt == "JPEG" else {}
    try:
        with atomic_path(dest, overwrite=overwrite, error=lambda _: ImageError(name, _EXISTS)) as tmp:
            with open(tmp, "wb") as fh:
                image.save(fh, format=fmt, **options)
    except ImageError:
        raise
    except Exception as exc:
        raise ImageError(name, f"cannot write image ({_exc_text(exc)})") from None
    return dest
