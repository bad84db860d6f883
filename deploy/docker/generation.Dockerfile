# syntax=docker/dockerfile:1.7
# The generation worker: Hunyuan 3D (Tencent Cloud ai3d or a self-hosted Hunyuan3D-2 server) or the
# built-in CPU reconstructor. Provider credentials come from the environment (GENERATION_*), never the image.
#   docker build -f deploy/docker/generation.Dockerfile -t photo3d/generation .

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
    uv sync --frozen --no-dev --no-install-workspace --package photo3d-generation
COPY libs libs
COPY services services
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package photo3d-generation

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 photo3d && useradd --system --uid 10001 --gid photo3d --home /app photo3d
COPY --from=build /app/.venv /app/.venv
WORKDIR /app
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1 LOG_FORMAT=json
USER photo3d
CMD ["python", "-m", "photo3d_generation"]
