# Build stage: install the package and its dependencies into a virtual environment.
FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml README.md ./
COPY aftercare_bot ./aftercare_bot
RUN /opt/venv/bin/pip install --no-cache-dir .

# Run stage: only the environment, the editable messages and an unprivileged user.
FROM python:3.11-slim
RUN useradd --create-home --uid 10001 aftercare
COPY --from=build /opt/venv /opt/venv
COPY messages /app/messages
WORKDIR /data
RUN chown aftercare:aftercare /data
USER aftercare
ENV PATH="/opt/venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    MESSAGES_DIR=/app/messages \
    DATABASE_URL=sqlite+aiosqlite:////data/aftercare.db
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 CMD ["aftercare-bot", "health"]
# `run` applies the database migrations before it starts.
CMD ["aftercare-bot", "run"]
