"""`civicbot backup` and `civicbot restore` (docs/operations.md, Backups): one dated archive
of the database, the key file and the photos; and putting one back into an empty place."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from bot.commands.admin import UsageError
from bot.runtime import backups
from bot.runtime.config import Settings
from storage.backup import create_archive, prune, restore_archive
from storage.db import newest_revision


def add_parsers(commands: argparse._SubParsersAction) -> None:
    backup = commands.add_parser(
        "backup", help="one dated archive: database, key file, photos, manifest"
    )
    backup.add_argument(
        "--to", metavar="DIR", default=backups.BACKUP_FOLDER, help="where to write it (./backups)"
    )
    backup.add_argument(
        "--keep", metavar="N", type=_count, help="then delete all but the N newest archives there"
    )
    backup.add_argument(
        "--include-secret-key",
        action="store_true",
        help="with SECRET_KEY in the environment: put it (and SECRET_KEY_PREVIOUS) in the "
        "archive too (by default only the key file of an SQLite database goes in)",
    )
    backup.add_argument(
        "--without-secret-key",
        action="store_true",
        help="leave SQLite's key file out (the manifest names it by fingerprint): for "
        "archives that go off-site; keep the key apart, restore needs it",
    )
    restore = commands.add_parser(
        "restore", help="put an archive back (the database must be absent or empty)"
    )
    restore.add_argument("archive", metavar="ARCHIVE", help="a civicbot-backup-….tar.gz")


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1, not {text!r}")
    return int(text)


def backup(settings: Settings, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.include_secret_key and args.without_secret_key:
        raise UsageError("--include-secret-key and --without-secret-key: one or the other")
    folder = Path(args.to)
    what = backups.sources(
        settings,
        include_environment_keys=args.include_secret_key,
        include_key_file=not args.without_secret_key,
    )
    path = create_archive(what, folder)
    print(path, file=out)
    if what.keys_from_environment and not args.include_secret_key:
        print(
            "civicbot: SECRET_KEY is not in the archive: keep it in your secret store "
            "(--include-secret-key puts it in)",
            file=err,
        )
    if what.keys and not what.keys_from_environment and args.without_secret_key:
        print(
            f"civicbot: the key file {what.key_file} is not in the archive: keep a copy of it "
            "apart from the archives; restore needs it",
            file=err,
        )
    if args.keep is not None:
        for gone in prune(folder, args.keep):
            print(f"civicbot: deleted {gone}", file=err)
    return 0


def restore(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    what = backups.sources(settings)
    done = restore_archive(Path(args.archive), what)
    manifest = done.manifest
    revision = manifest.get("alembic_revision")
    state = (
        "current"
        if revision == newest_revision()
        else "older than this civicbot: `civicbot db upgrade` (or a start) migrates it"
    )
    print(
        f"restored {args.archive} (made {manifest.get('created_at')} by civicbot "
        f"{manifest.get('version')}): schema {revision}, {state}",
        file=out,
    )
    if done.key_file_written is not None:
        print(f"key file restored to {done.key_file_written}", file=out)
    photos = manifest.get("photos", {})
    if photos.get("kind") == "folder" and not photos.get("included", True):
        print(_photos_left(what.media_folder), file=out)
    elif photos.get("files") and not done.photos_restored:
        print(
            f"the archive's {photos['files']} photos were not restored (MEDIA_S3_BUCKET is "
            "set): restore with MEDIA_DIR set instead, or copy them into the bucket",
            file=out,
        )
    if manifest.get("photos", {}).get("kind") == "s3":
        print(
            f"photos are in the bucket {manifest['photos'].get('bucket')}: not in the archive",
            file=out,
        )
    return 0


def _photos_left(folder: Path | None) -> str:
    """An automatic archive's restore: the photos are those already there, if they are."""
    said = "the archive holds no photos (taken before a migration)"
    if folder is not None and folder.is_dir() and any(folder.iterdir()):
        return f"{said}: those in {folder} stay as they are"
    return f"{said}: put the photos back in {folder or 'MEDIA_DIR'} (from where you moved them)"
