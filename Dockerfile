# One image for every service of the local topology (docker-compose.yml): the Veracity server,
# the IBKR gateway simulator and the headless connector. Installs exactly the versions CI tested.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# openssl makes the development TLS certificate for the Veracity service (compose `certs`).
RUN apt-get update \
    && apt-get install -y --no-install-recommends openssl \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml constraints.txt README.md gunicorn.conf.py ./
COPY server server
COPY client client
COPY simulator simulator
COPY release release
RUN pip install -c constraints.txt '.[server,client,simulator]'

RUN useradd --create-home --uid 10001 veracity \
    && mkdir -p /data /certs /shared \
    && chown veracity:veracity /data /certs /shared
USER veracity
