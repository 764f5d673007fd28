"""The fragment cache: bounded, least recently used first, and keyed by everything a fragment shows."""

import sys
from datetime import date

import pytest
from flask_babel import force_locale
from markupsafe import Markup

from portal.shared.fragments import FragmentCache, approximate_size, render_fragment


def entry(size: int) -> Markup:
    """HTML whose entry (string and a one-character key) takes about `size` bytes."""
    return Markup("x" * (size - sys.getsizeof(Markup("")) - approximate_size("k")))  # noqa: S704 - plain text


def test_an_entry_is_found_again_and_counted():
    cache = FragmentCache(10_000)
    assert cache.get("a") is None
    cache.put("a", Markup("<p>a</p>"))
    assert cache.get("a") == Markup("<p>a</p>")
    assert (cache.hits, cache.misses, len(cache)) == (1, 1, 1)


def test_the_least_recently_used_entries_leave_first_when_full():
    cache = FragmentCache(3_000)
    for key in "abc":
        cache.put(key, entry(1_000))
    assert len(cache) == 3 and cache.size <= 3_000
    cache.get("a")  # a is now the most recently used: b goes first
    cache.put("d", entry(1_000))
    assert cache.get("b") is None
    assert [cache.get(key) is not None for key in "acd"] == [True, True, True]
    assert cache.size <= 3_000


def test_an_entry_larger_than_the_whole_cache_is_not_kept_and_evicts_nothing():
    cache = FragmentCache(2_000)
    cache.put("small", entry(1_000))
    cache.put("huge", entry(5_000))
    assert cache.get("huge") is None
    assert cache.get("small") is not None


def test_the_size_counts_the_key_too():
    rows = tuple((n, f"Produto {n}", date(2027, 1, 10), ((10, 7890),)) for n in range(50))
    assert approximate_size(rows) > 50 * sys.getsizeof(f"Produto {49}")
    cache = FragmentCache(1_000_000)
    cache.put(rows, Markup("<tr></tr>"))
    assert cache.size >= approximate_size(rows) + sys.getsizeof(Markup("<tr></tr>"))


TEMPLATE = "tests/fragment.html"
INDENTED = "tests/indented.html"


@pytest.fixture
def fragments(app):
    """A test template and a clean cache; the app's own cache is put back afterwards."""
    from jinja2 import ChoiceLoader, DictLoader

    original_loader, original_cache = app.jinja_env.loader, app.extensions["fragments"]
    app.jinja_env.loader = ChoiceLoader([
        DictLoader({TEMPLATE: "{{ _('Faturas') }}: {% for n in numbers %}{{ n }}{{ suffix }} {% endfor %}",
                    INDENTED: "<ul>\n  {% for n in numbers %}\n    <li>{{ n }} <b>x</b></li>\n  {% endfor %}\n</ul>"}),
        original_loader,
    ])
    app.extensions["fragments"] = FragmentCache(1_000_000)
    yield app.extensions["fragments"]
    app.extensions["fragments"] = original_cache
    app.jinja_env.loader = original_loader


def test_the_same_values_render_once(app, fragments):
    derived = []

    def derive():
        derived.append(1)
        return {"suffix": "!"}

    with app.test_request_context("/"):
        first = render_fragment(TEMPLATE, {"numbers": (1, 2)}, derive)
        again = render_fragment(TEMPLATE, {"numbers": (1, 2)}, derive)
        other = render_fragment(TEMPLATE, {"numbers": (1, 3)}, derive)
    assert str(first) == "Faturas: 1! 2! "
    assert again is first
    assert str(other) == "Faturas: 1! 3! "
    assert len(derived) == 2  # only the misses derive
    assert (fragments.hits, fragments.misses) == (1, 2)


def test_another_language_or_script_root_is_another_entry(app, fragments):
    with app.test_request_context("/"):
        portuguese = render_fragment(TEMPLATE, {"numbers": (1,), "suffix": ""})
        with force_locale("en"):
            english = render_fragment(TEMPLATE, {"numbers": (1,), "suffix": ""})
    with app.test_request_context("/", base_url="http://portal.example.com/raiz"):
        rooted = render_fragment(TEMPLATE, {"numbers": (1,), "suffix": ""})
    assert str(portuguese) == "Faturas: 1 "
    assert str(english) == "Invoices: 1 "
    assert str(rooted) == "Faturas: 1 " and rooted is not portuguese
    assert len(fragments) == 3


def test_values_must_be_hashable_so_nothing_mutable_hides_in_a_key(app, fragments):
    with app.test_request_context("/"), pytest.raises(TypeError):
        render_fragment(TEMPLATE, {"numbers": [1, 2], "suffix": ""})


def test_a_cache_of_zero_bytes_renders_every_time(app, fragments):
    fragments.max_bytes = 0
    with app.test_request_context("/"):
        first = render_fragment(TEMPLATE, {"numbers": (1,), "suffix": ""})
        again = render_fragment(TEMPLATE, {"numbers": (1,), "suffix": ""})
    assert first == again and first is not again
    assert len(fragments) == 0


def test_the_indentation_of_lines_is_dropped_and_spaces_within_lines_kept(app, fragments):
    with app.test_request_context("/"):
        html = render_fragment(INDENTED, {"numbers": (1, 2)})
    assert str(html) == "<ul>\n<li>1 <b>x</b></li>\n<li>2 <b>x</b></li>\n</ul>"
