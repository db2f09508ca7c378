"""infer.py: one content file + one style file -> one output file; bad input gives one error line."""

import pathlib
import subprocess
import sys

import pytest

from jaxstyle.data.images import load_image, save_image
from jaxstyle.infer import main

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture()
def pair(tmp_path, content_photos, style_images):
    c = save_image(tmp_path / "c.png", content_photos[0][:48, :40])
    s = save_image(tmp_path / "s.jpg", style_images[0])
    return c, s


def test_writes_output_and_refuses_to_overwrite(pair, tmp_path, vgg_path, capsys):
    c, s = pair
    out = tmp_path / "out" / "c__s.png"
    assert main(str(c), str(s), str(out), max_side=None) == 0
    img = load_image(out)
    assert img.shape == (48, 40, 3)
    before = out.read_bytes()
    assert main(str(c), str(s), str(out)) == 1
    err = capsys.readouterr().err
    assert "already exists" in err and "--overwrite" in err
    assert out.read_bytes() == before


def test_cli_bad_input_one_line_no_traceback(pair, tmp_path):
    c, _ = pair
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    out = tmp_path / "never.png"
    r = subprocess.run([sys.executable, "infer.py", "--content", str(c), "--style", str(bad), "--out", str(out)],
                       cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 1
    lines = [l for l in r.stderr.splitlines() if l.startswith("error:")]
    assert len(lines) == 1 and "broken.jpg" in lines[0]
    assert "Traceback" not in r.stderr
    assert not out.exists() and not list(tmp_path.glob(".never*"))
