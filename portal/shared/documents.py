"""Stored documents and the restricted PDF renderer every document goes through (invoices, boletos, notas
fiscais, agreements, onboarding papers).

A stored document is a generated or uploaded file kept under its SHA-256 (`store`/`load`/`send`): storing the same
bytes twice keeps one index row, a document is never changed once stored, and every read is checked against the
hash. Where the bytes live (database, filesystem, S3) is `portal/shared/document_store.py`; `migrate` moves them
from one backend to another.
"""

import hashlib
import logging
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote

from flask import Response, current_app, render_template, request, stream_with_context
from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from portal.api import problems as api_problems
from portal.extensions import db
from portal.integrations import storage
from portal.shared import clock, document_store, pdf
from portal.shared.document_store import (  # noqa: F401 - StoredDocument is imported from here by the rooms
    CHUNK,
    DocumentCorrupt,
    DocumentStoreError,
    DocumentUnavailable,
    StoredDocument,
    VerifyingReader,
)
from portal.shared.errors import NotFound, ServiceError
from portal.shared.pdf import DocumentFetchRefused  # noqa: F401 - raised by render_pdf; callers import it here

log = logging.getLogger(__name__)

PDF = "application/pdf"
DOCUMENT_LOCALE = "pt_BR"  # legal papers: always Portuguese
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_UNQUOTABLE = re.compile(r'[\x00-\x1f"\\]')  # what a quoted file name in a header cannot carry
_BACKEND_ERRORS = (OSError, DocumentUnavailable, *storage.StorageError)


# ---------------------------------------------------------------- the store

def _retain_until(now: datetime) -> datetime:
    """now + DOCUMENT_RETENTION_YEARS (29 February → 28 February)."""
    year = now.year + current_app.config["DOCUMENT_RETENTION_YEARS"]
    try:
        return now.replace(year=year)
    except ValueError:
        return now.replace(year=year, day=28)


def store(content: bytes, content_type: str, *, fiscal: bool = False) -> str:
    """Keep `content` under its SHA-256 and return the hash. Storing the same bytes again changes nothing.

    `fiscal`: an invoice, boleto, DANFSe or NFS-e XML, kept DOCUMENT_RETENTION_YEARS (an Object Lock retention on
    an S3 bucket that has Object Lock; the date is recorded in the index for every backend).

    The bytes go to the DOCUMENT_STORE backend first, then the index row joins the caller's transaction (the
    caller commits): a document is never indexed without its bytes. A backend that is down raises
    DocumentStoreError and nothing is indexed. Concurrent stores of the same bytes do not fail: the row is
    inserted with ON CONFLICT DO NOTHING.
    """
    if not isinstance(content, bytes | bytearray):
        raise TypeError(f"content must be bytes, got {type(content).__name__}")
    content = bytes(content)
    digest = hashlib.sha256(content).hexdigest()
    if db.session.scalar(select(StoredDocument.sha256).where(StoredDocument.sha256 == digest)) is not None:
        return digest  # already stored (where it is, it stays)
    target = document_store.backend()
    now = clock.now()
    retain_until = _retain_until(now) if fiscal else None
    if target.name != "database":
        try:
            target.put(digest, content, content_type, retain_until)
        except _BACKEND_ERRORS as error:
            log.error("document store %s refused document %s: %s", target.name, digest, error)
            raise DocumentStoreError(f"document store {target.name} unavailable: {error}") from error
    dialect = db.session.get_bind().dialect.name
    insert = (postgresql if dialect == "postgresql" else sqlite).insert
    db.session.execute(
        insert(StoredDocument)
        .values(sha256=digest, content_type=content_type, size=len(content),
                content=content if target.name == "database" else None, backend=target.name,
                retain_until=retain_until, created_at=now)
        .on_conflict_do_nothing(index_elements=["sha256"])
    )
    return digest


def store_sent(content: bytes, content_type: str, *, field: str | None = None, fiscal: bool = False) -> str:
    """`store` for a file a person is sending or a document they asked for now: a document store that is down is a
    ServiceError for the form (on `field`), the caller's transaction rolled back, so nothing of the action is kept
    and the person can simply try again (jobs call `store`, whose DocumentStoreError makes them retry)."""
    try:
        return store(content, content_type, fiscal=fiscal)
    except DocumentStoreError:
        db.session.rollback()
        raise ServiceError(_("Não foi possível guardar os arquivos agora. Tente de novo em alguns minutos."),
                           field=field) from None


def _index(sha256: str) -> StoredDocument:
    if not isinstance(sha256, str) or not _SHA256.match(sha256):
        raise NotFound(_("Documento não encontrado."))
    row = db.session.execute(
        select(StoredDocument.sha256, StoredDocument.content_type, StoredDocument.size, StoredDocument.backend)
        .where(StoredDocument.sha256 == sha256)).one_or_none()
    if row is None:
        raise NotFound(_("Documento não encontrado."))
    return row


def _open(row) -> VerifyingReader:
    """The document's bytes as a verified stream; DocumentUnavailable when its backend cannot give them."""
    try:
        return VerifyingReader(document_store.backend(row.backend).open(row.sha256), row.sha256, row.size)
    except _BACKEND_ERRORS as error:
        log.error("stored document %s unavailable from %s: %s", row.sha256, row.backend, error)
        raise DocumentUnavailable(f"document {row.sha256} unavailable from {row.backend}") from error


def open_stored(sha256: str) -> VerifyingReader:
    """The stored bytes as a stream checked against the hash as it is read (close it, or use it in `with`).
    NotFound when nothing is stored under that hash; DocumentUnavailable when the backend cannot give them."""
    return _open(_index(sha256))


def load(sha256: str) -> tuple[bytes, str]:
    """The stored bytes (checked against the hash) and their content type, whole in memory: for e-mail
    attachments and packs, not for downloads (`send`). NotFound when nothing is stored under that hash;
    DocumentUnavailable (DocumentCorrupt) when the backend cannot give the bytes or they are not the document's."""
    row = _index(sha256)
    reader = _open(row)
    try:
        content = reader.readall()
    except (OSError, *storage.StorageError) as error:
        raise DocumentUnavailable(f"document {sha256} unreadable: {error}") from error
    finally:
        reader.close()
    return content, row.content_type


# ---------------------------------------------------------------- downloads

def unavailable_response(message: str | None = None) -> Response:
    """What a reader sees when a stored document cannot be given (missing, corrupt, backend down): a 503 page (or
    problem, under /api) that says so, or `message`; the details are in the log."""
    message = message or _("Documento indisponível no momento. Tente de novo mais tarde; se continuar, fale com o "
                           "suporte.")
    if api_problems.is_api_request():
        response = api_problems.response("unavailable", message)
    else:
        response = current_app.make_response((render_template("errors/generic.html", code=503, message=message),
                                               503))
    response.headers["Retry-After"] = "300"
    return response


def _held_back(reader: VerifyingReader, first: bytes, second: bytes) -> Iterator[bytes]:
    """The chunks, each sent only once the next was read: the last goes out after the hash was checked, so a
    corrupt document ends as a broken download (fewer bytes than Content-Length), never as a wrong file."""
    try:
        held, current = first, second
        while current:
            yield held
            held, current = current, reader.read(CHUNK)
        yield held
    except DocumentCorrupt:
        log.error("download of %s stopped: the stored bytes do not match", reader.sha256)
        raise
    finally:
        reader.close()


def send(sha256: str, download_name: str, *, inline: bool = False, content_type: str | None = None,
         headers: dict | None = None) -> Response:
    """The stored document as a streamed response (CHUNK bytes at a time; Content-Length from the index, ETag the
    hash), or a redirect/offload per DOCUMENT_DOWNLOAD_OFFLOAD. NotFound when nothing is stored under that hash
    (the caller shows its "em preparação" page); a 503 page when the backend cannot give the bytes.

    The access check is the caller's: call this only for a document the reader may see.
    """
    row = _index(sha256)
    media_type = content_type or row.content_type
    disposition = "inline" if inline else "attachment"
    offload = current_app.config["DOCUMENT_DOWNLOAD_OFFLOAD"]
    if offload == "presigned" and row.backend == "s3":
        disposition_value = _disposition(disposition, download_name)
        try:
            url = document_store.backend("s3").presigned_url(
                row.sha256, content_type=media_type, disposition=disposition_value,
                seconds=current_app.config["DOCUMENT_PRESIGNED_SECONDS"])
        except _BACKEND_ERRORS as error:
            log.error("presigning %s failed: %s", row.sha256, error)
            return unavailable_response()
        response = current_app.response_class(status=302, headers={"Location": url})
        response.headers["Cache-Control"] = "private, no-store"
        return response
    if offload == "x-accel" and row.backend == "filesystem":
        response = current_app.response_class(mimetype=media_type)
        prefix = current_app.config["DOCUMENT_XACCEL_PREFIX"].rstrip("/")
        response.headers["X-Accel-Redirect"] = f"{prefix}/{document_store.backend('filesystem').relative(row.sha256)}"
        _finish(response, row, disposition, download_name, headers)
        return response
    try:
        reader = _open(row)
    except DocumentUnavailable:
        return unavailable_response()
    try:  # a document of up to one chunk is checked whole before anything is sent: a corrupt one is a 503 page
        first = reader.read(CHUNK)
        second = reader.read(CHUNK) if first else b""
    except (DocumentUnavailable, OSError, *storage.StorageError) as error:
        log.error("stored document %s unreadable from %s: %s", row.sha256, row.backend, error)
        reader.close()
        return unavailable_response()
    response = current_app.response_class(stream_with_context(_held_back(reader, first, second)),
                                          mimetype=media_type, direct_passthrough=True)
    response.content_length = row.size
    _finish(response, row, disposition, download_name, headers)
    response.make_conditional(request)
    if response.status_code == 304:  # If-None-Match named this hash: no body, so the stream is never read
        reader.close()
    return response


def _disposition(kind: str, filename: str) -> str:
    """`attachment; filename="..."`, plus RFC 6266's `filename*` (UTF-8) when the name is not plain ASCII."""
    plain = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode("ascii")
    quoted = _UNQUOTABLE.sub("_", plain)
    value = f'{kind}; filename="{quoted}"'
    if plain != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe='!#$&+^`|~')}"
    return value


def _finish(response: Response, row, disposition: str, download_name: str, headers: dict | None) -> None:
    response.headers["Content-Disposition"] = _disposition(disposition, download_name)
    response.set_etag(row.sha256)
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    for name, value in (headers or {}).items():
        response.headers[name] = value


# ---------------------------------------------------------------- moving between backends

@dataclass
class MoveReport:
    moved: int = 0
    already: int = 0  # index rows already in the target backend
    failed: list[str] = field(default_factory=list)  # hashes whose source could not be read or copy verified


def migrate(to: str, *, batch: int = 100, progress: Callable[[MoveReport], None] | None = None) -> MoveReport:
    """Move every document not yet in backend `to` there: copy, read the copy back and check its hash, then
    switch the index row (and clear its BLOB when leaving the database), committing every `batch` documents.

    Idempotent (rows already in `to` are not touched) and resumable (a crash leaves each row either switched or
    still pointing at its source, which still holds the bytes; a re-run finishes the rest, and a copy already in
    the target is not written twice). Source files and objects are left where they were (remove them once
    `documents verify` is clean). A document whose source is missing or corrupt is reported and left as it is.
    """
    target = document_store.backend(to)
    report = MoveReport(already=db.session.scalar(
        select(db.func.count()).select_from(StoredDocument).where(StoredDocument.backend == to)))
    after = ""
    while True:
        rows = db.session.execute(
            select(StoredDocument.sha256, StoredDocument.content_type, StoredDocument.size, StoredDocument.backend,
                   StoredDocument.retain_until)
            .where(StoredDocument.backend != to, StoredDocument.sha256 > after)
            .order_by(StoredDocument.sha256).limit(batch)).all()
        if not rows:
            break
        for row in rows:
            after = row.sha256
            if _move(row, target):
                report.moved += 1
            else:
                report.failed.append(row.sha256)
        db.session.commit()
        if progress is not None:
            progress(report)
    db.session.commit()
    return report


def _move(row, target) -> bool:
    try:
        content = load(row.sha256)[0]
        target.put(row.sha256, content, row.content_type, row.retain_until)
        check = VerifyingReader(target.open(row.sha256), row.sha256, row.size)
        try:
            check.readall()
        finally:
            check.close()
    except _BACKEND_ERRORS as error:
        log.error("moving document %s from %s to %s failed: %s", row.sha256, row.backend, target.name, error)
        return False
    values = {"backend": target.name} if target.name == "database" else {"backend": target.name, "content": None}
    db.session.execute(update(StoredDocument).where(StoredDocument.sha256 == row.sha256,
                                                    StoredDocument.backend == row.backend).values(**values))
    return True


@dataclass
class VerifyReport:
    good: int = 0
    bad: list[tuple[str, str]] = field(default_factory=list)  # (hash, backend)


def verify_all(*, batch: int = 200) -> VerifyReport:
    """Read every indexed document from its backend and check its hash."""
    report = VerifyReport()
    after = ""
    while True:
        rows = db.session.execute(
            select(StoredDocument.sha256, StoredDocument.backend).where(StoredDocument.sha256 > after)
            .order_by(StoredDocument.sha256).limit(batch)).all()
        if not rows:
            break
        for row in rows:
            after = row.sha256
            try:
                load(row.sha256)
            except (DocumentUnavailable, NotFound):
                report.bad.append((row.sha256, row.backend))
            else:
                report.good += 1
        db.session.rollback()  # a long read: let go of the snapshot between batches
    return report


# ---------------------------------------------------------------- rendering


def render_pdf(html: str) -> bytes:
    """`html` as PDF bytes, fetching no URL but `data:`.

    Everything a document shows is inline (data: URIs); any other URL (file://, http://127.0.0.1, …) is
    refused, so text that reaches a document (a customer's name, a service description) can never make the
    renderer read a file or call a server. WeasyPrint's refusal is a BaseException; it is raised here as
    `DocumentFetchRefused` (a ValueError) so the callers' ordinary error handling sees it. The renderer
    (portal/shared/pdf.py) keeps a font configuration and a URL fetcher per thread between renders.
    """
    return pdf.write(pdf.render(html))
