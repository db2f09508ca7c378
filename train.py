"""Train a style-transfer model: ``python train.py --config gnn:tiny --workdir runs/x``.

``--config`` names a shipped config (``adain``, ``adaattn``, ``gnn``, ``lst``, ``style_kernel``, with an optional
``:tiny|cpu|paper`` variant) or gives the path of a config file (``configs/gnn.py:cpu``, ``my_config.py``).

Re-running the same command resumes from the latest checkpoint in ``--workdir``.
"""

import sys

from absl import app, flags
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file("config", None, "<method>[:tiny|cpu|paper] (a shipped config) or a config "
                                          "file path[:variant]", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Where checkpoints, metrics and sample grids go.")


def _parse_flags(argv):
    """absl's parser, with config mistakes (unknown key, bad variant, bad value) as one ``error:`` line; a shipped
    config's name stands for its file."""
    from jaxstyle.configs import NAMES, config_file

    for i, a in enumerate(argv):
        if a.startswith("--config="):
            argv[i] = "--config=" + config_file(a[len("--config="):])
        elif a == "--config" and i + 1 < len(argv):
            argv[i + 1] = config_file(argv[i + 1])
    try:
        rest = flags.FLAGS(argv)
        _CONFIG.value.method  # noqa: B018  (loads the config file now, so its errors are reported here)
        return rest
    except OSError as e:
        sys.exit(f"error: cannot load --config {flags.FLAGS['config'].config_filename!r}: "
                 f"{str(e).splitlines()[-1].strip()}; name a shipped config ({', '.join(NAMES)}) or a config file")
    except (AttributeError, KeyError) as e:  # ml_collections: an override names a key the config does not have
        while e.args and isinstance(e.args[0], (AttributeError, KeyError)):  # AttributeError(KeyError(msg))
            e = e.args[0]
        first, *hint = str(e.args[0] if e.args else e).splitlines()
        key = first.strip().strip("'\"")
        named = [a.split("=", 1)[0].removeprefix("--config.") for a in argv if a.startswith("--config.")]
        where = next((n for n in named if key in n.split(".")), key)
        hint = f" ({hint[0].strip().rstrip('?').replace('Did', 'did')}?)" if hint else ""
        sys.exit(f"error: --config.{where}: unknown config key{hint}; check its spelling in the config file")
    except (flags.Error, ValueError, TypeError) as e:
        last = [line.strip() for line in str(e).splitlines() if line.strip()]
        sys.exit(f"error: {last[-1].removeprefix('ValueError: ') if last else e}")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    import jax
    from absl import logging

    if not flags.FLAGS["verbosity"].present:  # orbax logs every save at INFO; keep the terminal readable
        logging.set_verbosity(logging.WARNING)

    from jaxstyle import runtime, train as trainer

    config = _CONFIG.value
    runtime.configure()
    if config.mesh.distributed:
        jax.distributed.initialize()
    try:
        trainer.train_and_evaluate(config, _WORKDIR.value)
    except trainer.USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    except trainer.Interrupted as e:
        print(e, file=sys.stderr)
        sys.exit(130)
    except KeyboardInterrupt:
        print("interrupted: stopped at once; the latest finished checkpoint is kept, re-run the same command to "
              "resume from it", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    flags.mark_flags_as_required(["config", "workdir"])
    app.run(main, flags_parser=_parse_flags)
