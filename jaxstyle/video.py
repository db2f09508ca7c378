"""Video mode: stylize a video's frames in order, temporally stable, with the style side computed once.

Per-frame stylization flickers: a feedforward stylizer is not equivariant to the sub-pixel motion between frames,
and whole-image statistics drift. A :class:`VideoStylizer` (``Stylizer.video(style)``) adds, per frame:

1. **The style side once** (the :class:`jaxstyle.Stylizer`'s cache: statistics, matrices, keys/values, the GNN's
   style features) and, optionally, **the content's global statistics carried** from frame to frame
   (``model.content_state``: AdaIN's channel mean/std, LST's ``T_c``; ``stats_momentum=1`` keeps the first
   frame's for the whole video, LST's fixed transform; 0, the default, each frame's own). Measured, carrying them
   changes the warping error by a few percent either way (it drifts from the content as the shot moves), so it is
   off by default.
2. **Flow-guided temporal blending** (:func:`stabilize`): the previous stabilized output, warped into this frame by
   the optical flow between the two *input* frames (``ops.flow.estimate_flow``), is mixed into this frame's output
   with weight ``blend`` where that warp is trustworthy (inside the frame, and the input frames agree after the
   warp; disocclusions and cuts keep the new output). A recursive filter along the motion paths, in the spirit of
   Bonneel et al. 2015 ("Blind video temporal consistency"); ``blend=0`` turns it off.

The warping error these reduce is measured by ``benchmarks/video.py`` (docs/benchmarks.md).
"""

from __future__ import annotations

import functools
from typing import Any, Hashable

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle.ops.flow import estimate_flow, warp


def stabilize(prev_in: jax.Array, prev_out: jax.Array, frame: jax.Array, out: jax.Array, *, blend: float = 0.5,
              tolerance: float = 0.002) -> jax.Array:
    """One step of flow-guided temporal blending: ``out + blend·M·(W(prev_out) − out)``.

    ``W`` warps by the flow from ``frame`` to ``prev_in`` (:func:`jaxstyle.ops.flow.estimate_flow`); ``M`` is the
    warp's confidence: 0 outside the previous frame, and ``exp(−e / tolerance)`` with ``e`` the mean-square
    difference of ``frame`` and the warped ``prev_in`` (occlusions, cuts and flow failures keep ``out``).

    Args:
      prev_in, frame: ``[B, H, W, 3]`` the previous and current input frames in [0, 1].
      prev_out, out: ``[B, H, W, 3]`` the previous *stabilized* output and the current raw one.
    Returns:
      ``[B, H, W, 3]`` the stabilized output.
    """
    flow = estimate_flow(prev_in, frame)
    warped_in, inside = warp(prev_in, flow)
    warped_out, _ = warp(prev_out, flow)
    confidence = inside * jnp.exp(-jnp.mean((frame - warped_in) ** 2, -1) / tolerance)
    return out + blend * confidence[..., None] * (warped_out - out)


class VideoStylizer:
    """Stylize the frames of one video in order with one style (made by :meth:`jaxstyle.Stylizer.video`).

    ``v(frame)`` takes ``[H, W, 3]`` float in [0, 1] and returns the stylized ``[H, W, 3]``; frames of one video
    share a size (one compiled program for the whole video). :meth:`reset` starts a new video.
    """

    def __init__(self, stylizer, style: Hashable, *, blend: float = 0.5, stats_momentum: float = 0.0,
                 tolerance: float = 0.002):
        if not 0.0 <= float(blend) < 1.0:
            raise ValueError(f"blend={blend}: must be in [0, 1) (0 turns the temporal blending off)")
        if not 0.0 <= float(stats_momentum) <= 1.0:
            raise ValueError(f"stats_momentum={stats_momentum}: must be in [0, 1] (1 keeps the first frame's)")
        self.stylizer, self.style = stylizer, style
        self.blend, self.momentum = float(blend), float(stats_momentum)
        self.tolerance = float(tolerance)
        self.reset()

    def reset(self) -> None:
        """Forget the previous frames (the next frame starts a new video)."""
        self._state: Any = None
        self._prev: tuple[jax.Array, jax.Array] | None = None
        self.frames = 0

    def __call__(self, frame: Any) -> np.ndarray:
        """The next frame ``[H, W, 3]`` float in [0, 1] → its stylized ``[H, W, 3]`` float32 (the same size as the
        video's other frames)."""
        s = self.stylizer
        img = np.asarray(frame, np.float32)
        if self._prev is not None and self._prev[0].shape[1:3] != img.shape[:2]:
            raise ValueError(f"frame {self.frames + 1} is {img.shape[0]}x{img.shape[1]}, the video's frames are "
                             f"{self._prev[0].shape[1]}x{self._prev[0].shape[2]}")
        # padded to size_multiple only: a video's frames share one shape, so the stylizer's buckets would only add
        # padding to every frame
        enc = s.encode([img], padded=[s.pad_image(img, bucket=s.size_multiple)])
        state = None
        if self.momentum > 0:
            state = s.content_state(enc)
            if state is not None and self._state is not None:
                state = self._state if self.momentum == 1 else _running_mean(self._state, state, self.momentum)
            self._state = state
        h, w = img.shape[:2]
        out = _crop(s.apply(enc, self.style, content_state=state), h, w)
        x = _crop(enc.images, h, w)  # the frame, already on the device
        if self._prev is not None and self.blend > 0:
            out = _stabilize(self._prev[0], self._prev[1], x, out, blend=self.blend, tolerance=self.tolerance)
        self._prev = (x, out)
        self.frames += 1
        return np.asarray(out[0])


@functools.partial(jax.jit, static_argnames=("h", "w"))
def _crop(x: jax.Array, h: int, w: int) -> jax.Array:
    """The first image of a padded stylizer batch, ``[1, h, w, 3]``."""
    return x[:1, :h, :w]


_stabilize = jax.jit(stabilize, static_argnames=("blend", "tolerance"))


@jax.jit
def _running_mean(old: Any, new: Any, momentum: float) -> Any:
    return jax.tree.map(lambda a, b: momentum * a + (1.0 - momentum) * b, old, new)
