"""The tray's dialogs (tkinter, standard library): token, gateway folder, settings, status.

All of them run on the `DialogHost` thread (see host.py); their widgets are attributes so tests
can drive them on an X display (Xvfb) exactly as a person would.
"""

from veracity_connector.dialogs.folder_dialog import FolderDialog
from veracity_connector.dialogs.host import DialogHost, DialogHostStopped
from veracity_connector.dialogs.info_dialogs import MessageDialog, StatusWindow
from veracity_connector.dialogs.settings_dialog import SettingsDialog
from veracity_connector.dialogs.token_dialog import TokenDialog, check_token_form, describe_outcome

__all__ = ["DialogHost", "DialogHostStopped", "FolderDialog", "MessageDialog", "SettingsDialog",
           "StatusWindow", "TokenDialog", "check_token_form", "describe_outcome"]
