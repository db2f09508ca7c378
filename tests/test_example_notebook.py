"""The quick-start notebook runs as written at a small size (its code cells in order, as a kernel would)."""

import json
import pathlib

from conftest import require_module

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def test_quickstart_notebook_runs(tmp_path, monkeypatch, vgg_path):
    require_module("skimage")
    nb = json.loads((EXAMPLES / "quickstart.ipynb").read_text())
    assert nb["nbformat"] == 4
    cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c["outputs"] for c in cells)  # committed without outputs
    monkeypatch.setenv("JAXSTYLE_EXAMPLE_SIZE", "64")
    monkeypatch.setenv("JAXSTYLE_EXAMPLE_OUT", str(tmp_path / "out"))
    monkeypatch.chdir(tmp_path)
    scope: dict = {"__name__": "__main__"}
    for i, cell in enumerate(cells):
        exec(compile("".join(cell["source"]), f"quickstart.ipynb[{i}]", "exec"), scope)
    written = {p.name for p in (tmp_path / "out").glob("*.png")}
    assert {f"{m}.png" for m in ("gnn", "adain", "adaattn", "lst", "style_kernel")} <= written
    assert {"alpha_half.png", "preserve_color.png", "mixed.png", "stylizer_0.png", "stylizer_1.png"} <= written
    assert max(scope["results"]["adain"].shape[:2]) == 64
