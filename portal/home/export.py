"""The home's 12 months of spend as a spreadsheet: one row per month, one column per product family, then the
credits and adjustments and the month's total (the same numbers as the chart's table)."""

import csv
import io

from flask_babel import gettext as _

from portal.home.presenters import month_label
from portal.home.service import Spend
from portal.shared.formatting import spreadsheet_text


def _cents(value: int) -> str:
    """1234567 → "12345,67" (a decimal comma, no thousands separator: spreadsheets in pt-BR read it as a number)."""
    sign = "-" if value < 0 else ""
    return f"{sign}{abs(value) // 100},{abs(value) % 100:02d}"


def spend_csv(spend: Spend) -> bytes:
    """UTF-8 with a BOM (Excel reads the accents), `;` between fields, CRLF line ends, amounts with a decimal comma;
    a last row with each column's total."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow([_("Mês"), *(spreadsheet_text(family) for family in spend.families), _("Créditos e ajustes"),
                     _("Total")])
    for m, month in enumerate(spend.months):
        writer.writerow([month_label(month), *(_cents(values[m]) for values in spend.by_family),
                         _cents(spend.adjustments[m]), _cents(spend.totals[m])])
    writer.writerow([_("Total"), *(_cents(sum(values)) for values in spend.by_family),
                     _cents(sum(spend.adjustments)), _cents(spend.total_cents)])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")
