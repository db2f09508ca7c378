"""The ``jaxstyle`` command (also ``python -m jaxstyle``): ``jaxstyle <command> [flags]``.

Commands: ``stylize`` (images with a trained model), ``train`` (a model from a config), ``export`` (a training
run's weights as an inference file), ``weights`` (fetch, convert and inspect weight files). ``jaxstyle <command>
--help`` lists a command's flags. Each is also ``python -m jaxstyle.<module>`` (``infer``, ``train``, ``export``,
``weights``), and ``train.py`` / ``infer.py`` in a checkout run the same code.
"""

from __future__ import annotations

import importlib
import sys
from typing import Callable, Sequence

#: command -> (module with ``main(argv, prog) -> int``, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "stylize": ("jaxstyle.cli.stylize", "stylize images (files, folders, globs) with a shipped or exported model"),
    "train": ("jaxstyle.cli.train", "train a model from a shipped config (--config gnn:cpu) or a config file"),
    "export": ("jaxstyle.export", "write a training run's latest checkpoint as an inference .npz"),
    "weights": ("jaxstyle.weights.__main__", "fetch, convert and inspect weight files (VGG-19, official models)"),
}


def _usage() -> str:
    import jaxstyle

    width = max(map(len, COMMANDS))
    rows = "\n".join(f"  {name:<{width}}  {about}" for name, (_, about) in COMMANDS.items())
    return (f"usage: jaxstyle <command> [flags]   (jaxstyle {jaxstyle.__version__})\n\ncommands:\n{rows}\n\n"
            "`jaxstyle <command> --help` lists a command's flags.")


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``jaxstyle <command> ...``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0 if argv else 2
    if argv[0] == "--version":
        import jaxstyle

        print(f"jaxstyle {jaxstyle.__version__}")
        return 0
    if argv[0] not in COMMANDS:
        print(f"error: unknown command {argv[0]!r}; choose one of {', '.join(COMMANDS)} (jaxstyle --help)",
              file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[argv[0]][0])
    return module.main(argv[1:], prog=f"jaxstyle {argv[0]}")


def run_absl(body: Callable[[list[str]], int], argv: Sequence[str], *, prog: str, doc: str, module: str,
             parse: Callable[[list[str]], list[str]] | None = None) -> int:
    """Parse absl flags for ``body`` and run it: ``--help`` prints ``doc`` and ``module``'s flags; a flag error
    is one ``error:`` line (exit 2); logging is set up (:func:`jaxstyle.logs.setup`) before ``body`` runs."""
    from absl import flags

    from jaxstyle import logs

    argv = list(argv)
    if any(a in ("-h", "--help", "--helpshort", "-?") for a in argv):
        print(f"usage: {prog} [flags]\n\n{doc.strip()}\n\nflags:\n{flags.FLAGS.module_help(module)}\n\n"
              "(--helpfull also lists absl's logging flags)")
        return 0
    if "--helpfull" in argv:
        print(f"usage: {prog} [flags]\n\n{flags.FLAGS.get_help()}")
        return 0
    try:
        rest = (parse or flags.FLAGS)([prog, *argv])
    except flags.Error as e:
        print(f"error: {str(e).splitlines()[0]} (see {prog} --help)", file=sys.stderr)
        return 2
    if len(rest) > 1:
        print(f"error: unexpected arguments: {' '.join(rest[1:])} (flags are --name=value; see {prog} --help)",
              file=sys.stderr)
        return 2
    logs.setup(verbose=flags.FLAGS["verbosity"].present)
    return body(rest)
