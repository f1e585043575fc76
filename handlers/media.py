"""What a resident shows with a wish — photos and the problem's place — and the rules for
keeping them (the conversation around them is in handlers/photos.py).

A wish being written holds its photos' keys and its place in the conversation's data; they
go with the wish when it is saved. A photo sent within a few minutes after a wish goes
with that wish.
"""

from __future__ import annotations

import datetime as dt

from handlers.context import Context
from handlers.types import Reply, say
from storage import queries
from storage.models import Wish, utcnow

PHOTO_LIMIT = 3  # per wish: enough to show a problem, few enough for staff to look at
RECENT_MINUTES = 10  # a photo or place this soon after a wish goes with it
RECENT = dt.timedelta(minutes=RECENT_MINUTES)
# Kyrgyzstan's bounding box (south, north, west, east), with a little margin: a place
# outside it is not one of our municipalities' problems.
BOUNDS = (39.1, 43.3, 69.2, 80.3)
DECIMALS = 3  # about 110 m north–south: the street, not the house


def take_into_draft(ctx: Context) -> int:
    """The action's pictures join the wish being written, up to the limit; how many did."""
    photos = [list(p) for p in ctx.data.get("photos", ())]
    taken = 0
    for picture in ctx.inbound.pictures:
        if len(photos) >= PHOTO_LIMIT or any(p[0] == picture.key for p in photos):
            continue
        photos.append([picture.key, picture.width, picture.height])
        ctx.keep(picture)
        taken += 1
    if taken:
        ctx.remember(photos=photos)
    return taken


def draft_count(ctx: Context) -> int:
    return len(ctx.data.get("photos", ()))


async def attach_draft(ctx: Context, wish: Wish) -> None:
    """On saving a wish: the photos and place gathered while it was written go with it (on
    SMS the photos came with the keyword's message itself)."""
    take_into_draft(ctx)
    data = ctx.data
    photos = [(str(key), int(width), int(height)) for key, width, height in data.get("photos", ())]
    if photos:
        await queries.add_photos(ctx.session, wish.id, photos)
    if data.get("latitude") is not None and data.get("longitude") is not None:
        wish.latitude, wish.longitude = float(data["latitude"]), float(data["longitude"])


def place_of(location: tuple[float, float] | None) -> tuple[float, float] | None:
    """The place rounded to the street, or None when it is not in Kyrgyzstan."""
    if location is None:
        return None
    latitude, longitude = location
    south, north, west, east = BOUNDS
    if not (south <= latitude <= north and west <= longitude <= east):
        return None
    return round(latitude, DECIMALS), round(longitude, DECIMALS)


async def recent_wish(ctx: Context) -> Wish | None:
    """The resident's wish of the last few minutes, which a photo or place may join."""
    return await queries.last_wish_since(ctx.session, ctx.person.id, utcnow() - RECENT)


async def add_to_wish(ctx: Context, wish: Wish) -> Reply:
    """The action's pictures join a saved wish, up to the limit."""
    have = len(await queries.photos_of(ctx.session, wish.id))
    room = max(PHOTO_LIMIT - have, 0)
    pictures = list(ctx.inbound.pictures)[:room]
    if not pictures:
        return say("photo.limit", limit=PHOTO_LIMIT, reference=wish.reference)
    for picture in pictures:
        ctx.keep(picture)
    added = await queries.add_photos(
        ctx.session, wish.id, [(p.key, p.width, p.height) for p in pictures]
    )
    return say("photo.attached", reference=wish.reference, count=have + added, limit=PHOTO_LIMIT)
