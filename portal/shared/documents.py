"""The restricted PDF renderer every document goes through (invoices, boletos, notas fiscais)."""

from weasyprint import HTML
from weasyprint.urls import FatalURLFetchingError, URLFetcher


class DocumentFetchRefused(ValueError):
    """The document's HTML names a URL other than `data:`; nothing was fetched and no PDF was made."""


def render_pdf(html: str) -> bytes:
    """`html` as PDF bytes, fetching no URL but `data:`.

    Everything a document shows is inline (data: URIs); any other URL (file://, http://127.0.0.1, …) is
    refused, so text that reaches a document (a customer's name, a service description) can never make the
    renderer read a file or call a server. WeasyPrint's refusal is a BaseException; it is raised here as
    `DocumentFetchRefused` (a ValueError) so the callers' ordinary error handling sees it.
    """
    fetcher = URLFetcher(allowed_protocols={"data"}, fail_on_errors=True)
    try:
        return HTML(string=html, url_fetcher=fetcher).write_pdf()
    except FatalURLFetchingError as refused:
        raise DocumentFetchRefused(str(refused)) from refused
