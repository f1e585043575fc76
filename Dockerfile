# The bot as one container: `civicbot serve`, as a non-root user, data in /data.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
COPY locales ./locales
RUN pip install . \
    && useradd --create-home --uid 10001 civicbot \
    && mkdir /data && chown civicbot:civicbot /data

USER civicbot
# Inside a container the server must listen beyond loopback; SQLite (and its generated
# SECRET_KEY) live in the /data volume unless DATABASE_URL points elsewhere.
ENV HOST=0.0.0.0 \
    PORT=8080 \
    DATABASE_URL=sqlite+aiosqlite:////data/civicbot.db
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"
CMD ["civicbot", "serve"]
