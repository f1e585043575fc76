# The bot as one container: `civicbot serve`, as a non-root user, data in /data.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# The locked versions first (a layer of their own, rebuilt only when the lock changes), then
# the project without resolving again, built by the locked setuptools (no build isolation:
# nothing unpinned is fetched): the image is the same whenever it is built. The base image is
# a tag; pin it by digest (python:3.11-slim@sha256:…) where builds must match bit for bit.
COPY requirements-s3.lock requirements-build.lock ./
RUN pip install --require-hashes -r requirements-s3.lock -r requirements-build.lock
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
COPY locales ./locales
RUN pip install --no-deps --no-build-isolation . \
    && useradd --create-home --uid 10001 civicbot \
    && mkdir -p /data/media && chown -R civicbot:civicbot /data

USER civicbot
# Inside a container the server (and /metrics, if METRICS_PORT is set) must listen beyond
# loopback; SQLite (and its generated SECRET_KEY) and residents' photos live in the /data
# volume unless set elsewhere.
ENV HOST=0.0.0.0 \
    PORT=8080 \
    METRICS_HOST=0.0.0.0 \
    DATABASE_URL=sqlite+aiosqlite:////data/civicbot.db \
    MEDIA_DIR=/data/media
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"
CMD ["civicbot", "serve"]
