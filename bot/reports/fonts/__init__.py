"""The fonts pictures are drawn with (the digest's chart; campaign posters to come).

DejaVu Sans has every letter the bot writes — Kyrgyz ө, ү, ң among them. Shipped here as a
subset (Latin, Cyrillic, punctuation; about 100 KB each instead of 700) so that nothing has to
be installed for a chart. Made from Debian's fonts-dejavu-core with fontTools:

    pyftsubset /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf --layout-features='*' \\
      --unicodes="U+0020-007E,U+00A0-017F,U+0400-052F,U+2010-2027,U+2030-205E,U+20AC,U+2116,\\
    U+2190-2193,U+2212,U+25A0-25CF" --output-file=bot/reports/fonts/DejaVuSans.ttf

(and the same for DejaVuSans-Bold.ttf). The licence is in LICENSE beside them.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import ImageFont

FOLDER = Path(__file__).parent
FILES = {False: "DejaVuSans.ttf", True: "DejaVuSans-Bold.ttf"}


@cache
def font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    """DejaVu Sans (bold) at `size` pixels; loaded once per size."""
    from PIL import ImageFont  # here, not above: only a picture being drawn needs Pillow

    return ImageFont.truetype(str(FOLDER / FILES[bold]), size)
