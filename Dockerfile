# Any Debian-based image with Python 3.11+ at `python` works; pin a digest here for reproducible builds.
ARG PYTHON_IMAGE=python:3.11-slim

# Build stage: install the package (its wheel carries a copy of messages/) and its dependencies into a venv.
FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml README.md ./
COPY aftercare_bot ./aftercare_bot
COPY messages ./messages
# pip and setuptools are only needed to install; leaving them out of the venv keeps the image smaller.
RUN /opt/venv/bin/pip install --no-cache-dir . \
    && /opt/venv/bin/pip uninstall --yes --quiet pip setuptools

# Run stage: only the environment, the editable messages and an unprivileged user.
FROM ${PYTHON_IMAGE}
RUN useradd --create-home --uid 10001 aftercare
COPY --from=build /opt/venv /opt/venv
COPY messages /app/messages
WORKDIR /data
RUN chown aftercare:aftercare /data
USER aftercare
# SQLite in /data suits a single container; for several replicas set DATABASE_URL to PostgreSQL.
# HEALTH_PORT serves /healthz in polling mode; in webhook mode WEBHOOK_PORT (also 8080) serves both.
ENV PATH="/opt/venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    MESSAGES_DIR=/app/messages \
    DATABASE_URL=sqlite+aiosqlite:////data/aftercare.db \
    HEALTH_PORT=8080
VOLUME ["/data"]
EXPOSE 8080
# `aftercare-bot health` asks the running bot's /healthz: the database answers and the dispatcher ticks.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["aftercare-bot", "health", "--timeout", "5"]
# On SIGTERM the bot stops taking updates and finishes the messages being sent within SHUTDOWN_TIMEOUT
# (8s), inside Docker's default 10s grace; raise both together (docker stop -t / stop_grace_period).
STOPSIGNAL SIGTERM
# `run` applies the database migrations, then takes updates by polling, or by webhook when WEBHOOK_URL is set.
CMD ["aftercare-bot", "run"]
