"""AdaIN (Huang & Belongie 2017): ``python train.py --config adain[:tiny|cpu|paper|gpu|tpu] --workdir W``."""

from __future__ import annotations

import ml_collections

from jaxstyle.configs import common
from jaxstyle.models import adain


def get_config(variant: str = "") -> ml_collections.ConfigDict:
    c = common.method_config("adain", adain.default_config(), variant)
    if variant == "cpu":
        c.train.num_steps = 2500
        c.model.identity_weight = 500.0  # short schedules: without it the decoder hardly learns to invert relu4_1
    return common.for_hardware(c, variant)
