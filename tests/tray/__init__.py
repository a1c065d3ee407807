"""Tests of the tray app, its menu model, icons and dialogs."""
