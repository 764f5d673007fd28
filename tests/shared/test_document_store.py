"""The document store: the database, filesystem and S3 backends (S3 against moto's standalone server on loopback),
reads checked against the hash, streamed downloads and their offloads, `documents migrate`, and a bucket that is
down while the invoice job runs."""

import hashlib
import os
import urllib.request
import uuid
from datetime import UTC, date, datetime, timedelta

import boto3
import pytest
from sqlalchemy import func, select, update

from portal.billing import jobs as billing_jobs
from portal.billing.models import Invoice
from portal.extensions import db
from portal.shared import clock, document_store, documents
from portal.shared.document_store import DocumentCorrupt, DocumentStoreError, StoredDocument
from portal.shared.documents_cli import documents_group
from portal.support.models import Ticket
from tests import factories
from tests.api.helpers import bearer, token_for
from tests.fakes.concurrency import concurrently
from tests.fakes.s3 import CREDENTIALS, MotoServer, shared_endpoint
from tests.html import field_errors, textarea
from tests.support.test_views import open_ticket

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
PDF = b"%PDF-1.7 fatura de teste"


@pytest.fixture(scope="module")
def s3_endpoint():
    url, started = shared_endpoint()
    yield url
    if started is not None:
        started.stop()


def _client(endpoint: str):
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing",
                        region_name="us-east-1")


def _bucket(endpoint: str, *, lock: bool = True) -> str:
    name = f"docs-{uuid.uuid4().hex[:12]}"
    _client(endpoint).create_bucket(Bucket=name, ObjectLockEnabledForBucket=lock)
    return name


@pytest.fixture
def use_store(app_ctx, monkeypatch, tmp_path):
    """`use_store("s3", DOCUMENT_STORE_S3_BUCKET=…)`: the app writes new documents there for this test."""

    def use(name: str, **settings):
        monkeypatch.setitem(app_ctx.config, "DOCUMENT_STORE", name)
        monkeypatch.setitem(app_ctx.config, "DOCUMENT_STORE_DIR", str(tmp_path / "documents"))
        for key, value in settings.items():
            monkeypatch.setitem(app_ctx.config, key, value)
        app_ctx.extensions["document_backends"] = {}
        return document_store.backend()

    yield use
    app_ctx.extensions["document_backends"] = {}


@pytest.fixture
def s3(use_store, s3_endpoint):
    """The S3 backend on a new bucket with Object Lock."""
    bucket = _bucket(s3_endpoint)
    return use_store("s3", DOCUMENT_STORE_S3_BUCKET=bucket, DOCUMENT_STORE_S3_ENDPOINT_URL=s3_endpoint,
                     DOCUMENT_STORE_S3_PREFIX="docs/", **CREDENTIALS)


def _row(digest: str) -> StoredDocument:
    db.session.expire_all()
    return db.session.get(StoredDocument, digest)


# ---------------------------------------------------------------- database and filesystem

def test_the_database_backend_keeps_the_bytes_in_the_row_and_refuses_a_changed_blob(app_ctx, use_store):
    use_store("database")
    digest = documents.store(PDF, "application/pdf")
    assert _row(digest).backend == "database" and _row(digest).content == PDF
    assert documents.load(digest) == (PDF, "application/pdf")
    db.session.execute(update(StoredDocument).where(StoredDocument.sha256 == digest).values(content=b"%PDF-1.7 outra"))
    with pytest.raises(DocumentCorrupt):
        documents.load(digest)


def test_the_filesystem_backend_writes_one_file_per_hash_and_refuses_a_corrupted_one(app_ctx, use_store):
    store = use_store("filesystem")
    digest = documents.store(PDF, "application/pdf")
    path = store.path(digest)
    assert path == store.root / digest[:2] / digest[2:4] / digest and path.read_bytes() == PDF
    assert [p.name for p in path.parent.iterdir()] == [digest]  # the temporary file was renamed, none is left
    row = _row(digest)
    assert row.backend == "filesystem" and row.content is None and row.size == len(PDF)
    assert documents.store(PDF, "application/pdf") == digest  # the same bytes: nothing new
    assert documents.load(digest) == (PDF, "application/pdf")
    path.write_bytes(PDF.replace(b"teste", b"TESTE"))  # same size, other bytes
    with pytest.raises(DocumentCorrupt):
        documents.load(digest)
    path.write_bytes(PDF[:-3])
    with pytest.raises(DocumentCorrupt):
        documents.load(digest)
    path.unlink()
    with pytest.raises(documents.DocumentUnavailable):
        documents.load(digest)


def test_a_document_stored_under_another_setting_is_read_from_where_it_is(app_ctx, use_store):
    use_store("database")
    old = documents.store(b"antigo", "text/plain")
    use_store("filesystem")
    new = documents.store(b"novo", "text/plain")
    assert (_row(old).backend, _row(new).backend) == ("database", "filesystem")
    assert documents.load(old)[0] == b"antigo" and documents.load(new)[0] == b"novo"


def test_fiscal_documents_record_their_retention_in_the_index(app_ctx, use_store):
    use_store("filesystem")
    with clock.frozen(NOW):
        fiscal = documents.store(b"nota", "application/xml", fiscal=True)
        other = documents.store(b"anexo", "text/plain")
    assert _row(fiscal).retain_until == NOW.replace(year=2031) and _row(other).retain_until is None


# ---------------------------------------------------------------- downloads

def test_an_invoice_pdf_is_streamed_with_its_length_and_hash(app_ctx, world, login_as, use_store, monkeypatch):
    monkeypatch.setattr(document_store, "CHUNK", 1024)
    monkeypatch.setattr(documents, "CHUNK", 1024)
    use_store("filesystem")
    invoice = factories.invoice(world.demo)
    content = b"%PDF-1.7 " + os.urandom(5000)  # five chunks
    invoice.pdf_sha256 = documents.store(content, "application/pdf", fiscal=True)
    db.session.commit()
    client = login_as("cobranca")
    response = client.get(f"/faturas/{invoice.id}/fatura.pdf", buffered=False)
    assert response.is_streamed and response.status_code == 200
    assert response.headers["Content-Length"] == str(len(content))
    assert response.headers["ETag"] == f'"{invoice.pdf_sha256}"'
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.get_data() == content
    assert login_as("other_master").get(f"/faturas/{invoice.id}/fatura.pdf").status_code == 404  # not theirs


def test_a_corrupted_document_is_a_503_page_and_a_large_one_never_arrives_whole(app_ctx, world, login_as, use_store,
                                                                                 monkeypatch):
    monkeypatch.setattr(documents, "CHUNK", 1024)
    store = use_store("filesystem")
    invoice = factories.invoice(world.demo)
    invoice.pdf_sha256 = documents.store(PDF, "application/pdf", fiscal=True)
    db.session.commit()
    store.path(invoice.pdf_sha256).write_bytes(PDF.upper())
    client = login_as("cobranca")
    response = client.get(f"/faturas/{invoice.id}/fatura.pdf")
    assert response.status_code == 503 and "Documento indisponível" in response.get_data(as_text=True)
    assert response.headers["Retry-After"] == "300"

    big = b"%PDF-1.7 " + os.urandom(4000)
    invoice.pdf_sha256 = documents.store(big, "application/pdf")
    db.session.commit()
    store.path(invoice.pdf_sha256).write_bytes(big[:-1] + bytes([big[-1] ^ 1]))  # the last byte changed
    received = []
    with pytest.raises(DocumentCorrupt):
        response = client.get(f"/faturas/{invoice.id}/fatura.pdf", buffered=False)
        received.extend(response.response)
    assert len(b"".join(received)) < len(big)  # the held-back last chunk never went out


def test_the_api_answers_a_corrupted_document_with_a_problem(app_ctx, world, client, use_store):
    store = use_store("filesystem")
    invoice = factories.invoice(world.demo)
    invoice.pdf_sha256 = documents.store(PDF, "application/pdf")
    db.session.commit()
    store.path(invoice.pdf_sha256).write_bytes(PDF.upper())
    response = client.get(f"/api/v1/invoices/{invoice.id}/pdf",
                          headers=bearer(token_for(world.master_membership, ["master"])))
    assert response.status_code == 503 and response.json["type"].endswith("/unavailable")


def test_x_accel_offload_names_the_file_for_nginx(app_ctx, world, login_as, use_store):
    use_store("filesystem", DOCUMENT_DOWNLOAD_OFFLOAD="x-accel")
    invoice = factories.invoice(world.demo)
    invoice.pdf_sha256 = digest = documents.store(PDF, "application/pdf")
    db.session.commit()
    response = login_as("cobranca").get(f"/faturas/{invoice.id}/fatura.pdf")
    assert response.status_code == 200 and response.data == b""
    assert response.headers["X-Accel-Redirect"] == f"/_documentos/{digest[:2]}/{digest[2:4]}/{digest}"
    assert response.mimetype == "application/pdf" and response.headers["ETag"] == f'"{digest}"'


def test_a_download_named_by_its_etag_is_not_sent_again(app_ctx, world, login_as, use_store):
    use_store("filesystem")
    invoice = factories.invoice(world.demo)
    invoice.pdf_sha256 = digest = documents.store(PDF, "application/pdf")
    db.session.commit()
    response = login_as("cobranca").get(f"/faturas/{invoice.id}/fatura.pdf", headers={"If-None-Match": f'"{digest}"'})
    assert response.status_code == 304 and response.data == b""



def test_a_ticket_file_while_the_store_is_down_is_a_message_on_the_form(app_ctx, world, login_as, store_down):
    response = open_ticket(login_as("suporte"), files=[("erro.pdf", factories.PDF)])
    assert response.status_code == 422
    assert "Não foi possível guardar os arquivos agora. Tente de novo em alguns minutos." in field_errors(response)
    assert textarea(response, "description") == "Desde segunda a impressão falha com erro 0x80070005."  # kept
    assert db.session.scalar(select(func.count()).select_from(Ticket)) == 0

# ---------------------------------------------------------------- S3

def test_s3_puts_gets_and_encrypts(app_ctx, s3):
    digest = documents.store(PDF, "application/pdf")
    row = _row(digest)
    assert row.backend == "s3" and row.content is None
    head = s3.client.head_object(Bucket=s3.bucket, Key=f"docs/{digest}")
    assert head["ServerSideEncryption"] == "AES256" and head["ContentType"] == "application/pdf"
    assert documents.load(digest) == (PDF, "application/pdf")
    s3.check()


def test_s3_keeps_fiscal_documents_under_object_lock(app_ctx, s3):
    with clock.frozen(NOW):
        fiscal = documents.store(b"<NFSe/>", "application/xml", fiscal=True)
        other = documents.store(b"anexo", "text/plain")
    locked = s3.client.head_object(Bucket=s3.bucket, Key=f"docs/{fiscal}")
    assert locked["ObjectLockMode"] == "GOVERNANCE"
    assert locked["ObjectLockRetainUntilDate"].astimezone(UTC).date() == date(2031, 3, 1)
    assert "ObjectLockMode" not in s3.client.head_object(Bucket=s3.bucket, Key=f"docs/{other}")


def test_s3_without_object_lock_stores_fiscal_documents_without_retention(app_ctx, use_store, s3_endpoint):
    bucket = _bucket(s3_endpoint, lock=False)
    store = use_store("s3", DOCUMENT_STORE_S3_BUCKET=bucket, DOCUMENT_STORE_S3_ENDPOINT_URL=s3_endpoint,
                      DOCUMENT_STORE_S3_SSE="", **CREDENTIALS)
    digest = documents.store(b"<NFSe/>", "application/xml", fiscal=True)
    assert store.object_lock_enabled() is False and documents.load(digest)[0] == b"<NFSe/>"
    assert _row(digest).retain_until is not None  # recorded: a later migrate to a locked bucket applies it


def test_s3_refuses_a_changed_object(app_ctx, s3):
    digest = documents.store(PDF, "application/pdf")
    s3.client.put_object(Bucket=s3.bucket, Key=f"docs/{digest}", Body=PDF.upper())
    with pytest.raises(DocumentCorrupt):
        documents.load(digest)


def test_presigned_download_redirects_to_a_short_lived_url(app_ctx, world, login_as, s3, monkeypatch):
    monkeypatch.setitem(app_ctx.config, "DOCUMENT_DOWNLOAD_OFFLOAD", "presigned")
    invoice = factories.invoice(world.demo)
    invoice.pdf_sha256 = documents.store(PDF, "application/pdf", fiscal=True)
    db.session.commit()
    response = login_as("cobranca").get(f"/faturas/{invoice.id}/fatura.pdf")
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(s3.client.meta.endpoint_url) and "X-Amz-Expires=60" in location
    with urllib.request.urlopen(location, timeout=10) as fetched:  # noqa: S310 - the loopback moto server
        assert fetched.read() == PDF and fetched.headers["Content-Type"] == "application/pdf"
        assert "attachment" in fetched.headers["Content-Disposition"]


# ---------------------------------------------------------------- migrate

def _stored_in(use_store, name: str, count: int) -> list[str]:
    use_store(name)
    return [documents.store(f"documento {name} {i}".encode(), "application/pdf", fiscal=i == 0) for i in range(count)]


@pytest.mark.parametrize("source", ["database", "filesystem"])
def test_migrate_to_s3_is_idempotent_and_resumes_after_a_crash(app_ctx, use_store, s3_endpoint, monkeypatch, source):
    digests = _stored_in(use_store, source, 5)
    db.session.commit()
    bucket = _bucket(s3_endpoint)
    settings = {"DOCUMENT_STORE_S3_BUCKET": bucket, "DOCUMENT_STORE_S3_ENDPOINT_URL": s3_endpoint, **CREDENTIALS}
    target = use_store("s3", **settings)

    real_move, moves = documents._move, []

    def crash_after_two(row, to):
        if len(moves) == 2:
            raise KeyboardInterrupt("the operator's ^C")
        moves.append(row.sha256)
        return real_move(row, to)

    monkeypatch.setattr(documents, "_move", crash_after_two)
    with pytest.raises(KeyboardInterrupt):
        documents.migrate("s3", batch=1)
    db.session.rollback()
    assert db.session.scalar(select(func.count()).where(StoredDocument.backend == "s3")) == 2
    monkeypatch.setattr(documents, "_move", real_move)

    result = app_ctx.test_cli_runner().invoke(documents_group, ["migrate", "--to", "s3", "--batch", "2"])
    assert result.exit_code == 0, result.output
    assert "moved 3, already in s3 2, failed 0" in result.output
    for digest in digests:
        row = _row(digest)
        assert row.backend == "s3" and row.content is None
        body = target.client.get_object(Bucket=bucket, Key=f"documents/{digest}")["Body"].read()
        assert hashlib.sha256(body).hexdigest() == digest
    assert documents.migrate("s3").moved == 0  # again: nothing moves twice
    lock = target.client.head_object(Bucket=bucket, Key=f"documents/{digests[0]}")
    assert lock["ObjectLockMode"] == "GOVERNANCE"  # the fiscal one kept its retention on the way
    verified = app_ctx.test_cli_runner().invoke(documents_group, ["verify"])
    assert verified.exit_code == 0 and "bad 0" in verified.output


def test_migrate_leaves_a_corrupt_source_where_it_is_and_says_so(app_ctx, use_store):
    store = use_store("filesystem")
    good, bad = documents.store(b"bom", "text/plain"), documents.store(b"ruim", "text/plain")
    store.path(bad).write_bytes(b"RUIM")
    report = documents.migrate("database")
    assert report.moved == 1 and report.failed == [bad]
    assert (_row(good).backend, _row(good).content) == ("database", b"bom") and _row(bad).backend == "filesystem"
    assert documents.verify_all().bad == [(bad, "filesystem")]


# ---------------------------------------------------------------- a bucket that is down

def test_the_invoice_job_waits_for_a_bucket_that_is_down(app_ctx, world, use_store):
    server = MotoServer().start()
    try:
        bucket = _bucket(server.url)
        use_store("s3", DOCUMENT_STORE_S3_BUCKET=bucket, DOCUMENT_STORE_S3_ENDPOINT_URL=server.url,
                  DOCUMENT_STORE_S3_TIMEOUT=2.0, **CREDENTIALS)
        with clock.frozen(NOW):
            invoice = factories.invoice(world.demo, billing_date=NOW.date(), due_date=NOW.date() + timedelta(days=10))
        server.stop()  # the bucket is down

        with clock.frozen(NOW), pytest.raises(DocumentStoreError):
            billing_jobs.complete_invoice.call_local(invoice.id)  # raises: Huey retries it (retries=3)
        with clock.frozen(NOW):
            billing_jobs.sweep_invoices.call_local()  # and the sweep tries again every 10 minutes
        db.session.expire_all()
        waiting = db.session.get(Invoice, invoice.id)
        assert waiting.pdf_sha256 is None and waiting.emailed_at is None and waiting.fiscal_document is None
        assert all(b.pdf_sha256 is None for b in waiting.boletos)
        assert db.session.scalar(select(func.count()).select_from(StoredDocument)) == 0

        server.start()  # back (moto keeps nothing: the bucket is made again)
        _client(server.url).create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
        with clock.frozen(NOW):
            billing_jobs.sweep_invoices.call_local()
        db.session.expire_all()
        done = db.session.get(Invoice, invoice.id)
        assert done.pdf_sha256 is not None and done.fiscal_document is not None and done.emailed_at is not None
        for digest in [done.pdf_sha256, done.fiscal_document.pdf_sha256, *(b.pdf_sha256 for b in done.boletos)]:
            assert _row(digest).backend == "s3"
            assert documents.load(digest)[0].startswith(b"%PDF")
    finally:
        server.stop()


# ---------------------------------------------------------------- races

def test_workers_storing_the_same_document_at_once_keep_one_file_and_one_row(make_app, engine_name, tmp_path):
    app = make_app(engine_name, DOCUMENT_STORE="filesystem", DOCUMENT_STORE_DIR=str(tmp_path / "documents"))
    content = b"%PDF-1.7 " + os.urandom(300_000)  # large enough for the writes to overlap

    def store(_index):
        with app.app_context():
            digest = documents.store(content, "application/pdf", fiscal=True)
            db.session.commit()
            db.session.remove()
            return digest

    results, errors = concurrently(4, store)
    assert errors == [] and len(set(results)) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(StoredDocument)) == 1
        assert documents.load(results[0])[0] == content
        path = document_store.backend(app=app).path(results[0])
        db.session.remove()
    assert [p.name for p in path.parent.iterdir()] == [results[0]]  # no temporary file left behind

