"""infer.py / jaxstyle.infer: folders and globs, every content × style, skip/overwrite, bad inputs, controls."""

import pathlib
import subprocess
import sys

import numpy as np
import pytest

import jaxstyle
from jaxstyle.data.images import load_image, save_image
from jaxstyle.infer import expand_inputs, main

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture()
def inputs(tmp_path, content_photos, style_images):
    cdir, sdir = tmp_path / "photos", tmp_path / "art"
    cdir.mkdir(), sdir.mkdir()
    save_image(cdir / "a.png", content_photos[0][:48, :40])
    save_image(cdir / "b.jpg", content_photos[1][:40, :48])
    save_image(sdir / "s1.png", style_images[0])
    save_image(sdir / "s2.png", style_images[1])
    return cdir, sdir


def test_folder_batch_every_pair_then_skip_then_overwrite(inputs, tmp_path, vgg_path, capsys):
    cdir, sdir = inputs
    out = tmp_path / "out"
    (cdir / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    assert main([str(cdir)], [str(sdir / "*.png")], str(out), method="adain", max_side=None, progress=False) == 1
    err = capsys.readouterr().err
    # the broken content is read once: one error line, both of its outputs counted as failed
    assert sum(line.startswith("error:") and "broken.jpg" in line for line in err.splitlines()) == 1
    assert "4 written, 0 skipped" in err and "2 failed" in err and "compiles" in err
    names = sorted(p.name for p in out.iterdir())
    assert names == ["a__s1.png", "a__s2.png", "b__s1.png", "b__s2.png"]  # no partial files for the broken one
    assert load_image(out / "a__s1.png").shape == (48, 40, 3)
    before = (out / "a__s1.png").read_bytes()
    (cdir / "broken.jpg").unlink()
    assert main([str(cdir)], [str(sdir)], str(out), method="adain", progress=False) == 0
    assert "0 written, 4 skipped" in capsys.readouterr().err
    assert (out / "a__s1.png").read_bytes() == before
    assert main([str(cdir / "a.png")], [str(sdir / "s2.png")], str(out), method="adain", overwrite=True,
                alpha=0.0, progress=False) == 0
    assert "1 written" in capsys.readouterr().err


def test_pairs_and_missing_inputs(inputs, tmp_path):
    cdir, sdir = inputs
    with pytest.raises(ValueError, match="matches no files"):
        expand_inputs([str(cdir / "*.tif")], "content")
    with pytest.raises(ValueError, match="directory has no images"):
        (tmp_path / "empty").mkdir()
        expand_inputs([str(tmp_path / "empty")], "style")
    assert main([str(cdir)], [str(sdir / "s1.png")], str(tmp_path / "o"), pairs=True, progress=False) == 1


def test_style_interpolation_mask_and_preserve_color(inputs, tmp_path, vgg_path, capsys):
    cdir, sdir = inputs
    """The controls' effect on every method: tests/test_controls.py; here the colour transfer on its own and the
    CLI's mask file."""
    c = load_image(cdir / "a.png")
    s1 = load_image(sdir / "s1.png")
    mask = np.ones(c.shape[:2], np.float32)
    with pytest.raises(ValueError, match="exactly 2 styles"):
        jaxstyle.stylize(c, [s1, s1, s1], mask=mask, method="adain")
    from jaxstyle.ops.color import preserve_color, rgb_to_yiq

    mid = 0.3 + 0.4 * np.random.default_rng(0).random(c.shape, np.float32)  # in gamut: nothing clipped
    y = np.asarray(preserve_color(mid, 0.25 + 0.5 * c))
    np.testing.assert_allclose(rgb_to_yiq(y)[..., 1:], rgb_to_yiq(0.25 + 0.5 * c)[..., 1:], atol=1e-5)  # chroma
    np.testing.assert_allclose(rgb_to_yiq(y)[..., 0], rgb_to_yiq(mid)[..., 0], atol=1e-5)  # luminance
    save_image(tmp_path / "mask.png", np.repeat(mask[..., None], 3, -1))
    assert main([str(cdir / "a.png")], [str(sdir)], str(tmp_path / "o"), mask=str(tmp_path / "mask.png"),
                method="adain", progress=False) == 0
    assert [p.name for p in (tmp_path / "o").iterdir()] == ["a__s1+s2.png"]


def test_same_size_contents_are_batched_and_match_one_by_one(inputs, tmp_path, vgg_path):
    cdir, sdir = inputs
    save_image(cdir / "c.png", load_image(cdir / "a.png")[::-1])  # same 48x40 size as a.png
    assert main([str(cdir / "a.png"), str(cdir / "c.png")], [str(sdir / "s1.png")], str(tmp_path / "batched"),
                method="adain", progress=False) == 0
    assert main([str(cdir / "c.png")], [str(sdir / "s1.png")], str(tmp_path / "single"), method="adain",
                batch_size=1, progress=False) == 0
    np.testing.assert_allclose(load_image(tmp_path / "batched" / "c__s1.png"),
                               load_image(tmp_path / "single" / "c__s1.png"), atol=1.5 / 255)


def test_cli_bad_input_one_line_no_traceback(inputs, tmp_path):
    cdir, _ = inputs
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    out = tmp_path / "never"
    r = subprocess.run([sys.executable, "infer.py", "--content", str(cdir / "a.png"), "--style", str(bad),
                        "--out", str(out), "--method", "adain", "--max-side", "64"], cwd=REPO, capture_output=True,
                       text=True)
    assert r.returncode == 1
    lines = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "broken.jpg" in lines[0]
    assert "Traceback" not in r.stderr
    assert not out.exists() or not list(out.iterdir())


def test_video_and_regions_usage_errors_are_one_line(inputs, tmp_path, capsys):
    cdir, sdir = inputs
    out = tmp_path / "o"
    cases = [(dict(video=True), "--video takes one --style"),
             (dict(regions=[str(cdir / "a.png")]), "--regions takes two label images"),
             (dict(regions=[str(cdir / "a.png"), str(tmp_path / "missing.png")]), "missing.png")]
    for kwargs, msg in cases:
        assert main([str(cdir)], [str(sdir)], str(out), method="lst", progress=False, **kwargs) == 1
        err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
        assert len(err) == 1 and msg in err[0], err
    assert not out.exists()
