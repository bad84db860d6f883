"""Checks an uploaded photo and prepares the bytes to store. Pure and blocking: run it off the event loop.

What it decides, in order, each with an error a user can act on:
- the size in bytes (the request body was already capped while streaming; this is the exact check);
- the real type, from the bytes (JPEG, PNG, WebP, HEIC/HEIF), never from the file name or header;
- width and height against the limits, and width x height against the decompression-bomb limit, from the
  header, before any pixel is decoded;
- that the whole image decodes (truncated or corrupt files are rejected, PNG chunk checksums verified).

What it stores (decided here, documented in services/upload/README.md):
- a JPEG, PNG or WebP whose EXIF orientation is 1 (or absent) is stored byte for byte as uploaded, up to
  the image's end (JPEG's EOI marker, PNG's IEND chunk, the RIFF size of WebP): whatever is appended after
  it (a ZIP, a script: a "polyglot" file) is cut off, never stored or served;
- one with another orientation is turned upright (``ImageOps.exif_transpose``) and re-encoded in its own
  format, so every later stage and the browser see it the right way up without reading EXIF;
- HEIC/HEIF is converted to JPEG (PNG when it has transparency): browsers other than Safari cannot show
  HEIC, and Tencent's ai3d accepts only JPEG and PNG. libheif applies HEIF's own rotation on decode.
Width and height are always reported after orientation.
"""

from __future__ import annotations

import functools
import hashlib
import io
import tempfile
from dataclasses import dataclass
from typing import IO, cast

from PIL import Image, ImageOps, UnidentifiedImageError

from photo3d_common.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType
from photo3d_upload.settings import PhotoLimits

#: Pillow format name -> MIME type of what is accepted.
ACCEPTED_FORMATS: dict[str, str] = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "HEIF": "image/heif",
}
ACCEPTED_LABEL = "JPEG, PNG, WebP or HEIC"
ORIENTATION_TAG = 0x0112
SPOOL_IN_MEMORY_BYTES = 1024 * 1024
_HASH_CHUNK = 256 * 1024


@dataclass
class CheckedPhoto:
    """A photo that passed every check, and the file object holding exactly the bytes to store."""

    fileobj: IO[bytes]
    content_type: str
    source_format: str
    width: int
    height: int
    size_bytes: int
    sha256: str
    transformed: str | None = None  # what was done to the uploaded bytes, if anything

    def close(self) -> None:
        self.fileobj.close()


@functools.cache
def register_heif() -> None:
    """Teach Pillow to read HEIC/HEIF (once per process)."""
    import pillow_heif

    pillow_heif.register_heif_opener()


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB" if n % (1024 * 1024) else f"{n // (1024 * 1024)} MB"


def _describe(source: IO[bytes]) -> str:
    """A short name for what a rejected file really is, so the error says more than 'no'."""
    source.seek(0)
    head = source.read(4096)
    source.seek(0)
    if not head:
        return "an empty file"
    try:
        with Image.open(_Borrowed.of(source)) as other:  # any format Pillow knows, only to name it
            return f"a {other.format} image"
    except Exception:  # noqa: BLE001, S110 - naming the file is best effort; the signatures below follow
        pass
    finally:
        source.seek(0)
    signatures = {
        b"%PDF": "a PDF document",
        b"PK\x03\x04": "a ZIP archive",
        b"\x1f\x8b": "a gzip archive",
        b"<svg": "an SVG drawing",
        b"<?xml": "an XML document",
    }
    for magic, label in signatures.items():
        if head.lstrip().startswith(magic):
            return label
    if head[4:8] == b"ftyp":
        return f"an ISO media file of brand {head[8:12].decode('ascii', 'replace')!r}"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "data that is not an image"
    return "a text file"


class _Borrowed:
    """The upload's file as Pillow sees it: Pillow closes the file it read an image from (PNG's verify
    does too), but the upload must stay open to be hashed and stored afterwards."""

    def __init__(self, fileobj: IO[bytes]) -> None:
        self._fileobj = fileobj

    @classmethod
    def of(cls, fileobj: IO[bytes]) -> IO[bytes]:
        """Typed as the file it stands for: Pillow uses only read, seek, tell and close."""
        return cast(IO[bytes], cls(fileobj))

    def read(self, size: int = -1) -> bytes:
        return self._fileobj.read(size)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._fileobj.seek(offset, whence)

    def tell(self) -> int:
        return self._fileobj.tell()

    def close(self) -> None:
        pass


_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}


def _claimed_format(head: bytes) -> str | None:
    """The accepted format the first bytes announce, if any: such a file that does not open is broken,
    not of the wrong type."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "HEIF"
    return None


def _size_of(source: IO[bytes]) -> int:
    source.seek(0, io.SEEK_END)
    size = source.tell()
    source.seek(0)
    return size


def _open(source: IO[bytes], limits: PhotoLimits) -> Image.Image:
    source.seek(0)
    try:
        # Pillow raises DecompressionBombError past twice its MAX_IMAGE_PIXELS; our own, lower
        # ``max_pixels`` check runs on the header right after (warnings filters are not thread-safe, so
        # Pillow's warning band is left alone rather than turned into an error here).
        return Image.open(_Borrowed.of(source), formats=list(ACCEPTED_FORMATS))
    except Image.DecompressionBombError as error:
        raise _too_many_pixels(limits, str(error)) from error
    except UnidentifiedImageError as error:
        source.seek(0)
        claimed = _claimed_format(source.read(16))
        if claimed:
            raise _corrupt(f"starts like a {claimed} file but cannot be read as one") from error
        raise UnsupportedMediaType(
            f"the file is {_describe(source)}, not a photo: upload a {ACCEPTED_LABEL} image",
            code="unsupported_image_type",
        ) from error
    except (OSError, SyntaxError, ValueError) as error:
        raise _corrupt(str(error)) from error


def _too_many_pixels(limits: PhotoLimits, detail: str | None = None) -> InvalidInput:
    return InvalidInput(
        f"the image has too many pixels to decode safely (at most {limits.max_pixels / 1e6:.0f} megapixels): "
        "it looks like a decompression bomb, or is simply too big; upload a smaller photo",
        code="image_too_many_pixels",
        detail=detail,
    )


def _corrupt(detail: str) -> InvalidInput:
    return InvalidInput(
        "the image is truncated or corrupt and cannot be decoded: upload the photo again, or export it anew",
        code="image_corrupt",
        detail=detail,
    )


def _check_dimensions(width: int, height: int, limits: PhotoLimits) -> None:
    if width * height > limits.max_pixels:
        raise _too_many_pixels(limits, f"{width} x {height} pixels")
    if width > limits.max_side_px or height > limits.max_side_px:
        raise InvalidInput(
            f"the image is {width} x {height} pixels; each side may be at most {limits.max_side_px} pixels",
            code="image_too_large",
            detail={"width": width, "height": height, "max_side_px": limits.max_side_px},
        )
    if width < limits.min_side_px or height < limits.min_side_px:
        raise InvalidInput(
            f"the image is {width} x {height} pixels; each side must be at least {limits.min_side_px} pixels "
            "for a usable 3D model",
            code="image_too_small",
            detail={"width": width, "height": height, "min_side_px": limits.min_side_px},
        )


def _decode_fully(source: IO[bytes], limits: PhotoLimits, *, pixels_needed: bool = True) -> Image.Image:
    """Verify the container (PNG checksums), then decode all of the image data: truncation shows up only
    here. A JPEG stored as it is (``pixels_needed=False``) is decoded at an eighth of its size: libjpeg still
    reads every byte of the compressed data, so damage shows up as well, for a fraction of the work."""
    image = _open(source, limits)
    try:
        image.verify()
    except Exception as error:
        raise _corrupt(f"{type(error).__name__}: {error}") from error
    finally:
        image.close()
    image = _open(source, limits)
    try:
        if not pixels_needed and image.format in {"JPEG", "MPO"}:
            image.draft("RGB", (max(1, image.width // 8), max(1, image.height // 8)))
        image.load()
    except Image.DecompressionBombError as error:
        image.close()
        raise _too_many_pixels(limits, str(error)) from error
    except Exception as error:
        image.close()
        raise _corrupt(f"{type(error).__name__}: {error}") from error
    return image


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in {"RGBA", "LA", "PA", "RGBa", "La"} or (
        image.mode == "P" and "transparency" in image.info
    )


def _encode(image: Image.Image, fmt: str, limits: PhotoLimits, *, icc: bytes | None) -> IO[bytes]:
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES)  # noqa: SIM115 - returned open
    options: dict[str, object] = {}
    if icc:
        options["icc_profile"] = icc
    exif = image.getexif()
    if exif:
        exif.pop(ORIENTATION_TAG, None)  # upright now: a stale tag would rotate it twice
        options["exif"] = exif.tobytes()
    if fmt == "JPEG":
        if image.mode not in {"RGB", "L", "CMYK"}:
            image = image.convert("RGB")
        image.save(out, format="JPEG", quality=limits.jpeg_quality, optimize=True, **options)
    elif fmt == "WEBP":
        image.save(out, format="WEBP", quality=limits.jpeg_quality, method=4, **options)
    else:
        image.save(out, format="PNG", compress_level=6, **options)
    out.seek(0)
    return out


def _png_end(data: bytes) -> int | None:
    """Offset just past the IEND chunk (8-byte signature, then length, type, data, CRC per chunk)."""
    position = 8
    while position + 8 <= len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        chunk_type = data[position + 4 : position + 8]
        position += 12 + length
        if chunk_type == b"IEND":
            return position if position <= len(data) else None
    return None


def _jpeg_end(data: bytes) -> int | None:
    """Offset just past the EOI marker: segments are walked by their lengths (an EXIF thumbnail's own EOI
    lies inside one), entropy-coded scan data up to the next marker that is not a stuffed byte or RSTn."""
    position = 2  # after SOI
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker == 0xD9:
            return position + 2
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # no length field
            position += 2
            continue
        position += 2 + int.from_bytes(data[position + 2 : position + 4], "big")
        if marker != 0xDA:  # not start of scan: the next segment follows
            continue
        while True:  # scan data: to the next real marker
            found = data.find(b"\xff", position)
            if found < 0 or found + 1 >= len(data):
                return None
            following = data[found + 1]
            if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
                position = found + 1 if following == 0xFF else found + 2
                continue
            position = found
            break
    return None


def _webp_end(data: bytes) -> int | None:
    """The RIFF container says its own size (little-endian, after 'RIFF'), padded to an even length."""
    size = int.from_bytes(data[4:8], "little")
    end = 8 + size + (size & 1)
    return min(end, len(data)) if end >= 12 else None


_IMAGE_END = {"PNG": _png_end, "JPEG": _jpeg_end, "WEBP": _webp_end}


def _without_trailing_data(source: IO[bytes], fmt: str) -> tuple[IO[bytes], int] | None:
    """A copy of ``source`` cut at the image's end, and how many bytes were cut; None when nothing follows
    the image (or its end cannot be found: the decoder accepted it, so it is stored as it is)."""
    find_end = _IMAGE_END.get(fmt)
    if find_end is None:
        return None
    source.seek(0)
    data = source.read()
    source.seek(0)
    end = find_end(data)
    if end is None or end >= len(data):
        return None
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES)  # noqa: SIM115 - returned open
    out.write(data[:end])
    out.seek(0)
    return out, len(data) - end


def _digest(fileobj: IO[bytes]) -> tuple[str, int]:
    fileobj.seek(0)
    digest = hashlib.sha256()
    size = 0
    while chunk := fileobj.read(_HASH_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    fileobj.seek(0)
    return digest.hexdigest(), size


def check_photo(source: IO[bytes], limits: PhotoLimits) -> CheckedPhoto:
    """Check ``source`` (a seekable file object) and return what to store. Raises a Photo3DError (4xx).

    The returned ``fileobj`` is ``source`` itself when the upload is stored unchanged, else a new spooled
    temporary file the caller closes (``CheckedPhoto.close``).
    """
    register_heif()
    size = _size_of(source)
    if size == 0:
        raise InvalidInput("the file is empty: choose a photo to upload", code="empty_file")
    if size > limits.max_bytes:
        raise PayloadTooLarge(
            f"the file is {_mib(size)}; photos may be at most {_mib(limits.max_bytes)}",
            code="file_too_large",
            detail={"size_bytes": size, "max_bytes": limits.max_bytes},
        )

    with _open(source, limits) as header:  # header only: nothing decoded yet
        fmt = header.format or ""
        if fmt == "MPO":  # a JPEG with extra pictures (some cameras): its first picture is a JPEG
            fmt = "JPEG"
        _check_dimensions(*header.size, limits)
        if fmt in {"PNG", "WEBP"} and getattr(header, "is_animated", False):
            raise InvalidInput(
                "the image is animated: upload a still photo", code="animated_image", detail={"format": fmt}
            )
        size_of_image = header.size
        # a JPEG's EXIF is in its header (other formats may keep it after the image data: not read here)
        stored_as_is = fmt == "JPEG" and header.getexif().get(ORIENTATION_TAG, 1) not in range(2, 9)

    # Only a photo that is re-encoded (turned upright, converted) needs its pixels at full size.
    image = _decode_fully(source, limits, pixels_needed=not stored_as_is)
    try:
        orientation = image.getexif().get(ORIENTATION_TAG, 1)
        icc = image.info.get("icc_profile")
        if fmt == "HEIF":
            target = "PNG" if _has_alpha(image) else "JPEG"
            transformed: str | None = f"converted from HEIF to {target}"
        elif orientation in range(2, 9):  # 1 is upright; anything else is not a valid orientation
            target = fmt
            transformed = f"rotated upright (EXIF orientation {orientation})"
        else:
            target, transformed = fmt, None

        if transformed is None:
            width, height = size_of_image
            fileobj = source
            content_type = ACCEPTED_FORMATS[fmt]
            if (cut := _without_trailing_data(source, fmt)) is not None:
                fileobj, trailing = cut
                transformed = f"{trailing} bytes after the image's end removed"
        else:
            upright = ImageOps.exif_transpose(image)
            width, height = upright.size
            fileobj = _encode(upright, target, limits, icc=icc)
            content_type = ACCEPTED_FORMATS[target]
    finally:
        image.close()

    sha256, stored_size = _digest(fileobj)
    return CheckedPhoto(
        fileobj=fileobj,
        content_type=content_type,
        source_format=fmt,
        width=width,
        height=height,
        size_bytes=stored_size,
        sha256=sha256,
        transformed=transformed,
    )
