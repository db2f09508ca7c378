"""The README is a user guide whose commands and links hold: its two set-up commands are what CI runs, every
relative link resolves, every ``jaxstyle <command>`` it shows exists, and every shipped model has a card."""

import pathlib
import re

REPO = pathlib.Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def test_readme_set_up_commands_are_what_ci_runs():
    readme = (REPO / "README.md").read_text()
    block = re.search(r"### Set up for development\n\n```bash\n(.*?)```", readme, re.S).group(1).splitlines()
    assert block == ['python -m pip install -e ".[test]"', "python -m pytest -q"]
    ci = (REPO / ".ci" / "run").read_text()
    assert block[0] in ci.splitlines() and f"CI=true {block[1]}" in ci
    assert len(readme.splitlines()) <= 230  # a guide, not a log: details live in docs/


def test_relative_links_resolve():
    for doc in DOCS:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text()):
            if "://" not in target:
                assert (doc.parent / target).exists(), f"{doc.relative_to(REPO)} links to missing {target}"


def test_commands_shown_exist_and_every_model_has_a_card():
    from jaxstyle.cli import COMMANDS
    from jaxstyle.registry import PRETRAINED

    for doc in DOCS:
        blocks = "\n".join(re.findall(r"```bash\n(.*?)```", doc.read_text(), re.S))
        for cmd in re.findall(r"(?m)^\s*jaxstyle (\w+)", blocks):
            assert cmd in COMMANDS, f"{doc.name} shows `jaxstyle {cmd}`"
        assert "python train.py --config" not in doc.read_text() or doc.name == "CHANGELOG.md"
    for method in PRETRAINED:
        card = (REPO / "docs" / "models" / f"{method}.md").read_text()
        for part in ("## Reproduce", "licen"):
            assert part in card, f"{method}.md lacks {part!r}"
