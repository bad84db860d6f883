"""``photo3d remove-background PHOTO... --out DIR``: the service's cut-out path on local files.

Each photo becomes ``DIR/<name>.png`` (replacing an earlier one) (RGBA, object centred with a margin), made with the same
``BGREMOVAL_*`` settings as the service. A photo that fails is reported and skipped; the others are still
written, and the exit status is 1 when any failed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from photo3d_common.errors import Photo3DError
from photo3d_common.events import VIEWS

from .remover import BackgroundRemovalSettings, BackgroundRemover, prepare_process


def _view_of(path: Path) -> str | None:
    """A file named after a view (front.jpg, left.png, ...) gets that view's name in messages."""
    return path.stem if path.stem in VIEWS else None


def build_parser(prog: str = "photo3d remove-background") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Remove the background of photos: writes OUT/<name>.png, RGBA, the object centred with a "
        "margin. Settings come from BGREMOVAL_* environment variables, as in the service.",
    )
    parser.add_argument("photos", nargs="+", type=Path, metavar="PHOTO", help="JPEG, PNG, WebP, ... files")
    parser.add_argument("--out", "-o", type=Path, required=True, metavar="DIR", help="output directory")
    parser.add_argument(
        "--model", default=None, help="rembg model name (default: $BGREMOVAL_MODEL_NAME or u2netp)"
    )
    parser.add_argument("--model-dir", type=Path, default=None, help="directory holding <model>.onnx")
    parser.add_argument("--max-side", type=int, default=None, help="cap on the longer side in pixels")
    parser.add_argument(
        "--margin", type=float, default=None, help="margin per side, fraction of the object size"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    overrides = {
        key: value
        for key, value in {
            "model_name": args.model,
            "model_dir": args.model_dir,
            "max_side_px": args.max_side,
            "margin_fraction": args.margin,
        }.items()
        if value is not None
    }
    try:
        settings = BackgroundRemovalSettings(**overrides)
    except ValueError as exc:
        print(f"error: invalid settings: {exc}", file=sys.stderr)
        return 2

    # two inputs with one stem would silently overwrite each other's output
    stems: dict[str, Path] = {}
    for photo in args.photos:
        if photo.stem in stems:
            print(
                f"error: {photo} and {stems[photo.stem]} would both be written to {photo.stem}.png",
                file=sys.stderr,
            )
            return 2
        stems[photo.stem] = photo

    args.out.mkdir(parents=True, exist_ok=True)
    prepare_process(settings)
    return asyncio.run(_remove_all(BackgroundRemover(settings), args.photos, args.out))


async def _remove_all(remover: BackgroundRemover, photos: list[Path], out: Path) -> int:
    failures = 0
    for index, photo in enumerate(photos):
        target = out / f"{photo.stem}.png"
        started = time.perf_counter()
        try:
            data = photo.read_bytes()
            result = await remover.remove(data, view=_view_of(photo))
        except OSError as exc:
            print(f"{photo}: error: cannot read it: {exc.strerror or exc}", file=sys.stderr)
            failures += 1
            continue
        except Photo3DError as exc:
            print(f"{photo}: error: {exc.message}", file=sys.stderr)
            failures += 1
            # the model itself is unusable: every further photo would fail the same way
            if exc.code in ("model_file_missing", "model_load_failed", "unsupported_model"):
                failures += len(photos) - index - 1
                break
            continue
        partial = target.with_name(f".{target.name}.partial")
        partial.write_bytes(result.png)
        partial.replace(target)
        elapsed = time.perf_counter() - started
        print(f"{photo} -> {target} ({result.width}x{result.height}, {elapsed:.2f} s)")
    if failures:
        print(f"{failures} of {len(photos)} photo(s) failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
