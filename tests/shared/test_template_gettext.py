"""The templates' `_()` formats its message as `Markup(message) % variables` would."""

from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest
from flask_babel import lazy_gettext
from jinja2 import Undefined
from markupsafe import Markup

from portal.shared.template_gettext import Sentence, markup_format


class _Html:
    def __html__(self):
        return "<b>safe</b>"


VALUES = ["plain", "<script>alert('x')</script> & \"y\"", Markup("<i>kept</i>"), _Html(), 0, 42, -3, 2.5, True,
          Decimal("12.50"), Fraction(1, 3), None, Undefined(), date(2026, 12, 7), "100%", "ação — R$ 1.234,56"]
PATTERNS = ["%(v)s", "<p>%(v)s</p>", "%(v)s%% ao mês", "no values at all", "100%% <b>%(v)s</b> %(v)s"]


@pytest.mark.parametrize("value", VALUES, ids=repr)
@pytest.mark.parametrize("pattern", PATTERNS)
def test_markup_format_is_markups_own_percent(pattern, value):
    made = markup_format(pattern, {"v": value})

    assert made == Markup(pattern) % {"v": value}  # noqa: S704 - the reference it must equal
    assert isinstance(made, Markup)


@pytest.mark.parametrize(("pattern", "value"), [("%(v)d licenças", 3), ("%(v).2f", 2.5), ("%(v).2f", Decimal("1.25")),
                                                ("%(v)d", True), ("%(v)05d", 7)])
def test_numbers_keep_their_numeric_formats(pattern, value):
    assert markup_format(pattern, {"v": value}) == Markup(pattern) % {"v": value}  # noqa: S704 - the reference


def test_a_lazy_string_is_taken_as_markup_takes_it(app):
    with app.test_request_context("/"):
        lazy = lazy_gettext("Termo <%(x)s>", x="&")
        assert markup_format("[%(v)s]", {"v": lazy}) == Markup("[%(v)s]") % {"v": lazy}


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_a_sentence_fills_in_as_markup_does(value):
    pattern = "renova em %(v)s — <b>%(v)s</b> %%"
    filled = Sentence(pattern) % {"v": value}

    assert filled == Markup(pattern) % {"v": value}  # noqa: S704 - the reference it must equal
    assert type(filled) is Markup and isinstance(Sentence(pattern), Markup)
