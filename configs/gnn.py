"""The shipped `gnn` config (`jaxstyle/configs/gnn.py`), kept at this path for `--config configs/gnn.py[:variant]`;
`--config gnn[:variant]` names it from anywhere."""

from jaxstyle.configs.gnn import get_config  # noqa: F401
