"""Reading /metrics as a test does: the text parsed by prometheus_client's own parser into {(name, labels): value}."""

from prometheus_client.parser import text_string_to_metric_families

TOKEN = "scrape-token-for-tests"  # noqa: S105 - a test value
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def parse(text: str) -> dict[tuple[str, frozenset], float]:
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def scrape(client) -> dict[tuple[str, frozenset], float]:
    response = client.get("/metrics", headers=BEARER)
    assert response.status_code == 200, response.status_code
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert response.headers["Cache-Control"] == "no-store"
    return parse(response.get_data(as_text=True))


def value(samples, name: str, **labels) -> float:
    """A sample's value; 0 when the series has not appeared yet (a counter no event has touched)."""
    return samples.get((name, frozenset(labels.items())), 0.0)
