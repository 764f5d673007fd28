"""Browsers ask every site for /favicon.ico: a real icon, not a 404 on every page (issue 13, point 12)."""


def fetch(client, url: str) -> tuple[int, str, bytes]:
    response = client.get(url)
    try:
        return response.status_code, response.mimetype, response.get_data()
    finally:
        response.close()  # a static file's handle


def test_favicon_ico_is_a_real_icon(client):
    status, mimetype, data = fetch(client, "/favicon.ico")
    assert status == 200
    assert mimetype in {"image/vnd.microsoft.icon", "image/x-icon"}
    assert data[:4] == b"\x00\x00\x01\x00"  # the ICO header


def test_every_page_links_its_svg_icon(client):
    body = client.get("/entrar").get_data(as_text=True)
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in body
    status, mimetype, data = fetch(client, "/static/favicon.svg")
    assert status == 200 and mimetype == "image/svg+xml" and b"<svg" in data
