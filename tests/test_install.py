"""A user's install: ``pip install .`` (not editable) into a fresh virtual environment, then the ``jaxstyle`` command
from an empty folder: stylize with a shipped model, train 3 steps of a tiny config on generated images, export the
run and stylize with the export. Nothing may come from the checkout (the test asserts the package's location)."""

import os
import shutil
import subprocess
import venv

import numpy as np
import pytest

REPO = __import__("pathlib").Path(__file__).resolve().parents[1]
SHIPPED = ("pyproject.toml", "README.md", "LICENSE", "jaxstyle")


@pytest.fixture(scope="module")
def installed(tmp_path_factory, vgg_path):
    """``(python, jaxstyle command, empty working folder)`` of a fresh venv with ``pip install .`` of a copy of the
    checkout (so the build leaves nothing in the checkout). The venv sees this interpreter's packages (the
    dependencies are installed here already; ``--no-index`` proves pip needs nothing new)."""
    root = tmp_path_factory.mktemp("install")
    src = root / "src"
    src.mkdir()
    for name in SHIPPED:
        (shutil.copytree if (REPO / name).is_dir() else shutil.copy2)(
            REPO / name, src / name, **({"ignore": shutil.ignore_patterns("__pycache__")} if name == "jaxstyle" else {}))
    # no pip of its own: ensurepip's bundled setuptools would shadow this interpreter's (and cannot build a wheel
    # offline); this interpreter's pip installs into the venv it runs in
    venv.create(root / "venv", system_site_packages=True, with_pip=False)
    py = root / "venv" / "bin" / "python"
    r = subprocess.run([py, "-m", "pip", "install", "--no-index", "--no-build-isolation", "--no-cache-dir", "-q",
                        str(src)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    work = root / "work"
    work.mkdir()
    return py, root / "venv" / "bin" / "jaxstyle", work


def _run(cmd, cwd, timeout=600):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def test_the_package_comes_from_the_venv_not_the_checkout(installed):
    py, jaxstyle_cmd, work = installed
    r = _run([py, "-c", "import jaxstyle, jaxstyle.configs as c; print(jaxstyle.__file__); print(c.__file__)"], work)
    assert r.returncode == 0, r.stderr
    for line in r.stdout.split():
        assert str(work.parent / "venv") in line and str(REPO) not in line, line
    r = _run([jaxstyle_cmd, "--help"], work)
    assert r.returncode == 0 and "stylize" in r.stdout and "train" in r.stdout, r.stderr
    for sub in ("stylize", "train", "export", "weights"):
        r = _run([jaxstyle_cmd, sub, "--help"], work)
        assert r.returncode == 0 and r.stdout.startswith("usage:") and "Traceback" not in r.stderr, (sub, r.stderr)


def test_stylize_train_export_from_an_empty_folder(installed):
    py, jaxstyle_cmd, work = installed
    from jaxstyle.data.images import save_image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:48, 0:64] / 48.0
    for i in range(4):  # generated "photos" (smooth gradients) and "paintings" (noise blobs)
        photo = np.stack([np.sin(xx * (i + 1)) * 0.5 + 0.5, yy, np.full_like(yy, i / 4)], -1)
        save_image(work / "photos" / f"p{i}.png", photo)
        blobs = rng.random((6, 8, 3)).repeat(8, 0).repeat(8, 1)
        save_image(work / "paintings" / f"s{i}.png", blobs)

    r = _run([jaxstyle_cmd, "stylize", "--content", "photos", "--style", "paintings/s0.png", "--out", "out",
              "--method", "adain", "--max_side", "64"], work)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (work / "out").iterdir()) == [f"p{i}__s0.png" for i in range(4)]
    assert "backend cpu" in r.stderr and "4 written" in r.stderr

    train = [jaxstyle_cmd, "train", "--config", "adain:tiny", "--workdir", "run",
             "--config.data.content_dirs=('photos',)", "--config.data.style_dirs=('paintings',)",
             "--config.train.num_steps=3"]
    r = _run(train, work)
    assert r.returncode == 0, r.stderr
    assert "config adain:tiny (method adain)" in r.stderr and "workdir run" in r.stderr
    assert (work / "run" / "checkpoints" / "3").is_dir()

    r = _run([py, "-m", "jaxstyle", "export", "run", "--out", "mine.npz"], work)
    assert r.returncode == 0 and (work / "mine.npz").is_file(), r.stderr
    r = _run([py, "-m", "jaxstyle.infer", "--content", "photos/p0.png", "--style", "paintings/s1.png",
              "--checkpoint", "mine.npz", "--out", "out2"], work)
    assert r.returncode == 0 and (work / "out2" / "p0__s1.png").is_file(), r.stderr

    r = _run([jaxstyle_cmd, "train", "--config", "adain:tiny", "--workdir", "run2"], work)  # no data folders
    assert r.returncode == 1 and r.stderr.strip().splitlines()[-1] == (
        "error: config.data.content_dirs is not set: name the content image folders, e.g. "
        "--config.data.content_dirs=\"('my/photos',)\""), r.stderr
