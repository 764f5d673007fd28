"""Rendered pieces of pages, kept while what they show stays the same.

A fragment is a template rendered from hashable values only (tuples, numbers, strings, dates, frozen
dataclasses). Those values, the template, the locale and the script root are the whole key, so an entry can
never be stale: when a license, an order or a price changes, the values change and so does the key, and the
old entry is simply no longer asked for. Nothing is ever invalidated; the least recently used entries go first
once the cache holds FRAGMENT_CACHE_BYTES (0 turns caching off). Each process keeps its own cache.

The rule a fragment must keep: its template reads nothing but its values and what `derive()` returns, and
`derive()` depends on nothing but the values and the locale (translated labels, totals). It must not read the
user, the permissions, the organization or the clock: pass what it needs of those as values. Nor may it hold
a <pre> or a <textarea>: the indentation of its lines is dropped.
"""

import dataclasses
import re
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from typing import Any

from flask import current_app, request
from flask_babel import get_locale
from markupsafe import Markup

from portal.shared import template_gettext

_INDENTATION = re.compile(r"\n\s+")


class FragmentCache:
    """A thread-safe LRU of rendered HTML (or of the read models in `data_versions.cached`), bounded by an estimate
    of the bytes it holds (keys included)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, tuple[Markup, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size(self) -> int:
        return self._bytes

    def get(self, key: Hashable) -> Any:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return found[0]

    def put(self, key: Hashable, value: Any) -> None:
        size = approximate_size(value) + approximate_size(key)
        if size > self.max_bytes:
            return
        with self._lock:
            if key in self._entries:
                return
            self._entries[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _key, (_value, dropped) = self._entries.popitem(last=False)
                self._bytes -= dropped


def approximate_size(value: Any, _depth: int = 0) -> int:
    """The bytes a key or a value holds, near enough to bound the cache: containers and dataclasses are walked, and the
    shared small objects (None, booleans, interned words) are counted as if they were not shared."""
    size = sys.getsizeof(value)
    if _depth > 8:
        return size
    if isinstance(value, tuple | frozenset):
        return size + sum(approximate_size(item, _depth + 1) for item in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return size + sum(approximate_size(getattr(value, f.name), _depth + 1) for f in dataclasses.fields(value))
    return size


def render_fragment(template_name: str, values: Mapping[str, Hashable],
                    derive: Callable[[], Mapping[str, Any]] | None = None) -> Markup:
    """`template_name` rendered with `values` (and, on a miss, what `derive()` adds), or the HTML rendered
    earlier in this process for the same values, template, locale and script root."""
    cache: FragmentCache = current_app.extensions["fragments"]
    template = current_app.jinja_env.get_template(template_name)  # a changed template (development) is a new key
    if not cache.max_bytes:  # no cache: just the render
        return Markup(_render(template, values, derive))  # noqa: S704 - autoescaped HTML (below)
    key = (template, str(get_locale()), request.script_root, tuple(sorted(values.items())))
    found = cache.get(key)
    if found is None:
        # The indentation of the template's lines is dropped (a run of white space shows as one space either way,
        # and a fragment has no <pre> or <textarea>): a page of 50 licenses is a quarter smaller in the cache.
        found = Markup(_INDENTATION.sub("\n", _render(template, values, derive)))  # noqa: S704
        cache.put(key, found)
    return found


def _render(template, values: Mapping[str, Hashable], derive: Callable[[], Mapping[str, Any]] | None) -> str:
    """The fragment's HTML: an .html template renders with autoescaping on, so its output is already safe HTML. The
    templates' `_()` are bound to the locale's catalog, as render_template binds them (template_gettext)."""
    return template.render({**template_gettext.bound(), **values, **(derive() if derive is not None else {})})
