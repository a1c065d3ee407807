"""The documents stand on their own: every relative link resolves inside the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md")),
             *sorted(REPO_ROOT.glob("installer/windows/*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_relative_link_resolves_inside_the_repository(document: Path) -> None:
    for target in LINK.findall(document.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto: ...
        resolved = (document.parent / target).resolve()
        assert resolved.is_relative_to(REPO_ROOT), f"{document.name} links outside: {target}"
        assert resolved.exists(), f"{document.name} links to a missing {target}"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_no_document_points_at_a_design_file_outside_the_repository(document: Path) -> None:
    text = document.read_text(encoding="utf-8")
    for outside in ("DESIGN.md", "/work/shared", "../shared/"):
        assert outside not in text, f"{document.name} points at {outside}"


def test_the_architecture_names_every_part_and_links_the_contract() -> None:
    architecture = (REPO_ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    for part in ("contract", "client", "server", "simulator", "release"):
        assert f"`{part}/`" in architecture
    assert "(contract.md)" in architecture
