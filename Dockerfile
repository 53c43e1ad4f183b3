# Junction server image (see docs/deployment.md).
#
#   docker build -t junction .
#   docker run --rm -p 8080:8080 -v junction-data:/data junction              # embedded: API + workers, SQLite in /data
#   docker run --rm junction serve --no-worker --host 0.0.0.0 --database-url postgresql://…   # API only
#   docker run --rm --no-healthcheck junction worker --database-url postgresql://…           # workers only
#
# One image for every role: the arguments after the image name are `junction` subcommands.

# --- build: install the package and its dependencies into a self-contained venv ---------
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/junction
WORKDIR /build
# Only what the wheel needs (pyproject names README.md as the package's readme).
COPY pyproject.toml README.md ./
COPY src ./src
RUN /opt/junction/bin/pip install .

# --- runtime -----------------------------------------------------------------------------
FROM python:3.11-slim
ENV PATH=/opt/junction/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    JUNCTION_DATA_DIR=/data
# A fixed numeric uid/gid so Kubernetes' runAsNonRoot can verify it.
RUN groupadd --system --gid 10001 junction \
 && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home \
            --shell /usr/sbin/nologin junction \
 && mkdir -p /data \
 && chown 10001:10001 /data
COPY --from=build /opt/junction /opt/junction
USER 10001:10001
WORKDIR /data
EXPOSE 8080
# `serve` answers GET /healthz. A `worker` serves no HTTP: run it with --no-healthcheck
# (compose: `healthcheck: {disable: true}`). Follows JUNCTION_PORT if you change the port
# that way; a --port flag needs a matching healthcheck override.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('JUNCTION_PORT', '8080'), timeout=4)"]
ENTRYPOINT ["junction"]
CMD ["serve", "--host", "0.0.0.0"]
