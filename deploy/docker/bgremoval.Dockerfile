# syntax=docker/dockerfile:1.7
# The background-removal worker (rembg + onnxruntime). The u2netp model file and numba's compiled cache
# are baked into the image at build time (`photo3d_bgremoval.assets.ensure_assets`), so a container never
# downloads anything and starts in seconds.
#   docker build -f deploy/docker/bgremoval.Dockerfile -t photo3d/bgremoval .

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ghcr.io/astral-sh/uv:0.13.9 AS uv

FROM ${PYTHON_IMAGE} AS build
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
COPY pyproject.toml uv.lock ./
COPY libs/common/pyproject.toml libs/common/pyproject.toml
COPY services/status/pyproject.toml services/status/pyproject.toml
COPY services/upload/pyproject.toml services/upload/pyproject.toml
COPY services/bgremoval/pyproject.toml services/bgremoval/pyproject.toml
COPY services/generation/pyproject.toml services/generation/pyproject.toml
COPY deploy/devstack/pyproject.toml deploy/devstack/pyproject.toml
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace --package photo3d-bgremoval
COPY libs libs
COPY services services
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package photo3d-bgremoval
# model file + numba cache, at the paths the runtime settings below point to
ENV BGREMOVAL_MODEL_DIR=/app/models/u2net BGREMOVAL_NUMBA_CACHE_DIR=/app/cache/numba ORT_DISABLE_TELEMETRY=1
RUN /app/.venv/bin/python -c "from photo3d_bgremoval.assets import ensure_assets; ensure_assets()"

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 photo3d && useradd --system --uid 10001 --gid photo3d --home /app photo3d
COPY --from=build /app/.venv /app/.venv
COPY --from=build --chown=photo3d:photo3d /app/models /app/models
COPY --from=build --chown=photo3d:photo3d /app/cache /app/cache
WORKDIR /app
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1 LOG_FORMAT=json ORT_DISABLE_TELEMETRY=1 \
    BGREMOVAL_MODEL_DIR=/app/models/u2net BGREMOVAL_NUMBA_CACHE_DIR=/app/cache/numba NUMBA_CACHE_DIR=/app/cache/numba
USER photo3d
CMD ["python", "-m", "photo3d_bgremoval"]
