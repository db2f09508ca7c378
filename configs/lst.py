"""The shipped `lst` config (`jaxstyle/configs/lst.py`), kept at this path for `--config configs/lst.py[:variant]`;
`--config lst[:variant]` names it from anywhere."""

from jaxstyle.configs.lst import get_config  # noqa: F401
