# syntax=docker/dockerfile:1
# elizabus in two stages: the builder installs the dependencies into a virtualenv, the runtime
# copies that virtualenv beside the source and runs it as an unprivileged user.
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /build
# Only pyproject.toml first, so that a code change reuses the dependency layer. The dependencies
# are installed without the project itself: the app runs from its source tree (/app), where
# settings find templates/, static/ and var/ beside the code.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > requirements.txt \
    && pip install --requirement requirements.txt

# The elizaOS web UI (npm @elizaos/client, pinned in elizabus/conf.py), fetched and checked
# against the registry's integrity as `make ui` does, kept outside var/ (a volume).
FROM builder AS ui
COPY . /build/src
RUN cd /build/src && ELIZABUS_VAR_DIR=/tmp/var ELIZABUS_UI_DIR=/opt/elizabus-ui \
        DJANGO_SECRET_KEY=build-only python manage.py fetch_ui

FROM python:${PYTHON_VERSION}-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ELIZABUS_VAR_DIR=/app/var \
    ELIZABUS_UI_DIR=/opt/elizabus-ui
RUN groupadd --system elizabus \
    && useradd --system --gid elizabus --home-dir /app --no-create-home --shell /usr/sbin/nologin elizabus
COPY --from=builder /opt/venv /opt/venv
COPY --from=ui /opt/elizabus-ui /opt/elizabus-ui
WORKDIR /app
# The code stays root-owned and read-only to the server; only var/ (the embedded SQLite database
# and collected static files) is its to write.
COPY . .
RUN mkdir -p /app/var && chown elizabus:elizabus /app/var
USER elizabus
EXPOSE 8000
# The default command (manage.py serve on 0.0.0.0:8000) lives in the entrypoint, where it is
# tested.
# Run through sh so that the script needs no executable bit in the build context.
ENTRYPOINT ["sh", "/app/docker/entrypoint.sh"]
