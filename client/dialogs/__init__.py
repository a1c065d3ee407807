"""The tray's dialogs (tkinter, standard library): token, gateway folder, settings, status.

All of them run on the `DialogHost` thread (see host.py); their widgets are attributes so tests
can drive them on an X display (Xvfb) exactly as a person would.
"""

from client.dialogs.folder_dialog import FolderDialog
from client.dialogs.host import DialogHost, DialogHostStopped
from client.dialogs.info_dialogs import MessageDialog, StatusWindow
from client.dialogs.settings_dialog import SettingsDialog
from client.dialogs.token_dialog import TokenDialog, check_token_form, describe_outcome

__all__ = ["DialogHost", "DialogHostStopped", "FolderDialog", "MessageDialog", "SettingsDialog",
           "StatusWindow", "TokenDialog", "check_token_form", "describe_outcome"]
