"""The restricted WeasyPrint renderer behind `portal.shared.documents.render_pdf`, made cheap to call often.

Month-end renders thousands of documents in each consumer process (issue 19, point 5; bench/README.md,
"Month-end documents"). What a render paid each time and no longer does:

- a new `FontConfiguration`: WeasyPrint makes one per render when none is given, and making one loads
  fontconfig's configuration and scans the system's fonts again (about a third of an invoice's render).
  One is kept per thread (Huey runs jobs in worker threads; a Pango font map is not to be shared between
  threads), and reused for every document that brings no fonts of its own: a document with `@font-face`
  would add its fonts to the configuration for good, so it gets a fresh one, as before;
- a new URL fetcher (an `OpenerDirector` with its handlers), likewise kept per thread;
- parsing the document's stylesheet: every document template has one `<style>` in its `<head>` (the same
  text for every invoice, boleto, DANFSe…), so it is parsed once per process into a `CSS` object kept by its
  text, and the document is laid out with that object in its place. It is given as a user stylesheet, which
  cascades exactly as the author's did here: above the user agent's, below `style=""` attributes (only an
  `!important` of it would now also beat an attribute's `!important`, and the templates have none of those
  in attributes). A stylesheet with `@font-face` or `@import` is left in the document.

`render` returns WeasyPrint's laid-out `Document`, so a caller can write several PDFs from one layout
(the invoice and its boleto page: portal/billing/documents.py).
"""

import re
import threading

from weasyprint import CSS, HTML, Document
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import FatalURLFetchingError, URLFetcher

_local = threading.local()
_STYLE = re.compile(r"<style>(.*?)</style>", re.DOTALL)
_STYLESHEETS_KEPT = 32  # distinct stylesheet texts kept (the templates have a handful)
_stylesheets: dict[str, CSS] = {}
_stylesheets_lock = threading.Lock()


class DocumentFetchRefused(ValueError):
    """The document's HTML names a URL other than `data:`; nothing was fetched and no PDF was made."""


def _fetcher() -> URLFetcher:
    fetcher = getattr(_local, "fetcher", None)
    if fetcher is None:
        fetcher = _local.fetcher = URLFetcher(allowed_protocols={"data"}, fail_on_errors=True)
    return fetcher


def font_configuration() -> FontConfiguration:
    """This thread's font configuration (made on the thread's first render, then reused)."""
    config = getattr(_local, "font_config", None)
    if config is None:
        config = _local.font_config = FontConfiguration()
    return config


def stylesheet(text: str) -> CSS:
    """The parsed `CSS` of a stylesheet's text: parsed on first use, then the same object (shared by threads:
    laying out only reads it)."""
    found = _stylesheets.get(text)
    if found is None:
        parsed = CSS(string=text, url_fetcher=_fetcher())
        with _stylesheets_lock:
            if len(_stylesheets) >= _STYLESHEETS_KEPT:
                _stylesheets.clear()
            found = _stylesheets.setdefault(text, parsed)
    return found


def _split_stylesheet(html: str) -> tuple[str, list[CSS]]:
    """The document without its head's `<style>`, and that stylesheet parsed (kept); unchanged if it has none,
    or one that brings fonts or imports."""
    head_end = html.find("</head>")
    found = _STYLE.search(html, 0, head_end if head_end >= 0 else len(html))
    if found is None or "@font-face" in found.group(1) or "@import" in found.group(1):
        return html, []
    return html[:found.start()] + html[found.end():], [stylesheet(found.group(1))]


def render(html: str) -> Document:
    """`html` laid out as pages, fetching no URL but `data:` (see `documents.render_pdf`)."""
    config = FontConfiguration() if "@font-face" in html else font_configuration()
    try:
        html, stylesheets = _split_stylesheet(html)
        return HTML(string=html, url_fetcher=_fetcher()).render(font_config=config, stylesheets=stylesheets)
    except FatalURLFetchingError as refused:
        raise DocumentFetchRefused(str(refused)) from refused


def write(document: Document) -> bytes:
    """The PDF bytes of `document` (or of a `document.copy(pages)`)."""
    try:
        return document.write_pdf()
    except FatalURLFetchingError as refused:
        raise DocumentFetchRefused(str(refused)) from refused
