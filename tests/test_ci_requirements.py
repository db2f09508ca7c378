"""In CI a missing test requirement (``../shared``, the VGG cache, torch) fails the test; locally it skips."""

import pytest

import conftest


@pytest.mark.parametrize("in_ci, outcome", [(True, pytest.fail.Exception), (False, pytest.skip.Exception)])
def test_a_missing_requirement_fails_in_ci_and_skips_locally(monkeypatch, in_ci, outcome):
    monkeypatch.setattr(conftest, "IN_CI", in_ci)
    with pytest.raises(outcome, match="no_such_photo.jpg missing"):
        conftest._photo("content", "no_such_photo.jpg", 32)
    with pytest.raises(outcome, match="no_such_module is not importable"):
        conftest.require_module("no_such_module")


def test_ci_script_sets_ci():
    """``.ci/run`` runs the README's test command with ``CI=true``."""
    run = (conftest.pathlib.Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert "CI=true python -m pytest -q" in run
