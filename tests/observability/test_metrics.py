"""GET /metrics: the Prometheus text format behind METRICS_TOKEN; counters move by exactly what happened."""

from datetime import UTC, datetime, timedelta

import pytest
from huey import RedisHuey, SqliteHuey

from portal import jobs
from portal.billing.models import InvoiceStatus
from portal.notifications.jobs import send_email
from portal.observability.collectors import QueueCollector
from portal.observability.context import JOB_CONTEXT_KWARG
from portal.shared import clock
from portal.subscriptions.models import OrderStatus
from tests import factories
from tests.backoffice.routes_orders import make_order
from tests.jobs.support import private_redis_db
from tests.observability.helpers import BEARER, TOKEN, parse, scrape, value

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Bearer wrong"},
    {"Authorization": TOKEN},  # the token without its scheme
    {"Authorization": f"Basic {TOKEN}"},
])
def test_a_missing_or_wrong_token_is_a_plain_404(metrics_client, headers):
    response = metrics_client.get("/metrics", headers=headers)
    assert response.status_code == 404
    assert "portal_" not in response.get_data(as_text=True)


def test_without_the_setting_metrics_do_not_exist(client):
    assert client.application.config["METRICS_TOKEN"] == ""
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404
    assert client.get("/metrics", headers=BEARER).status_code == 404


def test_requests_are_counted_by_endpoint_method_and_status(metrics_client):
    before = scrape(metrics_client)
    for _ in range(3):
        metrics_client.get("/ping")
    metrics_client.get("/nada-aqui/12345")
    metrics_client.post("/ping")  # 405
    after = scrape(metrics_client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("portal_http_requests_total", route="health.ping", method="GET", status="200") == 3
    assert delta("portal_http_requests_total", route="unmatched", method="GET", status="404") == 1
    assert delta("portal_http_requests_total", route="unmatched", method="POST", status="405") == 1
    assert delta("portal_http_request_duration_seconds_count", route="health.ping") == 3
    assert delta("portal_http_request_duration_seconds_bucket", route="health.ping", le="+Inf") == 3
    # the route is the endpoint's name, never the path a client typed
    assert not any("nada-aqui" in str(labels) for _name, labels in after)


def test_a_job_run_and_its_e_mail_are_counted(metrics_client, world):
    before = scrape(metrics_client)
    response = metrics_client.post("/senha/esqueci", data={"email": world.adm.email})
    assert response.status_code == 200
    after = scrape(metrics_client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("portal_job_runs_total", task="notifications.send_email") == 1
    assert delta("portal_job_failures_total", task="notifications.send_email") == 0
    assert delta("portal_job_duration_seconds_count", task="notifications.send_email") == 1
    assert delta("portal_emails", status="sent") == 1
    assert delta("portal_emails", status="failed") == 0


def test_a_failing_job_counts_a_failure(metrics_client, world, monkeypatch):
    class Down:
        def send(self, _email, _message_id):
            raise ConnectionRefusedError("the SMTP relay is down")

    monkeypatch.setitem(metrics_client.application.extensions, "mailer", Down())
    before = scrape(metrics_client)
    metrics_client.post("/senha/esqueci", data={"email": world.adm.email})
    after = scrape(metrics_client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("portal_job_runs_total", task="notifications.send_email") == 1
    assert delta("portal_job_failures_total", task="notifications.send_email") == 1
    assert delta("portal_job_duration_seconds_count", task="notifications.send_email") == 1
    assert delta("portal_emails", status="failed") == 1
    assert delta("portal_emails", status="sent") == 0


def test_business_counts_are_totals_without_organizations(metrics_client, world):
    before = scrape(metrics_client)
    make_order(world.demo)
    make_order(world.other)
    make_order(world.other, status=OrderStatus.FAILED)
    after = scrape(metrics_client)
    assert value(after, "portal_orders", status="pending") - value(before, "portal_orders", status="pending") == 2
    assert value(after, "portal_orders", status="failed") - value(before, "portal_orders", status="failed") == 1
    assert value(after, "portal_business_metrics_up") == 1
    labels = {key for _name, found in after for key, _ in found}
    assert not labels & {"organization", "organization_id", "org", "cnpj", "email"}


def test_invoices_by_kind_and_status_and_documents_pending(metrics_client, world):
    before = scrape(metrics_client)
    factories.invoice(world.demo)  # issued, its documents job not run yet
    factories.invoice(world.other, with_documents=True)  # as the documents job leaves it
    factories.invoice(world.other, status=InvoiceStatus.CANCELLED, billing_date=NOW.date())  # not pending
    after = scrape(metrics_client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("portal_invoices", kind="regular", status="open") == 2
    assert delta("portal_invoices", kind="regular", status="cancelled") == 1
    assert delta("portal_invoice_documents_pending") == 1


@pytest.fixture
def queued_not_run():
    """Jobs queued and kept (the tests' Huey runs them inline otherwise); back to inline afterwards."""
    jobs.huey.immediate = False
    try:
        yield jobs.huey
    finally:
        jobs.huey.immediate = True  # a fresh in-memory storage: nothing queued here survives


def test_queue_depth_and_the_oldest_jobs_age(metrics_client, queued_not_run):
    with clock.frozen(NOW):
        samples = scrape(metrics_client)
        assert value(samples, "portal_jobs_queued") == 0
        assert value(samples, "portal_jobs_oldest_age_seconds") == 0
        jobs.enqueue_now("notifications.send_email", 987654)
        clock.advance(timedelta(seconds=30))
        jobs.enqueue_now("notifications.send_email", 987655)
        clock.advance(timedelta(seconds=60))
        samples = scrape(metrics_client)
    assert value(samples, "portal_jobs_storage_up") == 1
    assert value(samples, "portal_jobs_queued") == 2
    assert value(samples, "portal_jobs_oldest_age_seconds") == 90


def _queue_two(huey, first_at: float) -> None:
    for offset, invoice_id in ((0, 1), (45, 2)):
        task = send_email.s(invoice_id)
        task.kwargs[JOB_CONTEXT_KWARG] = {"queued_at": first_at + offset, "request_id": None, "job_id": task.id}
        huey.storage.enqueue(jobs.huey.serialize_task(task))


def _collected(huey) -> dict:
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in QueueCollector(lambda: huey).collect() for sample in family.samples}


def test_the_queue_is_read_from_sqlite_storage(tmp_path):
    huey = SqliteHuey("portal", filename=str(tmp_path / "jobs.db"))
    with clock.frozen(NOW):
        _queue_two(huey, NOW.timestamp() - 120)
        samples = _collected(huey)
    assert value(samples, "portal_jobs_queued") == 2
    assert value(samples, "portal_jobs_oldest_age_seconds") == 120


def test_the_queue_is_read_from_redis_storage(redis_url):
    with private_redis_db(redis_url) as url:
        huey = RedisHuey("portal", url=url)
        with clock.frozen(NOW):
            _queue_two(huey, NOW.timestamp() - 300)
            samples = _collected(huey)
        huey.storage.conn.close()
    assert value(samples, "portal_jobs_queued") == 2
    assert value(samples, "portal_jobs_oldest_age_seconds") == 300


def test_a_job_storage_that_does_not_answer_still_gives_a_scrape():
    huey = RedisHuey("portal", url="redis://127.0.0.1:1/0")  # nothing listens on port 1
    samples = _collected(huey)
    assert samples == {("portal_jobs_storage_up", frozenset()): 0}


def test_the_text_parses_as_prometheus_exposition(metrics_client):
    text = metrics_client.get("/metrics", headers=BEARER).get_data(as_text=True)
    names = {name for name, _labels in parse(text)}
    assert {"portal_jobs_queued", "portal_jobs_oldest_age_seconds", "portal_business_metrics_up",
            "portal_invoice_documents_pending"} <= names
    assert all(name.startswith("portal_") for name in names)
