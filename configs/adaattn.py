"""The shipped `adaattn` config (`jaxstyle/configs/adaattn.py`), kept at this path for `--config configs/adaattn.py[:variant]`;
`--config adaattn[:variant]` names it from anywhere."""

from jaxstyle.configs.adaattn import get_config  # noqa: F401
