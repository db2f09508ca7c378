"""The shipped `style_kernel` config (`jaxstyle/configs/style_kernel.py`), kept at this path for `--config configs/style_kernel.py[:variant]`;
`--config style_kernel[:variant]` names it from anywhere."""

from jaxstyle.configs.style_kernel import get_config  # noqa: F401
