"""Video files: the one module that owns PyAV (FFmpeg's libraries, shipped in its wheel; ``pip install
'jaxstyle[video]'``).

Frames stream in constant memory: :func:`read_video` decodes one frame at a time, :class:`VideoWriter` encodes one
at a time into a temporary file that replaces the destination only when the whole video is written (a killed or
failed run leaves no partial video). Frames are ``[H, W, 3]`` float32 RGB in [0, 1], as images are.

    info, frames = read_video("clip.mp4")
    with VideoWriter("out.mp4", info.fps, (info.height, info.width)) as w:
        for f in frames:
            w.write(stylize(f))
"""

from __future__ import annotations

import dataclasses
import fractions
import os
import pathlib
import sys
from typing import Any, Iterator

import numpy as np

from jaxstyle._io import atomic_path
from jaxstyle.data.images import ImageError, to_uint8

#: Suffixes taken as videos (case-insensitive); GIFs stay images.
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm", ".mpg", ".mpeg", ".ogv", ".wmv", ".flv")

_INSTALL = "video needs PyAV: pip install 'jaxstyle[video]' (or pip install av)"


class VideoError(ImageError):
    """A video could not be read or written: ``str(err)`` is one line ``"<path>: <reason>"``."""


def is_video(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a video file (by its suffix, :data:`VIDEO_SUFFIXES`)."""
    return pathlib.Path(path).suffix.lower() in VIDEO_SUFFIXES


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    """A video stream's frame rate (exact, e.g. ``30000/1001``), frame size and frame count (``None`` when the
    container does not say)."""

    fps: fractions.Fraction
    width: int
    height: int
    frames: int | None


def _av(path: Any):
    try:
        import av
    except ImportError:
        raise VideoError(path, _INSTALL) from None
    return av


def read_video(path: str | os.PathLike) -> tuple[VideoInfo, Iterator[np.ndarray]]:
    """Open a video: ``(info, frames)``, ``frames`` a generator of ``[H, W, 3]`` float32 RGB in [0, 1], decoded
    one at a time (first video stream; rotation metadata is not applied).

    Raises:
      VideoError: the file is missing, not a video, has no video stream, or cannot be decoded (one line, naming
        the file). A frame that fails to decode later raises it from the generator.
    """
    av = _av(path)
    name = os.fspath(path)
    if not os.path.isfile(name):
        raise VideoError(name, "no such file" if not os.path.exists(name) else "not a file")
    try:
        container = av.open(name, "r")
    except (av.error.FFmpegError, OSError, ValueError) as e:
        raise VideoError(name, f"cannot open as a video ({_reason(e)}); pass an .mp4/.mov/.mkv/.webm file") from None
    streams = list(container.streams.video)
    if not streams or not streams[0].codec_context or not streams[0].width:
        container.close()
        raise VideoError(name, "has no video stream; pass a video file")
    stream = streams[0]
    stream.thread_type = "AUTO"
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not rate:
        container.close()
        raise VideoError(name, "has no frame rate; re-encode it (e.g. ffmpeg -i IN -r 30 OUT.mp4)")
    info = VideoInfo(fractions.Fraction(rate), int(stream.width), int(stream.height), int(stream.frames) or None)

    def frames() -> Iterator[np.ndarray]:
        n = 0
        try:
            for frame in container.decode(stream):
                n += 1
                yield frame.to_ndarray(format="rgb24").astype(np.float32) / 255.0
        except av.error.FFmpegError as e:
            raise VideoError(name, f"frame {n + 1} cannot be decoded ({_reason(e)}); the file is damaged or cut "
                             "short") from None
        finally:
            container.close()
        if n == 0:
            raise VideoError(name, "has no frames that decode; the file is damaged or empty")

    return info, frames()


def _reason(e: BaseException) -> str:
    return " ".join(str(getattr(e, "strerror", None) or e).split())[:160]


class VideoWriter:
    """Write ``[H, W, 3]`` float frames to ``path`` (H.264 in an ``.mp4``/``.mov``/``.mkv``, VP9 in ``.webm``) at
    ``fps``, atomically: the frames go to a hidden temporary file beside ``path``, moved onto it by
    :meth:`close` (``with`` block exit); an error inside the block leaves nothing. Odd sizes are kept (4:4:4
    chroma then; 4:2:0, the widely playable one, needs even sides).

    Args:
      path: destination; an existing file is an error unless ``overwrite``.
      fps: frames per second (a ``Fraction`` keeps 30000/1001 exact). size: ``(height, width)``.
      quality: x264's constant rate factor (lower is better, 18 ≈ visually lossless).
    """

    def __init__(self, path: str | os.PathLike, fps: fractions.Fraction | float, size: tuple[int, int], *,
                 overwrite: bool = False, quality: int = 18):
        self.path = pathlib.Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in (".mp4", ".m4v", ".mov", ".mkv", ".webm"):
            raise VideoError(self.path, f"cannot write {suffix or 'files without a suffix'}; use .mp4, .mov, .mkv "
                             "or .webm")
        self._av = _av(self.path)
        self.size = (int(size[0]), int(size[1]))
        self.frames = 0
        self._atomic = atomic_path(self.path, overwrite=overwrite, error=lambda m: VideoError(self.path, m.split(
            ": ", 1)[-1]))
        tmp = self._atomic.__enter__()
        try:
            self._container = self._av.open(os.fspath(tmp), "w")
            codec = "libvpx-vp9" if suffix == ".webm" else "libx264"
            self._stream = self._container.add_stream(codec, rate=fractions.Fraction(fps).limit_denominator(1 << 16))
            h, w = self.size
            self._stream.height, self._stream.width = h, w
            self._stream.pix_fmt = "yuv420p" if h % 2 == 0 and w % 2 == 0 else "yuv444p"
            if codec == "libx264":
                self._stream.options = {"crf": str(int(quality)), "preset": "medium"}
        except BaseException:
            self._atomic.__exit__(*sys.exc_info())
            raise

    def write(self, frame: Any) -> None:
        """Encode one ``[H, W, 3]`` float frame in [0, 1] (the writer's size)."""
        pixels = to_uint8(frame, path=self.path)
        if pixels.shape[:2] != self.size:
            raise VideoError(self.path, f"frame {self.frames + 1} is {pixels.shape[0]}x{pixels.shape[1]}, the video "
                             f"is {self.size[0]}x{self.size[1]}")
        vf = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels[..., :3]), format="rgb24")
        for packet in self._stream.encode(vf):
            self._container.mux(packet)
        self.frames += 1

    def close(self, error: BaseException | None = None) -> None:
        """Flush and move the file into place (``error``: discard it instead)."""
        try:
            if error is None:
                for packet in self._stream.encode():
                    self._container.mux(packet)
            self._container.close()
        finally:
            exc = (type(error), error, error.__traceback__) if error is not None else (None, None, None)
            self._atomic.__exit__(*exc)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(exc)
