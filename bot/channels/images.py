"""A resident's image made safe to keep: decoded and drawn again by Pillow.

Re-encoding is the privacy step: nothing of the original file survives but its pixels — no
EXIF (the phone's GPS position, model, the time it was taken), no other metadata, no
trailing bytes. It also defuses malformed files.

A small file can claim a huge picture (a PNG of zeros, 155 KB, that takes 650 MB to
decode), so the memory a decode will take is worked out from the header before any pixel is
decoded, and an image that would take more than DECODE_BUDGET is refused. A JPEG is decoded
at 1/2, 1/4 or 1/8 of its size (libjpeg's DCT scaling), so a phone's 50 MP photo takes 13 MB
decoded; PNG and WebP have no such reduced decoding, so fewer of their pixels are taken.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from typing import TYPE_CHECKING

from handlers.types import Picture

# Pillow is imported where an image is decoded, not with this module: the server starts
# without it (docs/operations.md, "Footprint") until the first photo comes.
if TYPE_CHECKING:
    from PIL import Image, ImageFile

MAX_BYTES = 10 * 1024 * 1024  # what we fetch at most; a phone's photo is 2–6 MB
MAX_PIXELS = 64_000_000  # a JPEG: more than a 50 MP phone camera's 8160 × 6120
MAX_FULL_PIXELS = 16_800_000  # decoded at full size (PNG, WebP): 4096 × 4096, whatever mode
DECODE_BUDGET = 64 * 1024 * 1024  # bytes one image may take while decoded and scaled down
FORMATS = {"JPEG", "PNG", "WEBP"}
LONG_SIDE = 2048  # kept at most this wide or tall: enough to see a broken pipe
DRAFT_FLOOR = LONG_SIDE * 3 // 4  # a JPEG is decoded smaller while its long side stays this
QUALITY = 85
# What Pillow raises for a file that is not an image it can read (UnidentifiedImageError, an
# OSError), or a broken one.
UNREADABLE = (
    OSError,
    ValueError,
    SyntaxError,
)

# How Pillow holds a pixel in memory (RGB takes four bytes, like RGBA).
HELD_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2}
RESAMPLED = {"L", "LA", "RGB", "RGBA", "CMYK"}  # modes scaled down as they are
ALPHA = {"LA", "RGBA", "PA"}
# libwebp holds two canvases of its own and hands Pillow a copy: four times the pixels.
WEBP_BYTES = 16


class ImageRefused(Exception):
    """Why an image cannot be kept; `key` names the catalogue message that says so."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def clean(data: bytes) -> Picture:
    """The image re-encoded as a JPEG with no metadata; ImageRefused if it is not one we take.
    CPU work and tens of MB: call it through bot.channels.pictures, which runs two at a time."""
    from PIL import Image

    if len(data) > MAX_BYTES:
        raise ImageRefused("photo.too_big")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            drawn = _bare(_decoded(data))
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


def _decoded(data: bytes) -> Image.Image:
    """The image decoded and scaled down, once its header says what that will cost. When
    this returns, the opened file goes, and with it the full-size pixels (and libwebp's
    canvases)."""
    from PIL import Image

    _check_webp_header(data)
    with Image.open(io.BytesIO(data)) as opened:  # reads the header only
        _check_header(opened)
        _reduce_while_loading(opened)
        if decode_cost(opened) > DECODE_BUDGET:
            raise ImageRefused("photo.too_many_pixels")
        return _scaled(opened)


def _check_header(opened: ImageFile.ImageFile) -> None:
    if opened.format not in FORMATS:
        raise ImageRefused("photo.wrong_kind")
    width, height = opened.size
    bound = MAX_PIXELS if opened.format == "JPEG" else MAX_FULL_PIXELS
    if width * height > bound:
        raise ImageRefused("photo.too_many_pixels")


def _check_webp_header(data: bytes) -> None:
    """A WebP's canvas size, read from its first chunk's header before Pillow opens it (its
    reader sets up libwebp's canvases on opening)."""
    if not (data.startswith(b"RIFF") and data[8:12] == b"WEBP") or len(data) < 30:
        return  # not a WebP (or too short to be one: Pillow refuses it)
    chunk = data[12:16]
    if chunk == b"VP8 ":
        width = int.from_bytes(data[26:28], "little") & 0x3FFF
        height = int.from_bytes(data[28:30], "little") & 0x3FFF
    elif chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        width, height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    elif chunk == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
    else:
        return  # Pillow refuses it
    if width * height * WEBP_BYTES > DECODE_BUDGET:
        raise ImageRefused("photo.too_many_pixels")


def _reduce_while_loading(opened: ImageFile.ImageFile) -> None:
    """A JPEG is set to decode at the smallest of 1/8, 1/4, 1/2 that keeps its long side
    at least DRAFT_FLOOR (an 8000 × 6000 photo comes out 2000 × 1500); its size is then the
    size it will be decoded at."""
    if opened.format != "JPEG":
        return
    width, height = opened.size
    scale = next((s for s in (8, 4, 2) if max(width, height) // s >= DRAFT_FLOOR), 1)
    if scale > 1:  # Pillow takes the largest power of two that leaves it at least this big
        opened.draft("RGB", (max(width // scale, 1), max(height // scale, 1)))


def decode_cost(opened: ImageFile.ImageFile) -> int:
    """The bytes an opened image will take at most while it is decoded and scaled down
    (`_scaled`), worked out from its header: the pixels as decoded (libwebp's canvases too),
    a copy where the mode must be converted before scaling, the premultiplied copy Pillow
    scales an alpha image through, the scaling's pass across and its result, and a
    progressive JPEG's coefficients (libjpeg holds them all, at full size, however small
    the decode). What follows (flattening, encoding) takes less: about 11 bytes a pixel of
    the scaled image, 45 MB at most."""
    width, height = opened.size  # a JPEG's as it will be decoded
    per_pixel = WEBP_BYTES if opened.format == "WEBP" else HELD_BYTES.get(opened.mode, 4)
    if _converted_mode(opened) is not None:
        per_pixel += 4  # converted to RGB or RGBA first
    if _has_alpha(opened):
        per_pixel += 4  # scaled as premultiplied RGBa
    scaled_width, scaled_height = _scaled_size(opened.size)
    cost = width * height * per_pixel + 4 * scaled_width * scaled_height  # and its copy
    if (scaled_width, scaled_height) != opened.size:  # scaled across first, then down
        cost += 4 * scaled_width * height
    if opened.format == "JPEG" and opened.info.get("progressive"):
        cost += _coefficient_bytes(opened)
    return cost


def _scaled_size(size: tuple[int, int]) -> tuple[int, int]:
    """The size within LONG_SIDE × LONG_SIDE, the aspect kept."""
    width, height = size
    if max(width, height) <= LONG_SIDE:
        return size
    ratio = LONG_SIDE / max(width, height)
    return max(round(width * ratio), 1), max(round(height * ratio), 1)


def _coefficient_bytes(opened: ImageFile.ImageFile) -> int:
    """A progressive JPEG's DCT coefficients: two bytes per sample of each component at its
    own sampling (4:2:0 colour: 1.5 samples a pixel), at the size before `draft`."""
    layers = getattr(opened, "layer", [])  # (id, sampling, sampling, table) per component
    if not layers:
        return 0
    most_first = max(layer[1] for layer in layers) or 1
    most_second = max(layer[2] for layer in layers) or 1
    scale = int(opened.decoderconfig[0]) if opened.decoderconfig else 1
    pixels = opened.size[0] * scale * opened.size[1] * scale
    shares = sum(layer[1] * layer[2] for layer in layers) / (most_first * most_second)
    return int(2 * pixels * shares)


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ALPHA or "transparency" in image.info


def _converted_mode(image: Image.Image) -> str | None:
    """The mode an image is converted to before it is scaled (a palette, 16-bit grey, a
    transparent colour), or None if it is scaled as it is."""
    alpha = _has_alpha(image)
    if image.mode in RESAMPLED and (image.mode in ALPHA or not alpha):
        return None
    return "RGBA" if alpha else "RGB"


def _scaled(opened: ImageFile.ImageFile) -> Image.Image:
    """The pixels decoded, scaled down to LONG_SIDE into an image of their own (in two passes:
    no `reduce` first, whose copy would cost more than it saves), and turned the way the
    camera meant (EXIF orientation)."""
    from PIL import Image, ImageOps

    image: Image.Image = opened
    converted = _converted_mode(opened)
    if converted is not None:
        image = opened.convert(converted)  # decodes
    resample = Image.Resampling.BICUBIC
    scaled = image.resize(_scaled_size(image.size), resample, reducing_gap=None)  # or a copy
    ImageOps.exif_transpose(scaled, in_place=True)
    return scaled


def _bare(scaled: Image.Image) -> Image.Image:
    """The pixels flattened on white into a new image, so that no metadata comes along."""
    from PIL import Image

    bare = Image.new("RGB", scaled.size, "white")
    if scaled.mode in ALPHA:
        bare.paste(scaled, mask=scaled)  # its alpha channel, as the mask
    else:
        bare.paste(scaled)
    return bare
