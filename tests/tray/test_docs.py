"""docs/tray.md names the menu and the states word for word, and nothing that does not exist."""

from __future__ import annotations

import re
from pathlib import Path

from client.state import ConnectorState
from client.tray import menu as menu_labels
from client.tray.presentation import STATE_LABELS

DOCS = Path(__file__).resolve().parents[2] / "docs" / "tray.md"
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
