"""The PDF renderer's reuse between renders (portal/shared/pdf.py): what it keeps, for whom, and that keeping it
changes nothing in the documents — not their text, not their pixels, not from several threads at once.

No timing here (bench/documents.py measures the speed; bench/README.md has the numbers)."""

import threading

import pytest

from portal.shared import documents, pdf
from tests.fakes import pdf as pdf_tools
from tests.fakes.concurrency import concurrently

STYLE = """
  @page { size: A5; margin: 10mm; }
  html { font-family: "DejaVu Sans", sans-serif; font-size: 10pt; }
  .hidden { display: none; }
  .wide { letter-spacing: 2pt; }
  p.inline-wins { color: #000; }
"""


def page(body: str, style: str = STYLE) -> str:
    return (f'<!doctype html><html lang="pt-BR"><head><meta charset="utf-8"><title>Teste</title>'
            f"<style>{style}</style></head><body>{body}</body></html>")


BODY = ('<h1>Fatura 2026/000123</h1><p class="hidden">texto escondido pela folha</p>'
        '<p class="wide">Cliente Exemplo Ltda</p><p class="inline-wins" style="color: #c00">vermelho</p>'
        + "".join(f"<p>Linha {n}: Microsoft 365 Business Standard × {n}</p>" for n in range(40)))


@pytest.fixture
def fresh_stylesheets(monkeypatch):
    """An empty stylesheet cache, and a count of the stylesheets parsed."""
    monkeypatch.setattr(pdf, "_stylesheets", {})
    parsed = []
    real = pdf.CSS

    def counting(*args, **kwargs):
        parsed.append(kwargs.get("string"))
        return real(*args, **kwargs)

    monkeypatch.setattr(pdf, "CSS", counting)
    return parsed


def test_the_stylesheet_is_parsed_once_per_process_and_still_applies(fresh_stylesheets):
    first = documents.render_pdf(page(BODY))
    second = documents.render_pdf(page(BODY.replace("2026/000123", "2026/000124")))
    assert fresh_stylesheets == [STYLE]  # one parse for both documents
    for content, number in ((first, "2026/000123"), (second, "2026/000124")):
        text = pdf_tools.pdf_text(content)
        assert f"Fatura {number}" in text
        assert "escondido" not in text  # the kept stylesheet's rules are applied
    assert pdf_tools.rasterise(first, 1, dpi=72).width == pytest.approx(420, abs=1)  # A5 (148 mm) by its @page

    documents.render_pdf(page(BODY, style=STYLE + " h1 { font-size: 20pt; }"))
    assert len(fresh_stylesheets) == 2  # another text, another parse


def test_a_kept_stylesheet_renders_the_same_pixels_as_the_inline_one(fresh_stylesheets):
    """Taking the <style> out and giving it parsed keeps the cascade: the `style=""` attribute still wins."""
    from weasyprint import HTML

    html = page(BODY)
    fresh = HTML(string=html).write_pdf()  # WeasyPrint alone: the <style> in the document, nothing kept
    kept = documents.render_pdf(html)
    assert pdf_tools.page_count(kept) == pdf_tools.page_count(fresh) == 2
    for number in (1, 2):
        assert (pdf_tools.rasterise(kept, number, dpi=72).tobytes()
                == pdf_tools.rasterise(fresh, number, dpi=72).tobytes())


def test_font_configuration_is_one_per_thread():
    mine = pdf.font_configuration()
    assert pdf.font_configuration() is mine
    theirs = []
    worker = threading.Thread(target=lambda: theirs.append(pdf.font_configuration()))
    worker.start()
    worker.join()
    assert theirs[0] is not mine


def test_a_document_with_its_own_fonts_gets_a_fresh_font_configuration(monkeypatch):
    made = []
    real = pdf.FontConfiguration
    monkeypatch.setattr(pdf, "FontConfiguration", lambda: made.append(real()) or made[-1])
    pdf.font_configuration()  # this thread's, made before
    made.clear()
    face = '@font-face { font-family: "Minha"; src: url("data:font/ttf;base64,AAAA"); }'
    pdf.render(page("<p>com fonte</p>", style=face + STYLE))
    assert len(made) == 1 and made[0] is not pdf.font_configuration()
    pdf.render(page("<p>sem fonte</p>"))
    assert len(made) == 1  # the thread's own, reused


def test_renders_in_threads_give_identical_documents():
    """Huey's thread workers render at the same time: each thread's font configuration, one shared stylesheet."""
    html = page(BODY)
    expected = documents.render_pdf(html)
    results, errors = concurrently(4, lambda index: documents.render_pdf(html))
    assert errors == []
    assert len(results) == 4
    assert all(content == expected for content in results)
    assert "Fatura 2026/000123" in pdf_tools.pdf_text(results[0])


def test_only_data_urls_are_still_fetched(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("segredo")
    with pytest.raises(documents.DocumentFetchRefused):
        documents.render_pdf(page(f'<img src="file://{secret}">'))
    with pytest.raises(documents.DocumentFetchRefused):  # from the kept-stylesheet path too
        documents.render_pdf(page("<p>x</p>", style=f'p {{ background: url("file://{secret}"); }}'))
