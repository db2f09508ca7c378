"""The command-line surface: the ``jaxstyle`` command and its ``python -m`` equivalents, ``--help`` on every command
and script, the terminal output (one absl path, ``error:``/``warning:`` lines, a progress bar whose ETA starts after
the first compiled step)."""

import io
import json
import os
import pathlib
import subprocess
import sys
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p for d in ("benchmarks", "tools", "examples") for p in (REPO / d).glob("*.py")
                 if "__main__" in p.read_text())


def _py(*args, timeout=120):
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # scripts in sub-folders import the checkout's package
    return subprocess.run([sys.executable, *map(str, args)], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_jaxstyle_command_lists_its_commands_and_refuses_unknown_ones():
    from jaxstyle.cli import COMMANDS

    r = _py("-m", "jaxstyle", "--help")
    assert r.returncode == 0 and all(f"  {c}" in r.stdout for c in COMMANDS)
    r = _py("-m", "jaxstyle", "stylise")
    assert r.returncode == 2 and r.stderr.strip() == ("error: unknown command 'stylise'; choose one of stylize, "
                                                      "train, export, weights (jaxstyle --help)")


@pytest.mark.parametrize("cmd", [
    ("-m", "jaxstyle", "stylize"), ("-m", "jaxstyle", "train"), ("-m", "jaxstyle", "export"),
    ("-m", "jaxstyle", "weights"), ("-m", "jaxstyle.infer"), ("-m", "jaxstyle.train"), ("-m", "jaxstyle.export"),
    ("-m", "jaxstyle.weights"), ("infer.py",), ("train.py",)], ids=" ".join)
def test_every_command_answers_help(cmd):
    r = _py(*cmd, "--help")
    assert r.returncode == 0 and r.stdout.startswith("usage:") and not r.stderr.strip(), r.stderr
    if cmd[-1] in ("stylize", "jaxstyle.infer", "infer.py"):
        assert "--content" in r.stdout and "--max_side" in r.stdout
    if cmd[-1] in ("train", "jaxstyle.train", "train.py"):
        assert "--workdir" in r.stdout and "--config" in r.stdout


_HELP_DRIVER = """
import contextlib, io, json, os, runpy, sys
out = {}
for script in sys.argv[1:]:
    sys.argv = [script, "--help"]
    sys.path.insert(0, os.path.dirname(script))  # as `python script.py` does
    stdout, stderr, code = io.StringIO(), io.StringIO(), None
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            runpy.run_path(script, run_name="__main__")
        except SystemExit as e:
            code = e.code
        except BaseException as e:
            code = repr(e)
    out[script] = [code, stdout.getvalue()[:200], stderr.getvalue()[-500:]]
print(json.dumps(out))
"""


def test_every_script_answers_help():
    """Every script with a ``__main__`` (benchmarks, tools, examples) prints its usage and exits 0: run in one
    process (``runpy``), so the imports they share load once."""
    r = _py("-c", _HELP_DRIVER, *SCRIPTS, timeout=300)
    assert r.returncode == 0, r.stderr
    results = json.loads(r.stdout.strip().splitlines()[-1])
    assert sorted(results) == sorted(map(str, SCRIPTS)) and len(SCRIPTS) >= 10
    for script, (code, stdout, stderr) in results.items():
        assert code in (0, None) and stdout.startswith("usage:") and "Traceback" not in stderr, (script, code, stderr)


@pytest.mark.parametrize("args, line", [
    ((), "error: --content and --style and --out are required, e.g. --content photo.jpg --style painting.jpg "
         "--out out/ (see --help)"),
    (("--content", "a.jpg", "--style", "b.jpg", "--out", "o", "--alpha", "much"),
     "error: flag --alpha=much: could not convert string to float: 'much' (see jaxstyle stylize --help)"),
    (("--content", "a.jpg", "stray"), "error: unexpected arguments: stray (flags are --name=value; see jaxstyle "
                                      "stylize --help)"),
])
def test_stylize_usage_errors_are_one_line(args, line):
    r = _py("-m", "jaxstyle", "stylize", *args)
    assert r.returncode == 2 and r.stderr.strip() == line


def test_train_without_config_or_workdir_is_one_line():
    r = _py("-m", "jaxstyle", "train", "--config", "adain:tiny")
    assert r.returncode != 0 and r.stderr.strip() == (
        "error: --config and --workdir are required, e.g. --config adain:tiny --workdir runs/x (see --help)")


def test_log_format_and_library_info_filter(capsys):
    import logging as py_logging

    from absl import logging

    from jaxstyle import logs

    logs.setup()
    logs.banner("test", workdir="w")
    logging.warning("careful")
    logging.error("broken")
    logging.info("chatter from outside jaxstyle (e.g. orbax's per-save lines)")  # hidden
    py_logging.getLogger("some.library").warning("theirs")
    err = capsys.readouterr().err.splitlines()
    assert err[0][:9].count(":") == 2 and " jaxstyle " in err[0] and "| backend cpu (" in err[0]
    assert err[0].endswith("| workdir w")
    assert err[1:] == ["warning: careful", "error: broken", "warning: theirs"]


def test_progress_rate_and_eta_start_after_the_first_step(monkeypatch):
    """A 30 s first step (the compile) must not enter the rate: 9 more steps of 1 s each → 1 step/s, ETA 10 s."""
    from jaxstyle.logs import Progress

    stream = io.StringIO()
    stream.isatty = lambda: True
    clock = {"t": time.time()}
    monkeypatch.setattr("tqdm.std.time", lambda: clock["t"])  # tqdm's clock
    p = Progress(20, enabled=True, stream=stream)
    clock["t"] += 30.0  # the first (compiling) step
    p.update(1)
    for step in range(2, 11):
        clock["t"] += 1.0
        p.update(step, "loss 1")
    d = p.bar.format_dict
    assert d["n"] == 10 and d["elapsed"] == pytest.approx(9.0)
    assert (d["n"] - d["initial"]) / d["elapsed"] == pytest.approx(1.0)
    p.close()
    assert "10/20" in stream.getvalue() and "loss 1" in stream.getvalue()


def test_progress_in_a_log_file_is_lines_not_carriage_returns(capsys):
    from jaxstyle import logs

    logs.setup()
    p = logs.Progress(3, enabled=True, stream=io.StringIO())  # not a terminal
    for i in range(1, 4):
        p.update(i)
    p.close()
    err = capsys.readouterr().err
    assert "\r" not in err and "3/3" in err.splitlines()[-1]


def test_shipped_configs_load_by_name_or_path_and_point_at_nothing_in_a_checkout():
    """No config defaults to a development-tree path (data folders, runs/, ../): data folders are required settings
    and warm starts name a shipped model."""
    from jaxstyle import configs
    from jaxstyle.registry import METHODS

    for name in configs.NAMES:
        for variant in ("", "tiny", "cpu", "paper"):
            c = configs.load(f"{name}:{variant}" if variant else name)
            assert c.method == name and c.data.content_dirs == () and c.data.style_dirs == ()
            assert c.train.init_decoder_from in ("", *METHODS), c.train.init_decoder_from
            text = c.to_json()
            assert not any(bad in text for bad in ("../", "runs/", "shared/", "/home/", "/work/")), (name, variant)
    assert configs.load(str(REPO / "configs" / "gnn.py") + ":cpu").to_json() == configs.load("gnn:cpu").to_json()
