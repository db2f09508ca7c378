"""Stylize an image: python infer.py --content photo.jpg --style painting.jpg --out out.png"""

import sys

from absl import app, flags, logging

_CONTENT = flags.DEFINE_string("content", None, "Content image file.")
_STYLE = flags.DEFINE_string("style", None, "Style image file.")
_OUT = flags.DEFINE_string("out", None, "Output image (.png or .jpg).")
_METHOD = flags.DEFINE_string("method", "adain", "Registered method name.")
_CHECKPOINT = flags.DEFINE_string("checkpoint", None, "Trained parameters (.npz).")
_ALPHA = flags.DEFINE_float("alpha", 1.0, "Content-style trade-off in [0, 1].")
_MAX_SIDE = flags.DEFINE_integer("max_side", 512, "Downscale the content so its longer side is at most this.")
_STYLE_SIZE = flags.DEFINE_integer("style_size", 512, "Downscale the style so its longer side is at most this.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace an existing output file.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)  # keep JAX's backend-probing INFO lines off the terminal
    from jaxstyle.infer import main as run

    sys.exit(run(_CONTENT.value, _STYLE.value, _OUT.value, method=_METHOD.value, checkpoint=_CHECKPOINT.value,
                 alpha=_ALPHA.value, max_side=_MAX_SIDE.value, style_size=_STYLE_SIZE.value,
                 overwrite=_OVERWRITE.value))


if __name__ == "__main__":
    flags.mark_flags_as_required(["content", "style", "out"])
    app.run(main)
