"""Run folders may be cloud URIs: ``gs://bucket/run`` reaches orbax and the log writers unchanged (through
``etils.epath``), a local path is made absolute."""

import json
import os

import numpy as np


def test_a_uri_is_never_rewritten_and_a_local_path_becomes_absolute(tmp_path, monkeypatch):
    from jaxstyle import _io, checkpoint

    assert str(_io.run_path("gs://bucket/run")) == "gs://bucket/run"
    assert str(_io.run_path("gs://bucket/run") / "checkpoints") == "gs://bucket/run/checkpoints"
    monkeypatch.chdir(tmp_path)
    assert str(_io.run_path("runs/x")) == str(tmp_path / "runs" / "x")

    seen = []

    class Recorder:
        def __init__(self, directory, options=None):
            seen.append(str(directory))

    monkeypatch.setattr(checkpoint.ocp, "CheckpointManager", Recorder)
    checkpoint.make_manager("gs://bucket/run", keep=2, every_steps=10)
    checkpoint.make_manager("runs/x", keep=2, every_steps=10)
    assert seen == ["gs://bucket/run/checkpoints", str(tmp_path / "runs" / "x" / "checkpoints")]


def test_the_remote_writer_path_rewrites_jsonl_and_copies_samples(tmp_path, monkeypatch):
    """The branch a URI takes (object stores cannot append or rename), run on a local folder through epath."""
    from jaxstyle import metrics

    monkeypatch.setattr(metrics, "is_remote", lambda path: True)
    w = metrics.MetricWriter(tmp_path / "run")
    w.write_scalars(1, {"loss": 2.0})
    w.write_scalars(2, {"loss": 1.5})
    w.write_images(2, "grid", np.full((8, 8, 3), 0.5, np.float32))
    w.close()
    again = metrics.MetricWriter(tmp_path / "run")  # a resumed run keeps the earlier rows
    again.write_scalars(3, {"loss": 1.0})
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3] and rows[1]["loss"] == 1.5
    assert sorted(os.listdir(tmp_path / "run" / "samples")) == ["grid_0000002.png"]
    assert not (tmp_path / "run" / "tb").exists()
