"""File-level stylization behind ``infer.py``: load, stylize, save atomically, report errors in one line."""

from __future__ import annotations

import os
import pathlib
import sys
import warnings

from jaxstyle.data.images import ImageError, load_image, save_image
from jaxstyle.weights.store import WeightsError


def stylize_file(content: str | os.PathLike, style: str | os.PathLike, out: str | os.PathLike, *,
                 method: str = "adain", checkpoint: str | os.PathLike | None = None, alpha: float = 1.0,
                 max_side: int | None = 512, style_size: int | None = 512, overwrite: bool = False) -> pathlib.Path:
    """Stylize one image file with one style file and write ``out`` (PNG/JPEG by extension).

    Raises:
      ImageError / WeightsError / ValueError with a one-line message naming the bad input.
    """
    from jaxstyle.api import stylize

    out = pathlib.Path(out)
    if out.exists() and not overwrite:
        raise ImageError(out, "already exists; pass --overwrite to replace it")
    c = load_image(content, max_side=max_side, min_side=16)
    s = load_image(style, max_side=style_size, min_side=16)
    return save_image(out, stylize(c, s, method=method, checkpoint=checkpoint, alpha=alpha), overwrite=overwrite)


def main(content: str, style: str, out: str, **kwargs) -> int:
    """CLI body: returns the exit status (0 ok, 1 bad input), printing one ``error:`` line on failure."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        try:
            path = stylize_file(content, style, out, **kwargs)
        except (ImageError, WeightsError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        finally:
            for w in caught:
                print(f"warning: {w.message}", file=sys.stderr)
    print(path)
    return 0
