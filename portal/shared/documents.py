"""Stored documents and the restricted PDF renderer every document goes through (invoices, boletos, notas
fiscais, agreements, onboarding papers).

A stored document is a generated or uploaded file kept under its SHA-256 (`store`/`load`): storing the same
bytes twice keeps one row, and a document is never changed once stored.
"""

import hashlib
import re
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import BigInteger, LargeBinary, String, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column
from weasyprint import HTML
from weasyprint.urls import FatalURLFetchingError, URLFetcher

from portal.extensions import db
from portal.shared import clock
from portal.shared.dbtypes import UTCDateTime
from portal.shared.errors import NotFound

PDF = "application/pdf"
DOCUMENT_LOCALE = "pt_BR"  # legal papers: always Portuguese
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class StoredDocument(db.Model):
    """A generated or uploaded file (PDF, XML), addressed by its SHA-256; never changed once stored."""

    __tablename__ = "stored_documents"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(80))
    size: Mapped[int] = mapped_column(BigInteger)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


# ---------------------------------------------------------------- the store

def store(content: bytes, content_type: str) -> str:
    """Keep `content` under its SHA-256 and return the hash. Storing the same bytes again changes nothing.

    Joins the caller's transaction (the caller commits). Concurrent stores of the same bytes do not fail:
    the row is inserted with ON CONFLICT DO NOTHING.
    """
    if not isinstance(content, bytes | bytearray):
        raise TypeError(f"content must be bytes, got {type(content).__name__}")
    content = bytes(content)
    digest = hashlib.sha256(content).hexdigest()
    dialect = db.session.get_bind().dialect.name
    insert = (postgresql if dialect == "postgresql" else sqlite).insert
    db.session.execute(
        insert(StoredDocument)
        .values(sha256=digest, content_type=content_type, size=len(content), content=content, created_at=clock.now())
        .on_conflict_do_nothing(index_elements=["sha256"])
    )
    return digest


def load(sha256: str) -> tuple[bytes, str]:
    """The stored bytes and their content type; NotFound when nothing is stored under that hash."""
    if not isinstance(sha256, str) or not _SHA256.match(sha256):
        raise NotFound(_("Documento não encontrado."))
    row = db.session.execute(
        select(StoredDocument.content, StoredDocument.content_type).where(StoredDocument.sha256 == sha256)
    ).one_or_none()
    if row is None:
        raise NotFound(_("Documento não encontrado."))
    return bytes(row.content), row.content_type


# ---------------------------------------------------------------- rendering


class DocumentFetchRefused(ValueError):
    """The document's HTML names a URL other than `data:`; nothing was fetched and no PDF was made."""


def render_pdf(html: str) -> bytes:
    """`html` as PDF bytes, fetching no URL but `data:`.

    Everything a document shows is inline (data: URIs); any other URL (file://, http://127.0.0.1, …) is
    refused, so text that reaches a document (a customer's name, a service description) can never make the
    renderer read a file or call a server. WeasyPrint's refusal is a BaseException; it is raised here as
    `DocumentFetchRefused` (a ValueError) so the callers' ordinary error handling sees it.
    """
    fetcher = URLFetcher(allowed_protocols={"data"}, fail_on_errors=True)
    try:
        return HTML(string=html, url_fetcher=fetcher).write_pdf()
    except FatalURLFetchingError as refused:
        raise DocumentFetchRefused(str(refused)) from refused
