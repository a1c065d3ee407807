"""Production gunicorn settings for the Veracity server: `gunicorn -c gunicorn.conf.py`.

Environment: VERACITY_BIND (default 127.0.0.1:8000, behind a TLS-terminating proxy),
WEB_CONCURRENCY (worker processes; default 2 x CPUs + 1, at most 8), VERACITY_THREADS (threads per
worker; default 1, i.e. sync workers; more means gthread), VERACITY_LOG_LEVEL (default info),
VERACITY_ACCESS_LOG (off by default), FORWARDED_ALLOW_IPS (default 127.0.0.1); docs/server.md
lists them. They are read here, not by the app's settings model, because gunicorn's master reads
this file before any app exists. The app's own settings are read by veracity_server.settings when
each worker builds the app (no preload: every worker opens its own database connections after
the fork).
"""

import multiprocessing
import os

wsgi_app = "veracity_server.app:create_app()"
bind = [os.environ.get("VERACITY_BIND", "127.0.0.1:8000")]
workers = int(os.environ.get("WEB_CONCURRENCY") or min(2 * multiprocessing.cpu_count() + 1, 8))
# One thread per worker by default: the work is CPU-bound Python plus SQLite writes serialized
# by a lock, and threads of one process fight over the GIL, so a thread holding the write lock
# waited up to the 5 ms switch interval to get it back after each statement. Measured with
# benchmarks/ingest.py (2 workers, same run): 4 threads -> 1 thread took snapshots from 14-15 %
# to 19-29 % of the baseline rate and server CPU per snapshot from 4.2 to 2.4-3.9 ms.
threads = int(os.environ.get("VERACITY_THREADS", "1"))
# With one thread, sync workers: a sync worker accepts a connection only when it is idle, so the
# load spreads over all workers. A gthread worker's main thread accepts whatever arrives, busy or
# not; with 8 keep-alive connections one of two workers often held 6-8 of them and the machine
# sat 45 % idle (/proc/stat during benchmarks/ingest.py), while sync workers left it 10 % idle.
# Sync workers close the connection after each answer: fine behind the TLS-terminating proxy,
# and a connector sends a few requests a minute. More threads (VERACITY_THREADS) mean gthread.
worker_class = "sync" if threads == 1 else "gthread"
# A sync worker that answers nothing for this long is killed. Above the slowest legitimate request:
# an S3 metadata refresh (2 attempts x (5 s connect + 10 s read), veracity_server/downloads/
# storage.py) or a SQLite busy wait (30 s, veracity_server/db.py). Ingest writers queue on
# veracity_server/db.py's write lock without a limit, so a long outside writer (a migration)
# can still run a queued one past it.
timeout = 60
graceful_timeout = 20
keepalive = 5
loglevel = os.environ.get("VERACITY_LOG_LEVEL", "info")
errorlog = "-"
# No access log by default: URLs carry no secrets, but the volume of heartbeats is noise.
accesslog = os.environ.get("VERACITY_ACCESS_LOG") or None
# Refuse absurd headers early (the body limit is the app's MAX_CONTENT_LENGTH).
limit_request_field_size = 16 * 1024
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

