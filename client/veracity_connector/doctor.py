"""`ibkr-connector doctor`: every check that explains why syncing does not work, with a fix.

Checks, in order: settings, credential store and key, gateway folder, Java, the gateway port,
the gateway session (reachable, logged in), Veracity reachable, key accepted. It never spends a
pairing token and never changes the key: key validity is checked with an ordinary heartbeat,
and a refused key is reported, not deleted.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

import requests

from veracity_connector.credentials import CredentialError, open_credential_store
from veracity_connector.gateway import GatewayClient, Pacer
from veracity_connector.gateway_folder import inspect_gateway_folder
from veracity_connector.pairing import device_description
from veracity_connector.proxies import proxy_problem, request_proxies
from veracity_connector.settings import Folders, Settings
from veracity_connector.state import GatewayState
from veracity_connector.veracity_api import (
    KeyRevoked,
    VeracityClient,
    VeracityError,
    VeracityRedirected,
    VeracityUnavailable,
    answered_by,
)


@dataclass(frozen=True)
class Check:
    """One check's result: level ok | warn | fail, what was found, how to fix it."""

    name: str
    level: str
    detail: str
    fix: str = ""


def run_doctor(settings: Settings, folders: Folders) -> list[Check]:
    """Run every check; never raises for a failed check."""
    key, checks = _local(settings, folders)
    gateway_check, gateway_state, gateway_message = _gateway(settings, folders)
    checks += gateway_check
    checks += _veracity(settings, key, gateway_state, gateway_message)
    from veracity_connector.history.flex_doctor import flex_checks

    checks += flex_checks(settings, folders)  # contacts IBKR's Flex service only if set up
    return checks


def local_checks(settings: Settings, folders: Folders, *, key: bool = True) -> list[Check]:
    """The checks of this computer alone (settings, key unless `key=False`, gateway folder,
    Java): quick, no network, nothing sent to the gateway or Veracity. The running connector
    reports them with its heartbeats (veracity_connector/health.py); the gateway session and
    Veracity's answer it knows from its own work, and its key from its own key keeper."""
    return _local(settings, folders, with_key=key)[1]


def _local(settings: Settings, folders: Folders,
           with_key: bool = True) -> tuple[str | None, list[Check]]:
    checks: list[Check] = [Check("settings", "ok", f"{folders.settings_file} "
                                 f"({'found' if folders.settings_file.exists() else 'defaults'})")]
    key = None
    if with_key:
        key, key_check = _key(settings, folders)
        checks.append(key_check)
    checks += _gateway_folder(settings)
    return key, checks


def _key(settings: Settings, folders: Folders) -> tuple[str | None, Check]:
    try:
        store = open_credential_store(settings.key_store, folders.data_dir)
        key = store.get()
    except CredentialError as error:
        return None, Check("key", "fail", str(error), "see the message above")
    if key is None:
        return None, Check("key", "fail", f"not paired (no key in the {store.description})",
                           "generate a token in Veracity (Profile → IBKR Integration), then run "
                           "`ibkr-connector pair TOKEN`")
    return key, Check("key", "ok", f"a key is stored in the {store.description}")


def _gateway_folder(settings: Settings) -> list[Check]:
    if not settings.gateway_dir:
        return [Check("gateway folder", "warn", "not set (only needed to start the gateway "
                      "from the tray app)", "set IBKR_GATEWAY_DIR or choose it in the tray app")]
    report = inspect_gateway_folder(settings.gateway_dir)
    checks: list[Check] = []
    if not report.ok:
        checks.append(Check("gateway folder", "fail", " ".join(report.problems),
                            "download clientportal.gw.zip from IBKR, unzip it and choose that "
                            "folder"))
    else:
        checks.append(Check("gateway folder", "ok", f"{report.folder} (run script "
                            f"{report.run_script.name if report.run_script else '-'})"))
        address = settings.gateway_address()
        if report.listen is not None and report.listen.port != address.port:
            checks.append(Check(
                "gateway port", "fail",
                f"conf.yaml says listenPort {report.listen.port}, the connector uses "
                f"{address.port}",
                f"set IBKR_GATEWAY_URL={report.listen.url} (or the tray's Settings) so both use "
                "the same port"))
    checks.append(Check("java", "ok", str(report.java)) if report.java else
                  Check("java", "warn", "no Java found (JAVA_HOME or PATH)", report.java_hint))
    return checks


def _gateway(settings: Settings, folders: Folders) -> tuple[list[Check], GatewayState, str]:
    address = settings.gateway_address()
    try:
        with socket.create_connection((address.host, address.port), timeout=3):
            pass
    except OSError:
        message = f"nothing listens on {address.host}:{address.port}"
        return [Check("gateway port", "fail", message,
                      "start the IBKR gateway (bin/run.bat root/conf.yaml in its folder), or "
                      "set IBKR_GATEWAY_URL to the port in its conf.yaml")], \
            GatewayState.UNREACHABLE, message
    checks = [Check("gateway port", "ok", f"something listens on {address.port}")]
    # The shared pacing file: a running connector may have just tickled.
    pacer = Pacer(state_path=folders.data_dir / "pacing.json",
                  backoff_initial_s=settings.rate_limit_backoff_s)
    gateway = GatewayClient(address, pacer, timeout_s=settings.gateway_timeout_s)
    try:
        session = gateway.check_session()
    finally:
        gateway.close()
    if session.ok:
        checks.append(Check("gateway session", "ok", "reachable and logged in"))
    else:
        fix = {
            GatewayState.UNAUTHENTICATED: f"open {address.base_url} in a browser on this "
                                          "machine and log in (with 2FA)",
            GatewayState.COMPETING: "close the other IBKR session (TWS, mobile, another "
                                    f"browser) or log in again at {address.base_url}",
            GatewayState.UNREACHABLE: "check that this port is the IBKR gateway (listenPort in "
                                      "root/conf.yaml) and that it uses https",
        }.get(session.state, "wait a few minutes; if it persists, restart the gateway")
        checks.append(Check("gateway session", "fail", f"{session.state}: {session.message}",
                            fix))
    return checks, session.state, session.message


def _veracity(settings: Settings, key: str | None, gateway_state: GatewayState,
              gateway_message: str) -> list[Check]:
    if not settings.veracity_url:
        return [Check("veracity", "fail", "the Veracity URL is not set",
                      "set VERACITY_URL (or pass --veracity-url to `pair`)")]
    try:
        # Never followed: a redirect means the address is not Veracity's own.
        response = requests.get(f"{settings.veracity_url}/healthz", timeout=10,
                                allow_redirects=False,
                                proxies=request_proxies(settings.proxy))
        reachable = 200 <= response.status_code < 300
        detail = (f"a redirect to {response.headers.get('Location')}: check the Veracity "
                  "address" if response.is_redirect else answered_by(response))
    except requests.RequestException as error:
        reachable, detail = False, proxy_problem(error) or error.__class__.__name__
    if not reachable:
        return [Check("veracity", "fail", f"{settings.veracity_url} unreachable ({detail})",
                      "check the address and your internet connection or proxy")]
    checks = [Check("veracity", "ok", f"{settings.veracity_url} reachable")]
    if key is None:
        return checks
    client = VeracityClient(settings.veracity_url, timeout_s=settings.veracity_timeout_s,
                            retries=0, proxy=settings.proxy)
    body = {"connector_version": device_description()["connector_version"], "uptime_s": 0,
            "last_snapshot_at": None,
            "gateway": {"state": gateway_state.value, "message": gateway_message[:500],
                        "port": settings.gateway_address().port}}
    try:
        client.heartbeat(key, body)
        checks.append(Check("key accepted", "ok", "Veracity accepts the stored key"))
    except KeyRevoked:
        checks.append(Check("key accepted", "fail", "Veracity refuses the stored key (revoked "
                            "or unknown)", "generate a new token in Veracity and run "
                            "`ibkr-connector pair TOKEN`"))
    except VeracityRedirected as error:
        checks.append(Check("key accepted", "fail", error.message,
                            "set the exact Veracity address (https://…) in Settings"))
    except VeracityUnavailable as error:
        checks.append(Check("key accepted", "fail", f"{error.message}; the key is kept",
                            "something between this computer and Veracity answered instead "
                            "(proxy, captive portal, firewall): check the network and proxy"))
    except VeracityError as error:
        checks.append(Check("key accepted", "fail", error.message,
                            "try again later; if it persists, contact Veracity support"))
    finally:
        client.close()
    return checks
