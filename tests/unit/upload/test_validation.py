"""The photo validator on generated images: every bad input gets its own clear 4xx, every good one the bytes
to store (upright, HEIC converted) with width and height after orientation."""

from __future__ import annotations

import functools
import io
import random
import struct
import zlib

import pillow_heif
import pytest
from PIL import Image

from photo3d_common.errors import InvalidInput, PayloadTooLarge, Photo3DError, UnsupportedMediaType
from photo3d_upload.settings import PhotoLimits
from photo3d_upload.validation import check_photo

LIMITS = PhotoLimits(max_bytes=2 * 1024 * 1024, min_side_px=256, max_side_px=12_000, max_pixels=64_000_000)
RED, BLUE = (220, 20, 20), (20, 20, 220)


def photo(size=(640, 480), mode="RGB") -> Image.Image:
    """Noise (so encoders work for real) with a blue block in the top-left corner, to find 'up' later."""
    image = Image.merge(
        "RGB", [Image.effect_noise(size, 40).point(lambda v, o=o: min(255, v + o)) for o in (60, 40, 20)]
    )
    image.paste(BLUE, (0, 0, size[0] // 4, size[1] // 4))
    return image.convert(mode)


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def check(data: bytes, limits: PhotoLimits = LIMITS):
    return check_photo(io.BytesIO(data), limits)


def stored_image(checked) -> Image.Image:
    checked.fileobj.seek(0)
    image = Image.open(io.BytesIO(checked.fileobj.read()))
    image.load()
    return image


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` but carries almost no data: what a bomb looks like before
    decoding. Only the header is read before the dimension checks reject it."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


@functools.cache
def heic_sample() -> bytes:
    """One HEIC for the truncation tests: x265 encoding is slow."""
    pillow_heif.register_heif_opener()
    return encode(photo((320, 288)), "HEIF", quality=60)


def rejected(data: bytes, error: type[Photo3DError], code: str, limits: PhotoLimits = LIMITS) -> Photo3DError:
    with pytest.raises(error) as caught:
        check(data, limits)
    assert caught.value.code == code, caught.value.message
    assert 400 <= caught.value.status_code < 500
    return caught.value


# --- accepted ---------------------------------------------------------------------------------------------


def test_jpeg_is_stored_byte_for_byte():
    data = encode(photo(), "JPEG", quality=90)
    checked = check(data)
    assert (checked.content_type, checked.width, checked.height) == ("image/jpeg", 640, 480)
    assert checked.transformed is None
    checked.fileobj.seek(0)
    assert checked.fileobj.read() == data
    assert checked.size_bytes == len(data)
    import hashlib

    assert checked.sha256 == hashlib.sha256(data).hexdigest()


def test_png_accepted():
    checked = check(encode(photo((300, 500)), "PNG"))
    assert (checked.content_type, checked.width, checked.height) == ("image/png", 300, 500)


def test_webp_accepted():
    checked = check(encode(photo(), "WEBP", quality=80))
    assert (checked.content_type, checked.source_format) == ("image/webp", "WEBP")
    assert (checked.width, checked.height) == (640, 480)


def test_heic_accepted_and_stored_as_jpeg():
    pillow_heif.register_heif_opener()
    data = encode(photo((512, 384)), "HEIF", quality=80)
    assert data[4:12] == b"ftypheic"
    checked = check(data)
    assert checked.source_format == "HEIF"
    assert checked.content_type == "image/jpeg"
    assert "converted" in checked.transformed
    image = stored_image(checked)
    assert image.format == "JPEG" and image.size == (512, 384)
    assert image.getpixel((10, 10))[2] > 150  # the blue corner survived the conversion


def test_heic_with_transparency_is_stored_as_png():
    pillow_heif.register_heif_opener()
    rgba = photo((300, 300)).convert("RGBA")
    rgba.putalpha(128)
    checked = check(encode(rgba, "HEIF", quality=80))
    assert checked.content_type == "image/png"
    assert stored_image(checked).mode == "RGBA"


def test_heic_rotation_is_applied():
    pillow_heif.register_heif_opener()
    exif = Image.Exif()
    exif[0x0112] = 6
    checked = check(encode(photo((400, 300)), "HEIF", quality=85, exif=exif.tobytes()))
    assert (checked.width, checked.height) == (300, 400)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_exif_rotated_photo_comes_out_upright(fmt):
    # A phone held upright stores the sensor's landscape pixels plus "rotate 90 degrees clockwise" (6):
    # the blue block, top-left in the sensor image, is top-right once upright.
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "PhotoCam"  # other tags survive
    data = encode(photo((400, 300)), fmt, exif=exif.tobytes())
    checked = check(data)
    assert (checked.width, checked.height) == (300, 400)
    assert "rotated upright" in checked.transformed
    image = stored_image(checked)
    assert image.format == fmt and image.size == (300, 400)
    top_right, top_left = image.getpixel((290, 10)), image.getpixel((10, 10))
    assert top_right[2] > 150 and top_right[0] < 100, top_right
    assert top_left[2] < 150 or top_left[0] > 100, top_left
    assert image.getexif().get(0x0112, 1) == 1  # not rotated a second time by whoever reads it
    assert image.getexif().get(0x010F) == "PhotoCam"


def test_orientation_one_is_not_reencoded():
    exif = Image.Exif()
    exif[0x0112] = 1
    data = encode(photo(), "JPEG", exif=exif.tobytes())
    checked = check(data)
    assert checked.transformed is None and checked.size_bytes == len(data)


def test_the_name_does_not_matter_only_the_bytes():
    # a PNG in a file the browser calls image/jpeg, named photo.jpg: it is a PNG
    checked = check(encode(photo(), "PNG"))
    assert checked.content_type == "image/png"


# --- rejected ---------------------------------------------------------------------------------------------


def test_gif_named_jpg_is_unsupported():
    error = rejected(encode(photo(), "GIF"), UnsupportedMediaType, "unsupported_image_type")
    assert error.status_code == 415
    assert "GIF" in error.message and "JPEG, PNG, WebP or HEIC" in error.message


def test_text_file_is_unsupported():
    error = rejected(
        b"just some notes\nnot a photo at all\n" * 10, UnsupportedMediaType, "unsupported_image_type"
    )
    assert "text file" in error.message


def test_pdf_is_unsupported():
    error = rejected(
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n",
        UnsupportedMediaType,
        "unsupported_image_type",
    )
    assert "PDF" in error.message


def test_random_bytes_are_unsupported():
    rng = random.Random(7)
    rejected(bytes(rng.randrange(256) for _ in range(5000)), UnsupportedMediaType, "unsupported_image_type")


def test_empty_file():
    rejected(b"", InvalidInput, "empty_file")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_truncated_image_is_corrupt(fmt):
    data = encode(photo(), fmt)
    error = rejected(data[: len(data) * 2 // 3], Photo3DError, "image_corrupt")
    assert error.status_code == 422
    assert "truncated or corrupt" in error.message


@pytest.mark.parametrize(
    "cut", [lambda n: 200, lambda n: n // 2, lambda n: n - 50], ids=["header-only", "half", "end-missing"]
)
def test_truncated_heic_is_corrupt(cut):
    data = heic_sample()
    rejected(data[: cut(len(data))], InvalidInput, "image_corrupt")


def test_broken_png_signature_only_is_corrupt_not_unsupported():
    rejected(b"\x89PNG\r\n\x1a\n" + b"\0" * 100, InvalidInput, "image_corrupt")


def test_jpeg_missing_only_its_end_marker_is_corrupt():
    data = encode(photo(), "JPEG")
    rejected(data[:-2], InvalidInput, "image_corrupt")


def test_corrupt_jpeg_scan_data():
    data = bytearray(encode(photo(), "JPEG"))
    scan = data.find(b"\xff\xda")
    rng = random.Random(1)
    for position in range(scan + 20, len(data) - 10, 7):
        data[position] = rng.randrange(256)
    rejected(bytes(data), InvalidInput, "image_corrupt")


def test_corrupt_png_checksum():
    data = bytearray(encode(photo(), "PNG"))
    data[data.find(b"IDAT") + 40] ^= 0xFF
    rejected(bytes(data), InvalidInput, "image_corrupt")


def test_too_small():
    error = rejected(encode(photo((200, 600)), "PNG"), InvalidInput, "image_too_small")
    assert "200 x 600" in error.message and "256" in error.message


def test_too_large_dimensions():
    wide = Image.new("L", (12_500, 300), 128)
    error = rejected(encode(wide, "PNG"), InvalidInput, "image_too_large")
    assert "12500 x 300" in error.message and "12000" in error.message


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_decompression_bomb_is_rejected_before_decoding():
    # 11000 x 11000 = 121 MP: within the side limit, past the pixel limit; a few hundred bytes on disk
    data = png_header_only(11_000, 11_000)
    assert len(data) < 500
    error = rejected(data, InvalidInput, "image_too_many_pixels")
    assert "decompression bomb" in error.message


def test_pillows_own_bomb_guard_maps_to_the_same_error():
    # Past twice Pillow's MAX_IMAGE_PIXELS Image.open itself raises DecompressionBombError.
    generous = PhotoLimits(max_bytes=LIMITS.max_bytes, max_side_px=30_000, max_pixels=900_000_000)
    rejected(png_header_only(20_000, 20_000), InvalidInput, "image_too_many_pixels", generous)


def test_oversize_bytes():
    data = encode(photo(), "PNG")
    small = PhotoLimits(max_bytes=len(data) - 1)
    error = rejected(data, PayloadTooLarge, "file_too_large", small)
    assert error.status_code == 413


def test_animated_png_is_rejected():
    frames = [photo((300, 300)), photo((300, 300))]
    data = encode(frames[0], "PNG", save_all=True, append_images=frames[1:])
    rejected(data, InvalidInput, "animated_image")


# --- polyglots: whatever follows the image's end is never stored ------------------------------------------
def zip_archive() -> bytes:
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("payload.html", "<script>alert(1)</script>" * 20)
    return out.getvalue()


def _stored_bytes(checked) -> bytes:
    checked.fileobj.seek(0)
    return checked.fileobj.read()


@pytest.mark.parametrize(
    ("fmt", "options"),
    [
        ("PNG", {}),
        ("JPEG", {"quality": 90}),
        ("JPEG", {"quality": 90, "progressive": True}),
        ("WEBP", {"quality": 80}),
    ],
)
def test_data_appended_after_the_image_is_cut_off(fmt, options):
    image = encode(photo(), fmt, **options)
    checked = check(image + zip_archive())
    stored = _stored_bytes(checked)
    assert stored == image  # exactly the image, up to its end marker
    assert checked.size_bytes == len(image) and checked.transformed and "removed" in checked.transformed


def test_png_polyglot_ends_at_iend():
    checked = check(encode(photo(), "PNG") + zip_archive())
    stored = _stored_bytes(checked)
    assert stored[-12:-4] == b"\x00\x00\x00\x00IEND" and b"PK\x03\x04" not in stored


def test_jpeg_with_an_exif_thumbnail_is_not_cut_at_the_thumbnails_end():
    """The thumbnail inside APP1 has its own EOI: the cut must come after the main image's."""
    thumbnail = encode(photo((160, 120)), "JPEG")
    exif = Image.Exif()
    exif[0x010E] = "x"  # ImageDescription: an EXIF block of some substance
    main = encode(photo(), "JPEG", exif=exif.tobytes() + thumbnail)
    checked = check(main + b"trailing garbage")
    assert _stored_bytes(checked) == main


def test_an_image_with_nothing_appended_is_stored_as_uploaded():
    image = encode(photo(), "PNG")
    source = io.BytesIO(image)
    checked = check_photo(source, LIMITS)
    assert checked.fileobj is source and checked.transformed is None
