"""The shipped `adain` config (`jaxstyle/configs/adain.py`), kept at this path for `--config configs/adain.py[:variant]`;
`--config adain[:variant]` names it from anywhere."""

from jaxstyle.configs.adain import get_config  # noqa: F401
