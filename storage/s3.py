"""Residents' photos in an S3-compatible bucket (AWS S3, MinIO, Ceph, a hosting provider's
object storage): for several workers on several machines, where one folder cannot be shared.

Through aiobotocore (botocore's asynchronous client on aiohttp), loaded only when a bucket is
configured. The same four calls as the folder (storage/files.py); keys as there, under a
prefix.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from storage.files import valid_key

PREFIX = "photos/"
CONTENT_TYPE = "image/jpeg"


@dataclass(frozen=True)
class Bucket:
    name: str
    endpoint_url: str | None = None  # None: AWS itself; else MinIO's or a provider's address
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = None


class S3Store:
    def __init__(self, bucket: Bucket) -> None:
        self.bucket = bucket
        self._client: Any = None
        self._stack = contextlib.AsyncExitStack()

    async def _s3(self) -> Any:
        """One client for the life of the process, made on first use."""
        if self._client is None:
            from aiobotocore.session import get_session  # an optional dependency

            bucket = self.bucket
            self._client = await self._stack.enter_async_context(
                get_session().create_client(
                    "s3",
                    region_name=bucket.region,
                    endpoint_url=bucket.endpoint_url,
                    aws_access_key_id=bucket.access_key_id,
                    aws_secret_access_key=bucket.secret_access_key,
                )
            )
        return self._client

    async def put(self, key: str, data: bytes) -> None:
        s3 = await self._s3()
        await s3.put_object(
            Bucket=self.bucket.name, Key=_name(key), Body=data, ContentType=CONTENT_TYPE
        )

    async def get(self, key: str) -> bytes | None:
        s3 = await self._s3()
        try:
            response = await s3.get_object(Bucket=self.bucket.name, Key=_name(key))
        except s3.exceptions.NoSuchKey:
            return None
        async with response["Body"] as body:
            return bytes(await body.read())

    async def delete(self, key: str) -> None:
        s3 = await self._s3()
        await s3.delete_object(Bucket=self.bucket.name, Key=_name(key))

    async def older_than(self, seconds: float) -> list[str]:
        s3 = await self._s3()
        cutoff = datetime.now(UTC) - timedelta(seconds=seconds)
        keys = []
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket.name, Prefix=PREFIX)
        async for page in pages:
            for entry in page.get("Contents", ()):
                key = str(entry["Key"]).removeprefix(PREFIX)
                if valid_key(key) and entry["LastModified"] < cutoff:
                    keys.append(key)
        return keys

    async def close(self) -> None:
        await self._stack.aclose()
        self._client = None


def _name(key: str) -> str:
    if not valid_key(key):
        raise ValueError("not a file key")
    return PREFIX + key
