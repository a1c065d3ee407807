"""The tray app: an icon per connector state, a menu, dialogs; built on the connector engine.

`main()` runs it (the CLI's default command). Nothing here imports pystray at import time:
pystray's X backend connects to the display on import.
"""
