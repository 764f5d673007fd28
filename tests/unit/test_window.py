"""subscriptions/window.py: the decrease window's length, start, rule and words, in one pure module."""

import ast
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from flask_babel import force_locale

from portal.billing import prorata
from portal.catalog.models import Provider
from portal.subscriptions import window

ADDED = datetime(2026, 3, 11, 15, 0, tzinfo=UTC)


def test_its_length_by_provider():
    assert window.default_hours(Provider.MICROSOFT_CSP) == 168  # NCE: 7 days
    assert window.default_hours(Provider.OWN_SERVICE) == 0  # own services: decreases wait for the term end
    assert set(window.DEFAULT_HOURS) == {p.value for p in Provider}


def test_it_starts_when_the_lot_is_added_and_allows_until_strictly_before_its_end():
    end = window.window_end(ADDED, 168)
    assert end == ADDED + timedelta(days=7)
    assert window.is_open(end, end - timedelta(microseconds=1))
    assert not window.is_open(end, end)
    assert not window.is_open(window.window_end(ADDED, 0), ADDED)  # a 0 h window is never open


def test_the_planner_credits_only_lots_inside_their_window():
    lots = [prorata.Lot("old", 3, 1000, ADDED - timedelta(days=30), window.window_end(ADDED - timedelta(days=30), 168),
                        3000),
            prorata.Lot("new", 2, 1000, ADDED, window.window_end(ADDED, 168), 600)]
    at = ADDED + timedelta(hours=1)
    plan = prorata.plan_decrease(lots, 4, at, date(2026, 3, 1), date(2026, 4, 1), at.date())
    assert [(line.lot_id, line.quantity) for line in plan.credit_lines] == [("new", 2)]
    assert plan.scheduled_quantity == 2


@pytest.mark.parametrize(("hours", "unit", "pt", "en"), [
    (168, "days", "7 dias", "7 days"),
    (168, "hours", "168 horas", "168 hours"),
    (24, "days", "1 dia", "1 day"),
    (36, "days", "36 horas", "36 hours"),
])
def test_its_words(app_ctx, hours, unit, pt, en):
    with app_ctx.test_request_context():
        with force_locale("pt_BR"):
            assert window.words(hours, unit) == pt
        with force_locale("en"):
            assert window.words(hours, unit) == en


@pytest.mark.parametrize(("hours", "provider", "words"), [
    (168, "microsoft_csp", "reduções só nos primeiros 7 dias"),
    (36, "microsoft_csp", "reduções só nas primeiras 36 horas"),
    (0, "own_service", "serviço próprio: reduções no fim do termo"),
    (0, "microsoft_csp", "reduções no fim do termo"),
])
def test_what_it_means_on_the_catalog(app_ctx, hours, provider, words):
    with app_ctx.test_request_context(), force_locale("pt_BR"):
        assert window.limit_words(hours, provider) == words


def test_the_window_is_pure():
    tree = ast.parse(Path(window.__file__).read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert imported <= {"datetime", "flask_babel"}
