"""Train a style-transfer model: ``jaxstyle train --config gnn:tiny --workdir runs/x``.

--config names a shipped config (adain, adaattn, gnn, lst, style_kernel, with an optional variant: tiny, cpu, paper,
gpu, tpu) or gives the path of a config file (my_config.py, my_config.py:cpu); --config.<key>=<value> overrides any
setting, e.g. --config.data.content_dirs="('photos',)" --config.data.style_dirs="('paintings',)" (required for the
folder-based variants). Re-running the same command resumes from the latest checkpoint in --workdir.
"""

from __future__ import annotations

import sys
from typing import Sequence

from absl import flags
from ml_collections import config_flags

from jaxstyle.cli import run_absl

_CONFIG = config_flags.DEFINE_config_file("config", None, "<method>[:tiny|cpu|paper|gpu|tpu] (a shipped config) "
                                          "or a config file path[:variant]", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Where checkpoints, metrics and sample grids go.")
_SPEC = [""]  # --config as the user wrote it (for the start banner)


def _parse_flags(argv):
    """absl's parser, with config mistakes (unknown key, bad variant, bad value) as one ``error:`` line; a shipped
    config's name stands for its file."""
    from jaxstyle.configs import NAMES, config_file

    argv = list(argv)
    for i, a in enumerate(argv):
        if a.startswith("--config="):
            _SPEC[0] = a[len("--config="):]
            argv[i] = "--config=" + config_file(_SPEC[0])
        elif a == "--config" and i + 1 < len(argv):
            _SPEC[0] = argv[i + 1]
            argv[i + 1] = config_file(_SPEC[0])
    if not _SPEC[0] or not any(a == "--workdir" or a.startswith("--workdir=") for a in argv):
        sys.exit("error: --config and --workdir are required, e.g. --config adain:tiny --workdir runs/x (see --help)")
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


def _run(argv: list[str]) -> int:
    from absl import logging

    from jaxstyle import logs, parallel, runtime, train as trainer

    config = _CONFIG.value
    if config.mesh.distributed:  # first: nothing before this may touch a JAX backend
        try:
            parallel.initialize_distributed(config.mesh)
        except ValueError as e:
            logging.error("%s", e)
            return 1
    runtime.configure()
    logs.banner("train", config=f"{_SPEC[0]} (method {config.method})", workdir=_WORKDIR.value,
                steps=config.train.num_steps, batch=config.data.batch_size)
    try:
        trainer.train_and_evaluate(config, _WORKDIR.value)
    except trainer.USER_ERRORS as e:
        logging.error("%s", e)
        return 1
    except trainer.Interrupted as e:
        logging.warning("%s", e)
        return 130
    except KeyboardInterrupt:
        logging.warning("interrupted: stopped at once; the latest finished checkpoint is kept, re-run the same "
                        "command to resume from it")
        return 130
    return 0


def main(argv: Sequence[str] | None = None, prog: str = "jaxstyle train") -> int:
    """``jaxstyle train --config ... --workdir ...``; returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    return run_absl(_run, argv, prog=prog, doc=__doc__, module=__name__, parse=_parse_flags)
