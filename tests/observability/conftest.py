import pytest

from tests.observability.helpers import TOKEN


@pytest.fixture
def metrics_client(app_ctx, monkeypatch):
    """A test client of an app whose /metrics answers to the test token."""
    monkeypatch.setitem(app_ctx.config, "METRICS_TOKEN", TOKEN)
    return app_ctx.test_client()
