"""Pure functions without parameters."""

from jaxstyle.ops.norms import adain, mean_std
from jaxstyle.ops.patches import feat2patch, patch2feat
from jaxstyle.ops.resize import upsample2x

__all__ = ["adain", "mean_std", "feat2patch", "patch2feat", "upsample2x"]
