"""Render deploy/nginx/veracity.conf.template: the one nginx config of every Veracity topology.

    python deploy/nginx_config.py --listen 0.0.0.0:8443 \
        --upstream veracity-1:8000 --upstream veracity-2:8000 \
        --certificate /certs/veracity.pem --certificate-key /certs/veracity.key \
        --output /nginx/nginx.conf

docker-compose.yml runs that command (its `nginx-config` service) and the topology test calls
`render_nginx_config` with loopback addresses, so both run the same file. The body limit is
read from VERACITY_MAX_CONTENT_LENGTH with the server's own parser, so nginx and the app always
agree on it. A placeholder left unfilled, or an unknown one, is an error, not a silent blank.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent / "nginx" / "veracity.conf.template"
PLACEHOLDER = re.compile(r"\{\{ *([a-z_]+) *\}\}")
# Two failures within this window take an instance out of rotation for the same time.
UPSTREAM_MAX_FAILS = 2
UPSTREAM_FAIL_TIMEOUT_S = 5


def upstream_server_lines(upstreams: Sequence[str]) -> str:
    """The `server host:port ...;` lines of the upstream block."""
    if not upstreams:
        raise ValueError("at least one upstream (host:port) is needed")
    return "\n".join(f"        server {address} max_fails={UPSTREAM_MAX_FAILS} "
                     f"fail_timeout={UPSTREAM_FAIL_TIMEOUT_S}s;" for address in upstreams)


def server_body_limit(environ: Mapping[str, str]) -> int:
    """VERACITY_MAX_CONTENT_LENGTH as the server parses it (its default when unset)."""
    from veracity_server.settings import parse_variable

    limit: int = parse_variable("VERACITY_MAX_CONTENT_LENGTH",
                                environ.get("VERACITY_MAX_CONTENT_LENGTH"))
    return limit


def render_nginx_config(*, listen: str, upstreams: Sequence[str], certificate: str | Path,
                        certificate_key: str | Path, max_body_bytes: int,
                        error_log: str = "/dev/stderr", access_log: str = "/dev/stdout",
                        temp_dir: str | Path = "/var/cache/nginx",
                        worker_processes: str = "auto", server_name: str = "_") -> str:
    """The nginx.conf text for these addresses, certificate and limits."""
    values = {
        "listen": listen, "upstream_servers": upstream_server_lines(upstreams),
        "certificate": str(certificate), "certificate_key": str(certificate_key),
        "max_body_bytes": str(int(max_body_bytes)), "error_log": error_log,
        "access_log": access_log, "temp_dir": str(temp_dir),
        "worker_processes": worker_processes, "server_name": server_name,
    }
    template = TEMPLATE.read_text(encoding="utf-8")
    unknown = sorted(set(PLACEHOLDER.findall(template)) - set(values))
    if unknown:
        raise ValueError(f"{TEMPLATE.name} has placeholders nobody fills: {', '.join(unknown)}")
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Render Veracity's nginx.conf.")
    parser.add_argument("--listen", required=True, help="address:port nginx listens on (TLS)")
    parser.add_argument("--upstream", action="append", required=True, dest="upstreams",
                        help="a gunicorn instance, host:port (repeat for each)")
    parser.add_argument("--certificate", required=True, help="TLS certificate (PEM)")
    parser.add_argument("--certificate-key", required=True, help="its private key (PEM)")
    parser.add_argument("--temp-dir", default="/var/cache/nginx",
                        help="folder for nginx's buffered bodies")
    parser.add_argument("--server-name", default="_", help="nginx server_name")
    parser.add_argument("--output", required=True, type=Path, help="nginx.conf to write")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Render the template with the given addresses into --output."""
    arguments = _parser().parse_args(argv)
    text = render_nginx_config(
        listen=arguments.listen, upstreams=arguments.upstreams,
        certificate=arguments.certificate, certificate_key=arguments.certificate_key,
        max_body_bytes=server_body_limit(os.environ), temp_dir=arguments.temp_dir,
        server_name=arguments.server_name)
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
