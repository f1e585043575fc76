"""Photos and places of wishes: attaching them, reading them for staff and the public, and
forgetting them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Conversation, Wish, WishPhoto


async def add_photos(
    session: AsyncSession, wish_id: int, photos: Iterable[tuple[str, int, int]]
) -> int:
    """Attach (key, width, height) photos to a wish, each key once; how many are new."""
    have = set(await session.scalars(select(WishPhoto.key).where(WishPhoto.wish_id == wish_id)))
    added = 0
    for key, width, height in photos:
        if key in have:
            continue
        have.add(key)
        session.add(WishPhoto(wish_id=wish_id, key=key, width=width, height=height))
        added += 1
    await session.flush()
    return added


async def photos_of(session: AsyncSession, wish_id: int) -> Sequence[WishPhoto]:
    query = select(WishPhoto).where(WishPhoto.wish_id == wish_id).order_by(WishPhoto.id)
    return (await session.scalars(query)).all()


async def photo_counts(session: AsyncSession, wish_ids: Iterable[int]) -> dict[int, int]:
    ids = list(wish_ids)
    if not ids:
        return {}
    rows = await session.execute(
        select(WishPhoto.wish_id, func.count(WishPhoto.id))
        .where(WishPhoto.wish_id.in_(ids))
        .group_by(WishPhoto.wish_id)
    )
    return {wish_id: int(count) for wish_id, count in rows.all()}


async def photo_keys(session: AsyncSession, wish_ids: Iterable[int]) -> dict[int, list[str]]:
    """Each wish's photo keys, in the order they came (for the staff export)."""
    ids = list(wish_ids)
    if not ids:
        return {}
    rows = await session.execute(
        select(WishPhoto.wish_id, WishPhoto.key)
        .where(WishPhoto.wish_id.in_(ids))
        .order_by(WishPhoto.id)
    )
    keys: dict[int, list[str]] = {}
    for wish_id, key in rows.all():
        keys.setdefault(wish_id, []).append(key)
    return keys


async def last_wish_since(session: AsyncSession, person_id: int, since: datetime) -> Wish | None:
    """The person's newest wish, if they sent it after `since` (a photo or a place sent
    right after a wish goes with it)."""
    query = (
        select(Wish)
        .where(Wish.person_id == person_id, Wish.created_at >= since)
        .order_by(Wish.created_at.desc(), Wish.id.desc())
        .limit(1)
    )
    return await session.scalar(query)


async def forget_photos(session: AsyncSession, person_id: int) -> list[str]:
    """Delete the photos of a person's wishes (/forget); the keys whose files no row
    needs any more, to delete after the commit."""
    wish_ids = select(Wish.id).where(Wish.person_id == person_id)
    keys = set(await session.scalars(select(WishPhoto.key).where(WishPhoto.wish_id.in_(wish_ids))))
    await session.execute(delete(WishPhoto).where(WishPhoto.wish_id.in_(wish_ids)))
    await session.execute(
        update(Wish)
        .where(Wish.person_id == person_id)
        .values(latitude=None, longitude=None, media_public=False)
    )
    return sorted(keys - await referenced(session, keys))


async def referenced(session: AsyncSession, keys: Iterable[str]) -> set[str]:
    """Which of these file keys a photo row, or a wish being written, still holds."""
    wanted = set(keys)
    if not wanted:
        return set()
    held = set(await session.scalars(select(WishPhoto.key).where(WishPhoto.key.in_(wanted))))
    drafts = await session.scalars(select(Conversation.data).where(Conversation.step.is_not(None)))
    for data in drafts:
        for photo in (data or {}).get("photos", ()):
            if photo and photo[0] in wanted:
                held.add(photo[0])
    return held


async def public_photo(session: AsyncSession, key: str) -> bool:
    """Whether a file may be shown to anyone: a photo of a wish staff made public."""
    query = (
        select(WishPhoto.id)
        .join(Wish, Wish.id == WishPhoto.wish_id)
        .where(WishPhoto.key == key, Wish.media_public.is_(True), Wish.hidden.is_(False))
        .limit(1)
    )
    return await session.scalar(query) is not None


async def count_with_photos(
    session: AsyncSession, municipality_id: int, start: datetime, end: datetime
) -> int:
    """Wishes of a week that came with at least one photo (the digest says how many)."""
    query = (
        select(func.count(func.distinct(WishPhoto.wish_id)))
        .join(Wish, Wish.id == WishPhoto.wish_id)
        .where(
            Wish.municipality_id == municipality_id, Wish.created_at >= start, Wish.created_at < end
        )
    )
    return int(await session.scalar(query) or 0)
