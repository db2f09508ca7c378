"""Hostile but realistic input to infer.py, train.py and the API: one clear error line naming the input and the
fix, a non-zero exit, no traceback, nothing lost, nothing overwritten, no leftovers."""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import jaxstyle
from jaxstyle.data.images import save_image
from jaxstyle.infer import expand_inputs, main, plan, unique_names

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture()
def art(tmp_path, style_images):
    sdir = tmp_path / "art"
    sdir.mkdir()
    save_image(sdir / "s.png", style_images[0])
    return sdir


def _errors(capsys) -> list[str]:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return [line for line in err.splitlines() if line.startswith("error:")]


def test_same_file_names_in_different_folders_get_their_own_outputs(tmp_path, art, content_photos, capsys):
    for i, d in enumerate(("a", "b")):
        (tmp_path / d).mkdir()
        save_image(tmp_path / d / "photo.png", content_photos[i][:48, :40])
    save_image(tmp_path / "b" / "photo.jpg", content_photos[1][:40, :48])  # same stem, same folder
    out = tmp_path / "out"
    assert main([str(tmp_path / "a"), str(tmp_path / "b")], [str(art)], str(out), method="adain",
                progress=False, overwrite=True) == 0
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.png")) == [
        "a/photo__s.png", "b/photo__s.png", "photo.jpg__s.png"]
    assert "3 written" in capsys.readouterr().err
    a, b = (np.asarray(jaxstyle.data.images.load_image(out / p)) for p in ("a/photo__s.png", "b/photo__s.png"))
    assert np.abs(a - b).mean() > 0.01  # two contents, two different results: none replaced the other


def test_unique_names_keep_only_as_much_of_the_path_as_needed(tmp_path):
    p = [tmp_path / "x" / "img" / "a.png", tmp_path / "y" / "img" / "a.png", tmp_path / "y" / "b.png"]
    assert list(unique_names(p).values()) == ["x/img/a", "y/img/a", "b"]
    styles = [tmp_path / "u" / "s.png", tmp_path / "v" / "s.png"]
    jobs = plan([p[2]], styles, tmp_path / "o")
    assert [j.out.name for j in jobs] == ["b__u-s.png", "b__v-s.png"]


@pytest.mark.parametrize("case", ["file", "under_file", "unwritable"])
def test_bad_out_folder_is_one_line_before_any_image(tmp_path, art, content_photos, capsys, case):
    save_image(tmp_path / "c.png", content_photos[0][:48, :40])
    (tmp_path / "f").write_text("x")
    if case == "unwritable":
        if os.geteuid() == 0:  # root writes anywhere but /sys refuses new folders
            out, why = "/sys/jaxstyle-out/new", "cannot create the folder"
        else:
            (tmp_path / "ro").mkdir(mode=0o555)
            out, why = str(tmp_path / "ro" / "new"), "cannot create the folder"
    else:
        out = str(tmp_path / "f") if case == "file" else str(tmp_path / "f" / "sub")
        why = "is a file, not a folder" if case == "file" else "a part of the path is a file"
    # --method nosuch would be reported before; a real method shows the check comes before any model work
    assert main([str(tmp_path / "c.png")], [str(art)], out, method="adain", progress=False) == 1
    (line,) = _errors(capsys)
    assert line.startswith(f"error: --out {out}: {why}") and "pass a folder" in line or "write to" in line


def test_workdir_that_is_a_file_is_one_line(tmp_path, tiny_config):
    from jaxstyle.train import train_and_evaluate

    (tmp_path / "wd").write_text("x")
    with pytest.raises(ValueError, match=r"--workdir .*wd: is a file, not a folder; pass a folder path"):
        train_and_evaluate(tiny_config("adain"), tmp_path / "wd")
    with pytest.raises(ValueError, match=r"a part of the path is a file"):
        train_and_evaluate(tiny_config("adain"), tmp_path / "wd" / "run")
    r = subprocess.run([sys.executable, str(REPO / "train.py"), "--config", str(REPO / "configs" / "adain.py:tiny"),
                        "--workdir", str(tmp_path / "wd"),
                        f"--config.data.content_dirs=('{tiny_config().data.content_dirs[0]}',)",
                        f"--config.data.style_dirs=('{tiny_config().data.style_dirs[0]}',)"],
                       cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith(f"error: --workdir {tmp_path / 'wd'}: is a file")


def test_a_killed_writes_leftover_is_removed_and_never_an_input(tmp_path, art, content_photos, capsys):
    cdir, out = tmp_path / "photos", tmp_path / "out"
    cdir.mkdir()
    save_image(cdir / "c.png", content_photos[0][:48, :40])
    out.mkdir()
    left = out / ".c__s.k3x9q_a1.tmp.png"  # what atomic_path leaves when the process dies mid-write
    left.write_bytes(b"\x89PNG half written")
    (cdir / ".c.zz.tmp.png").write_bytes(b"\x89PNG half written")  # a leftover among the inputs
    assert expand_inputs([str(cdir)], "content") == [cdir / "c.png"]
    assert main([str(cdir)], [str(art)], str(out), method="adain", progress=False) == 0
    assert sorted(p.name for p in out.iterdir()) == ["c__s.png"]


def test_an_existing_path_with_glob_characters_is_itself(tmp_path, art, content_photos, capsys):
    odd = tmp_path / "photo[1].png"
    save_image(odd, content_photos[0][:48, :40])
    assert expand_inputs([str(odd)], "content") == [odd]
    assert main([str(odd)], [str(art)], str(tmp_path / "o"), method="adain", progress=False) == 0
    assert [p.name for p in (tmp_path / "o").iterdir()] == ["photo[1]__s.png"]
    with pytest.raises(ValueError, match=r"the pattern matches no files"):
        expand_inputs([str(tmp_path / "nothing[12].png")], "content")


def test_out_equal_to_the_content_folder_never_restylizes_its_outputs(tmp_path, art, content_photos, capsys):
    cdir = tmp_path / "photos"
    cdir.mkdir()
    save_image(cdir / "c.png", content_photos[0][:48, :40])
    for _ in range(2):
        assert main([str(cdir)], [str(art)], str(cdir), method="adain", progress=False) == 0
    assert sorted(p.name for p in cdir.iterdir()) == ["c.png", "c__s.png"]
    assert "0 written, 1 skipped" in capsys.readouterr().err
    # the same for styles: --out equal to the style folder
    jobs = plan([cdir / "c.png"], [art / "s.png", art / "c__s.png", art / "c__c__s.png"], art)
    assert [j.out.name for j in jobs] == ["c__s.png"]


def test_messages_name_the_input_and_the_flag(tmp_path, art, content_photos, capsys):
    cdir = tmp_path / "photos"
    cdir.mkdir()
    for name, size in (("a.png", 24), ("b.png", 48), ("c.png", 24)):
        save_image(cdir / name, content_photos[0][:size, :size])
    # a.png and c.png are too small for the GNN's patch grid: each is named once, b.png still runs
    assert main([str(cdir)], [str(art)], str(tmp_path / "o"), method="gnn", progress=False) == 1
    lines = _errors(capsys)
    assert len(lines) == 2 and all("too small" in line for line in lines)
    assert [line.startswith(f"error: {cdir / n} with style") for n, line in zip(("a.png", "c.png"), lines)] == [True, True]
    assert [p.name for p in (tmp_path / "o").iterdir()] == ["b__s.png"]
    # an unknown method and a bad --max_side: once, as the flag, before any image
    assert main([str(cdir)], [str(art)], str(tmp_path / "o"), method="nosuch", progress=False) == 1
    assert _errors(capsys) == ["error: unknown method 'nosuch'; available: adaattn, adain, gnn, lst, style_kernel"]
    assert main([str(cdir)], [str(art)], str(tmp_path / "o"), method="adain", max_side=0, progress=False) == 1
    assert _errors(capsys) == ["error: --max_side 0: must be a whole number of pixels, at least 16"]


@pytest.mark.parametrize("array, match", [
    (np.where(np.arange(32 * 32 * 3).reshape(32, 32, 3) % 7, 0.5, np.nan), r"content: 439 of 3072 values are NaN"),
    (np.full((32, 32, 3), np.inf), r"3072 of 3072 values are infinite"),
    (np.full((32, 32, 3), "a"), r"got an array of <U1 values; pass float RGB"),
    ([[0.5, 0.5], [0.5]], r"not an image array"),
    (np.full((32, 32, 3), 1.5), r"values must be in \[0, 1\] \(got range 1.5..1.5\); clip or rescale"),
])
def test_bad_arrays_get_one_clear_message(array, match):
    from jaxstyle.api import _as_images

    with pytest.raises(ValueError, match=match):
        _as_images(array, "content")


def test_train_config_typo_is_one_plain_line(tmp_path):
    r = subprocess.run([sys.executable, str(REPO / "train.py"), "--config", str(REPO / "configs" / "adain.py:tiny"),
                        "--workdir", str(tmp_path / "x"), "--config.optim.lrr=3"], cwd=REPO, capture_output=True,
                       text=True)
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1
    assert r.stderr.strip() == ('error: --config.optim.lrr: unknown config key (did you mean "lr" instead of "lrr"?); '
                                "check its spelling in the config file")


def test_train_config_by_name_and_an_unknown_name(tmp_path):
    """``--config adain:tiny`` names the shipped config from any folder; an unknown name lists the shipped ones."""
    from jaxstyle.configs import NAMES, config_file

    assert config_file("gnn:cpu") == str(REPO / "jaxstyle" / "configs" / "gnn.py") + ":cpu"
    assert config_file("configs/gnn.py:cpu") == "configs/gnn.py:cpu"  # a path stays a path
    assert set(NAMES) == {p.stem for p in (REPO / "jaxstyle" / "configs").glob("*.py")} - {"__init__", "common"}
    r = subprocess.run([sys.executable, str(REPO / "train.py"), "--config", "nosuch:tiny", "--workdir",
                        str(tmp_path / "x")], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert r.stderr.strip().endswith("name a shipped config (adain, adaattn, gnn, lst, style_kernel) or a config file")
