"""docs/tray.md names the menu and the states word for word, and nothing that does not exist."""

from __future__ import annotations

import re
from pathlib import Path

from veracity_connector.state import ConnectorState
from veracity_connector.tray import menu as menu_labels
from veracity_connector.tray.presentation import STATE_LABELS

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCS = REPO_ROOT / "docs" / "tray.md"
README = REPO_ROOT / "README.md"
PLACEHOLDERS = {"{state}": "&lt;state&gt;", "{time}": "&lt;time&gt;",
                "{version}": "&lt;version&gt;"}


def as_documented(label: str) -> str:
    for placeholder, shown in PLACEHOLDERS.items():
        label = label.replace(placeholder, shown)
    return f"**{label}**"


def menu_table() -> str:
    text = DOCS.read_text(encoding="utf-8")
    return text.split("## The menu", 1)[1].split("\n## ", 1)[0]


def test_every_menu_label_is_documented_word_for_word() -> None:
    text = DOCS.read_text(encoding="utf-8")
    missing = [label for label in menu_labels.ALL_LABELS if as_documented(label) not in text]
    assert missing == []


def test_the_menu_table_lists_only_real_items_in_menu_order() -> None:
    rows = re.findall(r"^\| \*\*(.+?)\*\* \|", menu_table(), flags=re.MULTILINE)
    documented = [as_documented(label) for label in menu_labels.ALL_LABELS
                  if label != menu_labels.START_AT_LOGIN]  # mentioned within its Windows row
    assert [f"**{row}**" for row in rows] == documented


def test_every_state_is_explained() -> None:
    text = DOCS.read_text(encoding="utf-8")
    assert [state for state in ConnectorState
            if f"**{STATE_LABELS[state].rstrip('…')}" not in text] == []


def test_the_readme_user_guide_has_the_same_menu_table() -> None:
    """The README's tray guide repeats docs/tray.md's menu table, so it must match it exactly."""
    readme = README.read_text(encoding="utf-8")
    guide = readme.split("### The tray menu", 1)[1].split("\n### ", 1)[0]
    assert guide.strip() == menu_table().strip()
    missing = [label for label in menu_labels.ALL_LABELS if as_documented(label) not in guide]
    assert missing == []
