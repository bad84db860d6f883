"""``photo3d remove-background`` (photo3d_bgremoval.cli.main): files written, errors reported per file."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from photo3d_bgremoval.cli import main
from tests.support.photos import blank_photo, make_photo


@pytest.fixture
def env(settings, monkeypatch):
    """The CLI reads BGREMOVAL_* like the service: point it at the installed model."""
    monkeypatch.setenv("BGREMOVAL_MODEL_NAME", "u2netp")
    monkeypatch.setenv("BGREMOVAL_MODEL_DIR", str(settings.model_dir))
    monkeypatch.setenv("BGREMOVAL_NUMBA_CACHE_DIR", str(settings.numba_cache_dir))


def test_writes_one_rgba_png_per_photo(env, tmp_path, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "front.jpg").write_bytes(make_photo("vase", size=(640, 480), seed=1).jpeg())
    (inputs / "mug shot.png").write_bytes(make_photo("mug", background="busy", size=(640, 480)).png())
    out = tmp_path / "out" / "nested"

    code = main([str(inputs / "front.jpg"), str(inputs / "mug shot.png"), "--out", str(out)])

    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["front.png", "mug shot.png"]
    for path in out.iterdir():
        image = Image.open(path)
        assert image.format == "PNG" and image.mode == "RGBA"
        a = np.asarray(image.getchannel("A"))
        assert a[0, 0] == 0 and a[a.shape[0] // 2, a.shape[1] // 2] > 240  # transparent corner, solid middle
    assert "front.png" in capsys.readouterr().out


def test_failures_are_reported_per_file_and_the_rest_is_still_written(env, tmp_path, capsys):
    good = tmp_path / "box.jpg"
    good.write_bytes(make_photo("box", size=(640, 480)).jpeg())
    empty = tmp_path / "left.jpg"
    buffer = io.BytesIO()
    blank_photo((640, 480)).save(buffer, format="JPEG")
    empty.write_bytes(buffer.getvalue())
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"definitely not a JPEG")
    missing = tmp_path / "missing.jpg"
    out = tmp_path / "out"

    code = main([str(empty), str(broken), str(missing), str(good), "--out", str(out)])

    assert code == 1
    assert [p.name for p in out.iterdir()] == ["box.png"]
    err = capsys.readouterr().err
    assert f"{empty}: error: no object found in the left photo" in err
    assert f"{broken}: error: the photo could not be read as an image" in err
    assert f"{missing}: error: cannot read it" in err
    assert "3 of 4 photo(s) failed" in err


def test_a_missing_model_fails_every_photo_with_the_install_hint(env, tmp_path, capsys):
    photo = tmp_path / "front.jpg"
    photo.write_bytes(make_photo("vase", size=(320, 240)).jpeg())
    code = main(
        [
            str(photo),
            str(photo.with_name("back.jpg")),
            "--out",
            str(tmp_path / "out"),
            "--model-dir",
            str(tmp_path / "no-models"),
        ]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "model_files install" in err and "2 of 2 photo(s) failed" in err
    assert not (tmp_path / "out" / "front.png").exists()


def test_two_inputs_with_one_name_are_refused_before_any_work(env, tmp_path, capsys):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    code = main(
        [str(tmp_path / "a" / "front.jpg"), str(tmp_path / "b" / "front.png"), "--out", str(tmp_path / "o")]
    )
    assert code == 2
    assert "both be written to front.png" in capsys.readouterr().err


def test_missing_out_argument_is_a_usage_error(env, tmp_path):
    with pytest.raises(SystemExit) as caught:
        main([str(tmp_path / "x.jpg")])
    assert caught.value.code == 2
