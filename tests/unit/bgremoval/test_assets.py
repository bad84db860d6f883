"""The `make setup-assets` hook of bgremoval: installs u2netp, refuses a configured model it cannot get."""

from __future__ import annotations

import shutil

import pytest

from photo3d_bgremoval.assets import ensure_assets
from photo3d_bgremoval.model_files import is_installed
from photo3d_bgremoval.remover import ModelFileMissing


def test_ensure_assets_installs_the_default_model(settings, tmp_path):
    ensure_assets(settings.model_copy(update={"model_dir": tmp_path}))
    assert is_installed(tmp_path)
    ensure_assets(settings.model_copy(update={"model_dir": tmp_path}))  # again: a no-op
    assert is_installed(tmp_path)


def test_ensure_assets_names_a_configured_model_file_it_cannot_install(settings, tmp_path, model_dir):
    shutil.copy(model_dir / "u2netp.onnx", tmp_path / "u2netp.onnx")  # no download needed for u2netp
    with pytest.raises(ModelFileMissing, match=r"birefnet-general\.onnx"):
        ensure_assets(settings.model_copy(update={"model_dir": tmp_path, "model_name": "birefnet-general"}))
