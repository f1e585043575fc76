"""A resident's image made safe to keep: decoded and drawn again by Pillow.

Re-encoding is the privacy step: nothing of the original file survives but its pixels — no
EXIF (the phone's GPS position, model, the time it was taken), no other metadata, no
trailing bytes. It also defuses malformed files, and limits on bytes and pixels refuse
decompression bombs before any pixel is decoded.
"""

from __future__ import annotations

import hashlib
import io
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

from handlers.types import Picture

MAX_BYTES = 10 * 1024 * 1024  # what we fetch at most; a phone's photo is 2–6 MB
MAX_PIXELS = 40_000_000  # 40 megapixels: more than any phone camera, less than a bomb
FORMATS = {"JPEG", "PNG", "WEBP"}
LONG_SIDE = 2048  # kept at most this wide or tall: enough to see a broken pipe
QUALITY = 85
# What Pillow raises for a file that is not an image it can read, or a broken one.
UNREADABLE = (
    UnidentifiedImageError,
    OSError,
    ValueError,
    SyntaxError,
)


class ImageRefused(Exception):
    """Why an image cannot be kept; `key` names the catalogue message that says so."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def clean(data: bytes) -> Picture:
    """The image re-encoded as a JPEG with no metadata; ImageRefused if it is not one we take.
    CPU work: call it through asyncio.to_thread."""
    if len(data) > MAX_BYTES:
        raise ImageRefused("photo.too_big")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as opened:  # reads the header only
                if opened.format not in FORMATS:
                    raise ImageRefused("photo.wrong_kind")
                width, height = opened.size
                if width * height > MAX_PIXELS:
                    raise ImageRefused("photo.too_many_pixels")
                drawn = _redraw(opened)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise ImageRefused("photo.too_many_pixels") from error
        except UNREADABLE as error:
            raise ImageRefused("photo.not_an_image") from error
    out = io.BytesIO()
    drawn.save(out, "JPEG", quality=QUALITY, optimize=True)
    encoded = out.getvalue()
    return Picture(
        data=encoded,
        key=hashlib.sha256(encoded).hexdigest() + ".jpg",
        width=drawn.width,
        height=drawn.height,
    )


def _redraw(opened: Image.Image) -> Image.Image:
    """The pixels turned the way the camera meant (EXIF orientation), flattened on white,
    scaled down to LONG_SIDE; a new image, so no metadata comes along."""
    upright = ImageOps.exif_transpose(opened)  # decodes the pixels: truncated files fail here
    if upright.mode in ("RGBA", "LA", "PA") or "transparency" in upright.info:
        rgba = upright.convert("RGBA")
        flat = Image.new("RGB", rgba.size, "white")
        flat.paste(rgba, mask=rgba.getchannel("A"))
    else:
        flat = upright.convert("RGB")
    flat.thumbnail((LONG_SIDE, LONG_SIDE))
    bare = Image.new("RGB", flat.size)
    bare.paste(flat)
    return bare
