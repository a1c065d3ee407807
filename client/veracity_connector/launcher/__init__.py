"""The gateway launcher: start/stop IBKR's gateway from its folder, follow its conf.yaml.

Public interface: `GatewayLauncher` (start, stop, restart, is_running, move_to_free_port;
`GatewayStopError` when a stop leaves a process alive),
`ConfFollower` (keeps the connector's gateway URL in step with conf.yaml), `read_listen_settings`
/ `set_listen_port` (conf.yaml), `identify_port_occupant` / `PortOccupant`, `find_java`.
"""

from veracity_connector.launcher.conf_file import (
    GatewayConfError,
    ListenSettings,
    read_listen_settings,
    set_listen_port,
)
from veracity_connector.launcher.follower import ConfFollower
from veracity_connector.launcher.java import JAVA_HINT, find_java
from veracity_connector.launcher.ports import PortOccupant, find_free_port, identify_port_occupant
from veracity_connector.launcher.process import (
    GatewayLauncher,
    GatewayStopError,
    LaunchError,
    LaunchResult,
    PortTakenError,
)

__all__ = ["JAVA_HINT", "ConfFollower", "GatewayConfError", "GatewayLauncher", "GatewayStopError",
           "LaunchError",
           "LaunchResult", "ListenSettings", "PortOccupant", "PortTakenError", "find_free_port",
           "find_java", "identify_port_occupant", "read_listen_settings", "set_listen_port"]
