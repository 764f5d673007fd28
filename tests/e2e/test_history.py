"""Browser: the Master reads the organization's "Histórico" as sentences, filters it by kind and period, pages
and downloads the CSV (issue 13 point 10); the page holds no JSON, hash, centavos or internal code."""

import csv
import io
import re

import pytest
from playwright.sync_api import expect

from portal.shared import clock

pytestmark = pytest.mark.e2e

MASTER = "master@demo.example.com"


def test_the_master_reads_filters_and_exports_the_history(page, log_in, check_page):
    log_in(page, MASTER)
    page.get_by_role("navigation", name="Navegação principal").get_by_role("link", name="Histórico").click()
    expect(page.get_by_role("heading", name="Histórico")).to_be_visible()
    table = page.get_by_test_id("history-table")
    expect(table).to_be_visible()
    text = table.inner_text()
    for raw in ("{", "_cents", "sha256", "accepted by the provider", "system:"):
        assert raw not in text, raw
    assert not re.search(r"\b[0-9a-f]{64}\b", text)
    # The demo's purchases and invoices, told (the product by name, not by SKU; money in reais). The newest purchase:
    # the first page holds the last 50 events, and the demo's home history (12 months of invoices) is newer than the
    # first purchases.
    expect(table).to_contain_text("Backup em Nuvem 100 GB")
    expect(table.get_by_test_id("history-sentence").filter(has_text=re.compile(r"^Fatura \d{4}/\d{6} emitida: R\$ "))
           ).not_to_have_count(0)
    check_page(page)

    page.get_by_label("Tipo").select_option(label="Faturas e pagamentos")
    page.get_by_role("button", name="Filtrar").click()
    expect(page).to_have_url(re.compile(r"/historico\?tipo=billing"))
    kinds = page.get_by_test_id("history-kind").all_inner_texts()
    assert kinds and set(kinds) == {"Faturas e pagamentos"}, kinds

    today = clock.today()
    page.get_by_label("De").fill(today.isoformat())
    page.get_by_label("Até").fill(today.isoformat())
    page.get_by_role("button", name="Filtrar").click()
    expect(page).to_have_url(re.compile(rf"de={today.isoformat()}&ate={today.isoformat()}"))
    expect(page.get_by_label("Tipo")).to_have_value("billing")
    check_page(page)

    page.goto("/historico")
    with page.expect_download() as download:
        page.get_by_test_id("history-csv").click()
    raw = download.value.path().read_bytes()
    assert download.value.suggested_filename.startswith("historico-")
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["Data e hora", "Quem", "Tipo", "O que aconteceu"]
    shown = page.get_by_test_id("history-sentence").all_inner_texts()
    assert [row[3] for row in rows[1:len(shown) + 1]] == shown
