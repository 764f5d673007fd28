"""THE text of an invoice line (billing/lines.py): the page and the PDF read the same `LineView`, so the days a
pró-rata line charges are the line's own period, whatever its ledger change says."""

from datetime import date

import pytest
from flask_babel import force_locale

from portal.billing.lines import LineView, line_text


@pytest.fixture
def pt(app_ctx):
    with app_ctx.test_request_context(), force_locale("pt_BR"):
        yield


def test_a_prorata_line_counts_the_days_of_its_own_period(pt):
    line = LineView(kind="prorata", description="Microsoft 365", quantity=2, unit_price_cents=10000,
                    amount_cents=6000, first_day=date(2026, 4, 20), period_end=date(2026, 5, 1), days=11,
                    period_days=30)
    text = line_text(line)
    assert text.startswith("Microsoft 365 — +2 licenças, pró-rata de ") and text.endswith("(11 de 30 dias)")


def test_a_prorata_line_without_its_period_length_says_only_its_dates(pt):
    line = LineView(kind="prorata", description="Microsoft 365", quantity=-1, unit_price_cents=10000,
                    amount_cents=-3000, first_day=date(2026, 4, 20), period_end=date(2026, 5, 1), days=11)
    assert "dias" not in line_text(line) and "-1 licença" in line_text(line)


def test_recurring_and_credit_lines(pt):
    recurring = LineView(kind="recurring", description="Microsoft 365", quantity=3, unit_price_cents=10000,
                         amount_cents=30000, first_day=date(2026, 4, 1), period_end=date(2026, 5, 1))
    assert line_text(recurring).startswith("Microsoft 365 — 3 licenças × R$")
    credit = LineView(kind="credit", description="credit", quantity=1, unit_price_cents=-500, amount_cents=-500)
    assert line_text(credit) == "Crédito aplicado"
