# One image for every service of the local topology (docker-compose.yml): the Veracity server,
# the IBKR gateway simulator and the headless connector. Installs exactly the versions CI tested.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# openssl makes the development TLS certificate for nginx (compose `certs`).
RUN apt-get update \
    && apt-get install -y --no-install-recommends openssl \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY constraints.txt gunicorn.conf.py ./
COPY contract contract
COPY server server
COPY client client
COPY simulator simulator
# nginx's config template and its renderer (the compose `nginx-config` service).
COPY deploy deploy
# The server's, the simulator's and the headless connector's distributions, each on its own.
RUN pip install -c constraints.txt ./contract ./server ./simulator ./client

RUN useradd --create-home --uid 10001 veracity \
    && mkdir -p /data /certs /shared \
    && chown veracity:veracity /data /certs /shared
USER veracity
