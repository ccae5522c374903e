"""Files sent in chats: checked, stored once by content hash, and found again for delivery and download."""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from models import Attachment

if TYPE_CHECKING:
    from aiogram.types import FSInputFile

# What a driver applicant and a manager actually exchange: photos of documents and PDFs.
ALLOWED_TYPES = {
    "image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "image/heic": ".heic",
    "application/pdf": ".pdf",
}
IMAGE_TYPES = {"image/jpeg", "image/png", "image/webp"}  # the ones Telegram shows as photos


class AttachmentRejected(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def clean_filename(name: str | None, content_type: str) -> str:
    # Header bytes that are not UTF-8 arrive as lone surrogates, which neither database can store.
    name = (name or "").encode("utf-8", "replace").decode("utf-8")
    base = re.sub(r"[\x00-\x1f/\\]+", "_", Path(name).name).strip(" .") or "file"
    if not Path(base).suffix:
        base += ALLOWED_TYPES.get(content_type, "")
    return base[:200]


def sniff_type(data: bytes) -> str | None:
    """Trust the bytes, never the label: a PDF or an image is recognised by its signature."""
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1"):
        return "image/heic"
    return None


class AttachmentStore:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def check(self, data: bytes, *, size: int | None = None) -> str:
        """The file's type from its first bytes (`data` may be just the head when `size` is given)."""
        size = len(data) if size is None else size
        if not size:
            raise AttachmentRejected("empty_file", "The file is empty.")
        if size > self.max_bytes:
            raise AttachmentRejected("file_too_large", f"Files may be at most {self.max_bytes // (1024 * 1024)} MB.")
        content_type = sniff_type(data)
        if content_type is None:
            raise AttachmentRejected("unsupported_file", "Only photos (JPEG, PNG, WebP, HEIC) and PDF files.")
        return content_type

    def temp_path(self) -> Path:
        """A fresh name for an upload being received: concurrent uploads of the same bytes never share one."""
        return self.root / "incoming" / f"{uuid.uuid4().hex}.part"

    async def save(self, session_id: int, data: bytes | Path, filename: str | None) -> Attachment:
        """Store bytes, or a received temporary file (moved into place, so it is never held in memory)."""
        if isinstance(data, Path):
            head, size, digest = await asyncio.to_thread(_inspect, data)
            content_type = self.check(head, size=size)
            path = self.path_for(digest)
            if not path.exists():
                await asyncio.to_thread(_move_into_place, data, path)
        else:
            content_type = self.check(data)
            size, digest = len(data), hashlib.sha256(data).hexdigest()
            path = self.path_for(digest)
            if not path.exists():
                await asyncio.to_thread(_write_atomically, path, data)
        return await Attachment.aio_create(
            session=session_id, filename=clean_filename(filename, content_type), content_type=content_type,
            size=size, sha256=digest,
        )

    def path_for(self, digest: str) -> Path:
        return self.root / digest[:2] / digest

    async def input_file(self, attachment_id: int) -> FSInputFile:
        """The stored file as aiogram uploads it (the outbox's FileSource)."""
        # Imported here: support/ takes visitors' files while the Telegram side (aiogram) is still loading.
        from aiogram.types import FSInputFile

        attachment = await Attachment.aio_get(Attachment.id == attachment_id)
        return FSInputFile(self.path_for(attachment.sha256), filename=attachment.filename)


def _inspect(path: Path) -> tuple[bytes, int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as source:
        head = source.read(64)
        digest.update(head)
        size += len(head)
        while chunk := source.read(1024 * 1024):
            digest.update(chunk)
            size += len(chunk)
    return head, size, digest.hexdigest()


def _move_into_place(temp: Path, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp.replace(path)


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{uuid.uuid4().hex}.part")  # unique: identical uploads may race
    partial.write_bytes(data)
    partial.replace(path)  # a crash never leaves a half-written file under the final name


def attachment_meta(attachment: Attachment) -> dict[str, object]:
    return {"id": attachment.id, "name": attachment.filename, "content_type": attachment.content_type,
            "size": attachment.size}
