"""Browser: with the filesystem document store, Cobrança downloads an invoice's PDF (streamed, checked on read)."""

import re
import tempfile

import pytest
from playwright.sync_api import expect

from portal.billing.models import Invoice
from portal.extensions import db
from portal.shared import document_store, documents
from tests.e2e.test_faturas import COBRANCA, payable_invoice

pytestmark = pytest.mark.e2e


@pytest.fixture
def filesystem_store(live_server):
    """The live portal's documents moved to a filesystem store for this test, and back to the database after."""
    app = live_server.app
    before = dict(app.config)
    app.config.update(DOCUMENT_STORE="filesystem", DOCUMENT_STORE_DIR=tempfile.mkdtemp(prefix="portal-documents-"))
    app.extensions["document_backends"] = {}
    with app.app_context():
        assert documents.migrate("filesystem").failed == []
        db.session.remove()
    yield document_store.backend("filesystem", app)
    with app.app_context():
        assert documents.migrate(before["DOCUMENT_STORE"]).failed == []
        db.session.remove()
    app.config.update(DOCUMENT_STORE=before["DOCUMENT_STORE"], DOCUMENT_STORE_DIR=before["DOCUMENT_STORE_DIR"])
    app.extensions["document_backends"] = {}


def test_cobranca_downloads_the_invoice_pdf_from_the_filesystem_store(page, log_in, live_server, filesystem_store):
    invoice = payable_invoice(live_server.app)
    with live_server.app.app_context():
        digest = db.session.get(Invoice, invoice["id"]).pdf_sha256
        expected = documents.load(digest)[0]
        db.session.remove()
    assert filesystem_store.path(digest).read_bytes() == expected  # the file the download is read from

    log_in(page, COBRANCA)
    page.goto(f"{live_server.url}/faturas/{invoice['id']}")
    expect(page).to_have_url(re.compile(rf"/faturas/{invoice['id']}$"))
    with page.expect_download() as started:
        page.get_by_test_id("invoice-pdf").click()
    download = started.value
    assert re.fullmatch(r"fatura-\d{4}-\d{6}\.pdf", download.suggested_filename)
    with open(download.path(), "rb") as saved:
        assert saved.read() == expected
