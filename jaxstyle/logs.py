"""What the commands show on the terminal: absl logging (one path for messages), a start banner, tqdm progress.

:func:`setup` is called by the commands (``jaxstyle train|stylize``), never at import: jaxstyle's own INFO lines
(``resumed from step N``, skipped inputs, summaries) show as ``HH:MM:SS message``, warnings and errors as
``warning: ...`` / ``error: ...`` lines; other libraries' INFO chatter (orbax's per-save lines, JAX's backend
probing) stays hidden unless ``--verbosity`` is given. :class:`Progress` owns the progress bar (tqdm): on a terminal
a live bar, otherwise a log line every 30 s; its rate and ETA start after the first finished step, so they exclude
the XLA compile of the first program.
"""

from __future__ import annotations

import logging as py_logging
import pathlib
import sys
import time

from absl import logging

_PACKAGE = str(pathlib.Path(__file__).resolve().parent)
_PREFIX = {py_logging.WARNING: "warning: ", py_logging.ERROR: "error: ", py_logging.CRITICAL: "error: "}


class _Formatter(py_logging.Formatter):
    def format(self, record: py_logging.LogRecord) -> str:
        msg = record.getMessage()
        if record.levelno >= py_logging.WARNING:
            return _PREFIX.get(record.levelno, "error: ") + msg
        return time.strftime("%H:%M:%S ", time.localtime(record.created)) + msg


class _OwnInfo(py_logging.Filter):
    """Warnings and errors from anywhere; INFO only from jaxstyle's modules."""

    def filter(self, record: py_logging.LogRecord) -> bool:
        return record.levelno >= py_logging.WARNING or str(record.pathname).startswith(_PACKAGE)


class _Stderr:
    """Whatever ``sys.stderr`` is at the time of writing (absl's handler keeps the stream it started with)."""

    def write(self, s: str) -> None:
        sys.stderr.write(s)

    def flush(self) -> None:
        sys.stderr.flush()

    def close(self) -> None:  # sys.stderr is not ours to close
        pass


_configured = False


def setup(verbose: bool | None = None) -> None:
    """Show absl log records on stderr in the commands' format. ``verbose=False``: INFO records only from jaxstyle;
    ``True`` (absl's ``--verbosity`` was given): every library's records at the chosen level; ``None``: keep an
    earlier call's choice (else ``False``)."""
    global _configured
    from absl import flags

    if verbose is None:
        if _configured:
            return
        verbose = False
    _configured = True

    if not flags.FLAGS.is_parsed():  # called as a library function: no "logging before flag parsing" notice
        flags.FLAGS.mark_as_parsed()
    logging.use_absl_handler()
    handler = logging.get_absl_handler()
    handler.python_handler.stream = _Stderr()
    handler.setFormatter(_Formatter())
    own = [f for f in handler.filters if isinstance(f, _OwnInfo)]
    if verbose:
        for f in own:
            handler.removeFilter(f)
        return
    logging.set_verbosity(logging.INFO)
    if not own:
        handler.addFilter(_OwnInfo())


def banner(what: str, **fields) -> None:
    """One INFO line at a command's start: jaxstyle's version, the backend and devices, then ``fields``."""
    import jax

    import jaxstyle

    devices = jax.devices()
    kinds = sorted({d.device_kind for d in devices})
    hosts = f", {jax.process_count()} processes" if jax.process_count() > 1 else ""
    parts = [f"jaxstyle {jaxstyle.__version__} {what}",
             f"backend {jax.default_backend()} ({len(devices)} x {'/'.join(kinds)}{hosts})"]
    parts += [f"{k} {v}" for k, v in fields.items() if v not in (None, "")]
    logging.info(" | ".join(parts))


class _LogLines:
    """A file-like object for tqdm that logs each refreshed line (no carriage returns in log files)."""

    def write(self, s: str) -> None:
        s = s.strip("\r\n ")
        if s:
            logging.info(s)

    def flush(self) -> None:
        pass


class Progress:
    """Progress of ``total`` units (steps, outputs): ``update(done, info)`` with the absolute count.

    The tqdm bar starts at the first update, so its rate and ETA count from the first finished unit (after the
    first compile), not from the start of the run. On a terminal the bar redraws in place; elsewhere (log files,
    CI) it is an INFO line at most every 30 s and at the end. ``enabled=False``: nothing is shown.
    """

    def __init__(self, total: int | None, start: int = 0, *, enabled: bool = True, unit: str = "step",
                 stream=None):
        self.total = None if total is None else int(total)  # None: unknown (rate, no ETA)
        self.start, self.enabled, self.unit = int(start), enabled, unit
        self.stream = stream or sys.stderr
        self.bar = None

    def update(self, done: int, info: str = "") -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm import tqdm

            tty = hasattr(self.stream, "isatty") and self.stream.isatty()
            self.bar = tqdm(total=self.total, initial=done, unit=self.unit, dynamic_ncols=True, leave=True,
                            file=self.stream if tty else _LogLines(), mininterval=0.5 if tty else 30.0,
                            ascii=None if tty else True, smoothing=0.1)
        else:
            self.bar.update(done - self.bar.n)
        if info:
            self.bar.set_postfix_str(info, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
