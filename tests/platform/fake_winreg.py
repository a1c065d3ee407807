"""An in-memory stand-in for the `winreg` module, with the same calls and errors we use."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

HKEY_CURRENT_USER = 0x80000001
KEY_READ = 0x20019
KEY_SET_VALUE = 0x0002
REG_SZ = 1


@dataclass
class _Key:
    store: dict[str, tuple[Any, int]] = field(default_factory=dict)

    def __enter__(self) -> _Key:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class FakeRegistry:
    """Keys by (hive, path); values by name; FileNotFoundError where Windows raises it."""

    HKEY_CURRENT_USER = HKEY_CURRENT_USER
    KEY_READ = KEY_READ
    KEY_SET_VALUE = KEY_SET_VALUE
    REG_SZ = REG_SZ

    def __init__(self) -> None:
        self.keys: dict[tuple[int, str], _Key] = {}
        self.calls: list[str] = []

    def OpenKey(self, hive: int, path: str, reserved: int = 0,
                access: int = KEY_READ) -> _Key:
        self.calls.append(f"OpenKey {path}")
        try:
            return self.keys[(hive, path.lower())]
        except KeyError:
            raise FileNotFoundError(2, "The system cannot find the file specified") from None

    def CreateKeyEx(self, hive: int, path: str, reserved: int = 0,
                    access: int = KEY_SET_VALUE) -> _Key:
        self.calls.append(f"CreateKeyEx {path}")
        return self.keys.setdefault((hive, path.lower()), _Key())

    def QueryValueEx(self, key: _Key, name: str) -> tuple[Any, int]:
        try:
            return key.store[name]
        except KeyError:
            raise FileNotFoundError(2, "The system cannot find the file specified") from None

    def SetValueEx(self, key: _Key, name: str, reserved: int, kind: int,
                   value: Any) -> None:
        assert kind == REG_SZ and isinstance(value, str)
        key.store[name] = (value, kind)

    def DeleteValue(self, key: _Key, name: str) -> None:
        try:
            del key.store[name]
        except KeyError:
            raise FileNotFoundError(2, "The system cannot find the file specified") from None
