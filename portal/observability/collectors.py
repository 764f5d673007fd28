"""Series computed when Prometheus scrapes: the job queue read from Huey's storage, and the business counts."""

import contextlib
import logging
from collections.abc import Callable, Iterator

from huey import Huey
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from portal.extensions import db
from portal.observability import business
from portal.observability.context import JOB_CONTEXT_KWARG
from portal.shared import clock

log = logging.getLogger(__name__)


class QueueCollector(Collector):
    """Jobs waiting in the queue, jobs scheduled for later (retries, delays), and how long the next one to run has
    waited: its enqueue time travels in the job's context (portal/jobs: every enqueue stamps it), so Redis and
    SQLite storages are read the same way. 0 when the queue is empty."""

    def __init__(self, huey: Callable[[], Huey]) -> None:
        self._huey = huey

    def collect(self) -> Iterator:
        up = GaugeMetricFamily("portal_jobs_storage_up", "1 when the job storage answered this scrape.")
        try:
            huey = self._huey()
            storage = huey.storage
            depth = storage.queue_size()
            scheduled = storage.schedule_size()
            head = storage.enqueued_items(1)
        except Exception:  # any storage error (Redis down, SQLite file gone): the scrape still answers
            log.exception("metrics: the job storage did not answer")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield GaugeMetricFamily("portal_jobs_queued", "Jobs waiting in the queue.", value=depth)
        yield GaugeMetricFamily("portal_jobs_scheduled", "Jobs scheduled for later (retries, delays).",
                                value=scheduled)
        age = 0.0
        if head:
            message = huey.serializer.deserialize(head[0])
            queued_at = (message.kwargs or {}).get(JOB_CONTEXT_KWARG, {}).get("queued_at")
            if queued_at is not None:
                age = max(0.0, clock.now().timestamp() - queued_at)
        yield GaugeMetricFamily("portal_jobs_oldest_age_seconds",
                                "How long the next job to run has waited in the queue (0: empty).", value=age)


class BusinessCollector(Collector):
    """Orders by state, invoices by kind and status, invoices still without their documents, e-mails and webhook
    deliveries by status: counts only, read in the scraping request's database session."""

    def collect(self) -> Iterator:
        ok = GaugeMetricFamily("portal_business_metrics_up", "1 when the database answered this scrape's counts.")
        try:
            found = business.counts()
        except SQLAlchemyError:
            log.exception("metrics: the database did not answer")
            with contextlib.suppress(SQLAlchemyError):  # the connection may be gone: nothing to roll back then
                db.session.rollback()
            ok.add_metric([], 0)
            yield ok
            return
        ok.add_metric([], 1)
        yield ok
        orders = GaugeMetricFamily("portal_orders", "Orders by status.", labels=("status",))
        for status, n in found["orders"]:
            orders.add_metric([status], n)
        yield orders
        invoices = GaugeMetricFamily("portal_invoices", "Invoices issued so far, by kind and status.",
                                     labels=("kind", "status"))
        for kind, status, n in found["invoices"]:
            invoices.add_metric([kind, status], n)
        yield invoices
        yield GaugeMetricFamily("portal_invoice_documents_pending",
                                "Regular, not cancelled invoices whose PDF or boleto PDF is not stored yet.",
                                value=found["documents_pending"][0][0])
        emails = GaugeMetricFamily("portal_emails", "E-mails by delivery status (queued, sent, failed).",
                                   labels=("status",))
        for status, n in found["emails"]:
            emails.add_metric([status], n)
        yield emails
        webhooks = GaugeMetricFamily("portal_webhook_deliveries", "Webhook deliveries by status.", labels=("status",))
        for status, n in found["webhook_deliveries"]:
            webhooks.add_metric([status], n)
        yield webhooks
