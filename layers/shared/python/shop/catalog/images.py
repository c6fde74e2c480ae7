"""Product pictures, pure: what an upload may be, and the sizes the pages show (no I/O).

An upload is decoded with Pillow, refused unless it is a JPEG, PNG or WebP within the byte and
pixel limits (a decompression bomb is refused before its pixels are decoded), turned upright by
its EXIF orientation, and re-encoded as two WebP renditions: ``thumbnail`` for the storefront's
grid and ``detail`` for the product page. Re-encoding from pixels keeps no metadata (EXIF, XMP,
ICC profile, comments) of the upload.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

#: The content types an upload may declare (and the formats Pillow must find in it).
CONTENT_TYPES: dict[str, str] = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
#: The largest upload accepted, in bytes (the presigned POST's content-length-range says the same).
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
#: The most pixels an upload may decode to: 40 MP (8000 x 5000). Pillow warns above this and
#: raises at twice it; both are refusals here.
MAX_PIXELS = 40_000_000
#: The renditions: name → the box the picture is fitted into (aspect ratio kept, never enlarged).
RENDITIONS: dict[str, tuple[int, int]] = {"thumbnail": (480, 480), "detail": (1200, 1200)}
RENDITION_TYPE = "image/webp"
WEBP_QUALITY = 82

Image.MAX_IMAGE_PIXELS = MAX_PIXELS


class RejectedImage(ValueError):
    """The upload is not a picture we keep; the message says why, for the admin."""


@dataclass(frozen=True)
class Rendition:
    name: str
    data: bytes
    width: int
    height: int
    content_type: str = RENDITION_TYPE


def allowed_types_text() -> str:
    return "JPEG, PNG or WebP"


def check_declared(content_type: str, size: int) -> None:
    """Refuse an upload by what it says it is, before it is sent."""
    if content_type not in CONTENT_TYPES:
        raise RejectedImage(f"{content_type or 'this type'} is not accepted: upload a {allowed_types_text()} image")
    if size > MAX_UPLOAD_BYTES:
        raise RejectedImage(f"the file is {mib(size)}; an image may be at most {mib(MAX_UPLOAD_BYTES)}")
    if size <= 0:
        raise RejectedImage("the file is empty")


def mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"


def render(data: bytes) -> list[Rendition]:
    """The renditions of an uploaded picture, or :class:`RejectedImage` saying what is wrong with it."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise RejectedImage(f"the file is {mib(len(data))}; an image may be at most {mib(MAX_UPLOAD_BYTES)}")
    if not data:
        raise RejectedImage("the file is empty")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as opened:
                kind = opened.format or ""
                if kind not in CONTENT_TYPES.values():
                    raise RejectedImage(f"the file is a {kind} image; upload a {allowed_types_text()} image")
                if opened.width * opened.height > MAX_PIXELS:
                    raise RejectedImage(f"the image is {opened.width} x {opened.height} pixels; "
                                        f"at most {MAX_PIXELS // 1_000_000} megapixels are accepted")
                opened.load()
                upright = ImageOps.exif_transpose(opened)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise RejectedImage(f"the image has too many pixels ({exc})") from exc
        except UnidentifiedImageError as exc:
            raise RejectedImage(f"the file is not an image: upload a {allowed_types_text()} image") from exc
        except RejectedImage:
            raise
        except (OSError, SyntaxError, ValueError) as exc:
            raise RejectedImage(f"the image could not be read ({exc})") from exc
    pixels = _pixels_only(upright)
    return [_rendition(pixels, name, box) for name, box in RENDITIONS.items()]


def _pixels_only(image: Image.Image) -> Image.Image:
    """RGB (RGBA when the picture has transparency) with nothing of the upload's metadata."""
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    mode = "RGBA" if has_alpha else "RGB"
    converted = image.convert(mode)
    clean = Image.new(mode, converted.size)
    clean.paste(converted)
    return clean


def _rendition(image: Image.Image, name: str, box: tuple[int, int]) -> Rendition:
    sized = image.copy()
    sized.thumbnail(box, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    sized.save(out, "WEBP", quality=WEBP_QUALITY, method=4)
    return Rendition(name=name, data=out.getvalue(), width=sized.width, height=sized.height)
