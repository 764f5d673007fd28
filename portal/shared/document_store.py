"""Where stored documents' bytes live: the `database`, `filesystem` and `s3` backends behind one Protocol, and the
index row (`StoredDocument`) that says which backend holds each document.

Every document is addressed by the SHA-256 of its bytes; a backend never changes what it holds under a hash. Reads
go through `VerifyingReader`, which hashes the bytes as they stream and refuses them (`DocumentCorrupt`) when they
do not match the index. `DOCUMENT_STORE` chooses where new documents go; a document is read from the backend its
index row names, so documents written under an earlier setting stay readable until `documents migrate` moves them.
"""

import hashlib
import io
import logging
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from flask import Flask, current_app
from sqlalchemy import BigInteger, LargeBinary, String, func, select, text, update
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.integrations import storage
from portal.shared import clock
from portal.shared.dbtypes import UTCDateTime

log = logging.getLogger(__name__)

BACKENDS = ("database", "filesystem", "s3")
CHUNK = 256 * 1024  # bytes per read when streaming: the most a download holds in memory at once


class StoredDocument(db.Model):
    """The index of a generated or uploaded file (PDF, XML), addressed by its SHA-256; never changed once stored.

    `content` holds the bytes only while `backend` is "database"; otherwise it is NULL and the bytes are in the
    filesystem or the bucket under the same hash.
    """

    __tablename__ = "stored_documents"
    __organization_data__ = False  # no organization's read model reads it (data_versions)

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(80))
    size: Mapped[int] = mapped_column(BigInteger)  # bytes
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
    backend: Mapped[str] = mapped_column(String(16), default="database", server_default="database")
    retain_until: Mapped[datetime | None] = mapped_column(UTCDateTime)  # fiscal documents: kept at least until then
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


class DocumentUnavailable(RuntimeError):
    """The index names a document its backend cannot give now (missing, unreadable, or the backend is down)."""


class DocumentCorrupt(DocumentUnavailable):
    """The bytes a backend gave do not hash to the document's SHA-256 (or are not its size)."""


class DocumentStoreError(RuntimeError):
    """Writing to the document store failed (the backend is down or refused): nothing was indexed."""


class Backend(Protocol):
    """One place documents' bytes can live."""

    name: str

    def put(self, sha256: str, content: bytes, content_type: str, retain_until: datetime | None) -> None:
        """Keep `content` under `sha256` (already its hash); a second put of the same hash changes nothing."""

    def open(self, sha256: str) -> BinaryIO:
        """The bytes as a stream; FileNotFoundError when the backend holds nothing under that hash."""

    def exists(self, sha256: str) -> bool: ...

    def check(self) -> None:
        """Raises when the backend cannot be used now (readiness)."""


# ---------------------------------------------------------------- database

class _BlobReader(io.RawIOBase):
    """A BLOB read in slices (`substr`), so that streaming it never loads the whole column."""

    def __init__(self, sha256: str, size: int) -> None:
        self.sha256, self.size, self.position = sha256, size, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        wanted = min(len(buffer), self.size - self.position)
        if wanted <= 0:
            return 0
        piece = db.session.scalar(select(func.substr(StoredDocument.content, self.position + 1, wanted,
                                                     type_=LargeBinary))
                                  .where(StoredDocument.sha256 == self.sha256)) or b""
        piece = bytes(piece)
        buffer[:len(piece)] = piece
        self.position += len(piece)
        return len(piece)


class DatabaseStore:
    """The bytes in the index row itself (`stored_documents.content`): the store before issue 19."""

    name = "database"

    def put(self, sha256: str, content: bytes, content_type: str, retain_until: datetime | None) -> None:
        db.session.execute(update(StoredDocument).where(StoredDocument.sha256 == sha256,
                                                        StoredDocument.content.is_(None)).values(content=content))

    def open(self, sha256: str) -> BinaryIO:
        size = db.session.scalar(select(func.length(StoredDocument.content)).where(
            StoredDocument.sha256 == sha256, StoredDocument.content.is_not(None)))
        if size is None:
            raise FileNotFoundError(sha256)
        return io.BufferedReader(_BlobReader(sha256, size), buffer_size=CHUNK)

    def exists(self, sha256: str) -> bool:
        return db.session.scalar(select(func.count()).select_from(StoredDocument).where(
            StoredDocument.sha256 == sha256, StoredDocument.content.is_not(None))) > 0

    def check(self) -> None:
        db.session.execute(text("SELECT 1"))


# ---------------------------------------------------------------- filesystem

class FilesystemStore:
    """One file per document under `root`/ab/cd/<sha256>, written whole (temp file, fsync, atomic rename)."""

    name = "filesystem"

    def __init__(self, root: str | Path) -> None:
        if not str(root):
            raise RuntimeError("DOCUMENT_STORE_DIR must name a directory")
        self.root = Path(root)

    def relative(self, sha256: str) -> str:
        return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"

    def path(self, sha256: str) -> Path:
        return self.root / self.relative(sha256)

    def put(self, sha256: str, content: bytes, content_type: str, retain_until: datetime | None) -> None:
        target = self.path(sha256)
        if target.is_file() and target.stat().st_size == len(content):
            return  # already there (a file of another size is a broken copy: replaced below)
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(content)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temporary, 0o640)
            os.replace(temporary, target)  # atomic: a reader sees no file or the whole file
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself survives a crash
        finally:
            os.close(directory)

    def open(self, sha256: str) -> BinaryIO:
        return open(self.path(sha256), "rb")  # noqa: SIM115 - the caller closes the stream

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def check(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise PermissionError(f"document store directory {self.root} is not writable")


# ---------------------------------------------------------------- choosing

def _make(name: str, config) -> Backend:
    if name == "database":
        return DatabaseStore()
    if name == "filesystem":
        return FilesystemStore(config["DOCUMENT_STORE_DIR"])
    if name == "s3":
        return storage.from_config(config)
    raise RuntimeError(f"DOCUMENT_STORE must be one of {', '.join(BACKENDS)}, not {name!r}")


def backend(name: str | None = None, app: Flask | None = None) -> Backend:
    """The backend called `name` (default: DOCUMENT_STORE, where new documents go), made once per app."""
    app = app or current_app._get_current_object()
    name = name or app.config["DOCUMENT_STORE"]
    made = app.extensions.setdefault("document_backends", {})
    if name not in made:
        made[name] = _make(name, app.config)
    return made[name]


def check() -> None:
    """Raises when the configured document store cannot be reached (the readiness check calls this)."""
    backend().check()


# ---------------------------------------------------------------- verified reads

class VerifyingReader(io.RawIOBase):
    """The backend's stream, hashed as it is read: at its end (or once it runs past `size`) the bytes must be the
    document's, else `DocumentCorrupt`. A caller that keeps the last chunk until `read` returns b"" never hands
    out a complete wrong document."""

    def __init__(self, stream: BinaryIO, sha256: str, size: int) -> None:
        self.stream, self.sha256, self.size = stream, sha256, size
        self.digest = hashlib.sha256()
        self.seen = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        piece = self.stream.read(CHUNK if n is None or n < 0 else n)
        if piece:
            self.seen += len(piece)
            self.digest.update(piece)
            if self.seen > self.size:
                self._refuse()
            return piece
        if self.seen != self.size or self.digest.hexdigest() != self.sha256:
            self._refuse()
        return b""

    def readinto(self, buffer) -> int:
        piece = self.read(len(buffer))
        buffer[:len(piece)] = piece
        return len(piece)

    def readall(self) -> bytes:
        parts = []
        while piece := self.read(CHUNK):
            parts.append(piece)
        return b"".join(parts)

    def _refuse(self) -> None:
        log.error("stored document %s is corrupt: %d bytes read, %d expected, hash %s", self.sha256, self.seen,
                  self.size, self.digest.hexdigest())
        raise DocumentCorrupt(f"document {self.sha256} does not match its hash")

    def close(self) -> None:
        try:
            self.stream.close()
        finally:
            super().close()
