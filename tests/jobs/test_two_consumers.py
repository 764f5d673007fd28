"""Two consumers on one Redis queue and one database, as on two machines (README, "Production shape").

One consumer runs the scheduler, the other is started with `-n`. Every job is run by exactly one of them,
the billing run queued several times at once issues each invoice once, and only the scheduler enqueues
periodic jobs. Runs on both databases; the queue is a Redis database of the test's own.
"""

import asyncio
import json
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from urllib.parse import urlsplit

from huey import RedisHuey
from redis import Redis
from sqlalchemy import func, select

from portal.billing.models import Invoice, InvoiceKind
from portal.extensions import db
from portal.notifications.models import DeliveryStatus, EmailDelivery
from portal.shared import clock
from portal.shared.audit import AuditEvent, AuditTag, verify
from tests import factories
from tests.fakes.externals import SMTPSink
from tests.jobs.support import (
    ROOT,
    environment,
    executed,
    private_redis_db,
    start_consumer,
    stop_consumers,
    wait_for_log,
)

SEND_EMAIL = "portal.notifications.jobs.send_email"
BILLING_RUN = "portal.billing.jobs.billing_run_for_day"
COMPLETE_INVOICE = "portal.billing.jobs.complete_invoice"


def _billing_day() -> date:
    """A day the daily run the scheduler may enqueue (09:00 UTC: today and the two days before) never bills
    these organizations on, in a past year, so this day's invoices and numbers are the test's alone."""
    day_of_month = 20 if 2 <= clock.today().day <= 9 else 5
    return date(2025, 4, day_of_month)


PRODUCE_EMAILS = """
import sys
from portal.app import create_app
from portal.accounts.models import User
from portal.extensions import db
from portal.notifications import service as notify

app = create_app()
with app.app_context():
    input()  # the test says go once both consumers are up (no transaction is open while waiting)
    for user_id in sys.argv[1:]:
        notify.password_changed(user=db.session.get(User, int(user_id)))
    db.session.commit()  # one commit: all the jobs are enqueued at once, right after it
"""

PRODUCE_BILLING_RUNS = """
import json
import sys
from portal.billing.jobs import billing_run_for_day

day, times = sys.argv[1], int(sys.argv[2])
input()  # the test says go once both consumers are up
print(json.dumps([billing_run_for_day(day).id for _ in range(times)]))
"""


def produce(env: dict, script: str, *args: str, ready) -> str:
    """Run a producer process alongside the consumers' start (each process takes seconds to import the portal);
    it queues its jobs once `ready()` returned. Its standard output."""
    with subprocess.Popen([sys.executable, "-c", script, *args], cwd=ROOT, env=env, stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True) as producer:  # its pipes closed however this ends
        try:
            ready()
            output, _ = producer.communicate("go\n", timeout=60)
        finally:
            if producer.poll() is None:
                producer.kill()
                producer.wait()
    assert producer.returncode == 0
    return output


class TwoConsumers:
    """The scheduler consumer and a `-n` one, two thread workers each, logging to files under `directory`."""

    def __init__(self, env: dict, directory) -> None:
        self.env = env
        self.scheduler_log = directory / "scheduler.log"
        self.worker_log = directory / "worker.log"
        self.processes: list[subprocess.Popen] = []

    def __enter__(self) -> "TwoConsumers":
        self.processes = [start_consumer(self.env, self.scheduler_log, workers=2),
                          start_consumer(self.env, self.worker_log, "-n", workers=2)]
        return self

    def wait_until_started(self) -> None:
        """Both consumers started and all four workers waiting in Redis's BRPOP on this test's database: Redis then
        hands the first jobs pushed to the waiting workers in the order they began to wait, so each consumer gets
        some whatever the machine's load (one CI run saw the scheduler's workers take all 40 jobs while the other
        consumer's had not started polling yet)."""
        for log in (self.scheduler_log, self.worker_log):
            assert wait_for_log(log, "Periodic tasks are"), log.read_text()
        database = int(urlsplit(self.env["JOBS_URL"]).path.lstrip("/") or 0)
        with Redis.from_url(self.env["JOBS_URL"]) as admin:
            def waiting() -> int:
                return sum(1 for client in admin.client_list()
                           if int(client.get("db", -1)) == database and "b" in client.get("flags", ""))
            assert _wait(lambda: waiting() >= 4), f"{waiting()} workers waiting for jobs"

    def __exit__(self, *exc_info) -> None:
        stop_consumers(*self.processes)

    def outputs(self) -> tuple[str, str]:
        return self.scheduler_log.read_text(), self.worker_log.read_text()

    def assert_clean_exit(self) -> None:
        for process, output in zip(self.processes, self.outputs(), strict=True):
            assert process.returncode == 0, output
            assert "Traceback" not in output, output


def _wait(condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def _slow_replies(sink: SMTPSink, seconds: float) -> None:
    """The sink takes `seconds` to accept each message (wraps its aiosmtpd handler hook).

    So that one consumer cannot drain the queue before the other's workers poll it again (a worker sleeps at
    most --max-delay between polls): with both consumers started before anything is queued, each takes some.
    """
    handler = sink.controller.handler
    deliver = handler.handle_DATA

    async def handle_data(server, session, envelope):
        await asyncio.sleep(seconds)
        return await deliver(server, session, envelope)

    handler.handle_DATA = handle_data  # aiosmtpd looks the hooks up on each new connection


def test_every_job_runs_once_and_only_the_scheduler_enqueues_periodic_jobs(make_app, engine_name, redis_url,
                                                                             tmp_path):
    app = make_app(engine_name)
    count = 40
    with app.app_context():
        users = [factories.UserFactory(email=f"fila{n}@cliente.example.com") for n in range(count)]
        db.session.commit()
        user_ids = [str(user.id) for user in users]
        addresses = sorted(user.email for user in users)
    sink = SMTPSink()
    # 40 messages: at least four seconds of work for one consumer's two workers, so that the other consumer, polling
    # every 0.2 s at most, takes some even on a loaded machine (at 0.05 s, one CI run saw the scheduler take all 40)
    _slow_replies(sink, 0.2)
    sink.start()
    try:
        with private_redis_db(redis_url) as jobs_url:
            env = environment(app, jobs_url, sink.port, tmp_path)
            with TwoConsumers(env, tmp_path) as consumers:
                produce(env, PRODUCE_EMAILS, *user_ids, ready=consumers.wait_until_started)
                sink.wait_for(count, timeout=30)

                def all_sent() -> bool:
                    with app.app_context():
                        return db.session.scalar(select(func.count(EmailDelivery.id)).where(
                            EmailDelivery.status == DeliveryStatus.SENT)) == count

                assert _wait(all_sent)
                time.sleep(1.0)  # a duplicate would arrive now
                messages = list(sink.messages)
                # The scheduler checks periodic jobs as it starts, and `sweep_orders` runs every minute.
                assert wait_for_log(consumers.scheduler_log,
                                    "Enqueueing periodic task portal.subscriptions.jobs.sweep_orders")
        consumers.assert_clean_exit()
    finally:
        sink.stop()

    assert sorted(m["To"] for m in messages) == addresses
    assert len({m["Message-ID"] for m in messages}) == count
    with app.app_context():
        deliveries = db.session.scalars(select(EmailDelivery)).all()
        assert len(deliveries) == count
        assert all(d.status == DeliveryStatus.SENT and d.attempts == 1 for d in deliveries)
        assert {d.message_id for d in deliveries} == {m["Message-ID"] for m in messages}

    scheduler, worker = consumers.outputs()
    by_scheduler, by_worker = executed(scheduler, SEND_EMAIL), executed(worker, SEND_EMAIL)
    print(f"send_email jobs run: {len(by_scheduler)} by the scheduler consumer, {len(by_worker)} by the -n one")
    assert len(by_scheduler) + len(by_worker) == count  # each job run once, by one consumer
    assert len(set(by_scheduler) | set(by_worker)) == count
    assert by_scheduler and by_worker  # the work was shared

    assert "Periodic tasks are enabled." in scheduler
    assert "Periodic tasks are disabled." in worker
    assert "Enqueueing periodic task" not in worker  # the -n consumer may run periodic jobs, never enqueue them


def test_the_billing_run_queued_four_times_issues_each_invoice_once(make_app, engine_name, redis_url, tmp_path):
    app = make_app(engine_name)
    day = _billing_day()
    bought = datetime(2025, 1, 5, 12, tzinfo=UTC)
    addresses = [f"cobranca{n}@cliente.example.com" for n in range(6)]
    with app.app_context():
        organizations = []
        for n, address in enumerate(addresses):
            organization = factories.OrganizationFactory(legal_name=f"Cliente {n} Ltda", billing_day=day.day)
            factories.subscription(organization, quantity=n + 1, added_at=bought)
            factories.MembershipFactory(organization=organization, roles=["cobranca"], user__email=address)
            organizations.append(organization.id)
        db.session.commit()
    sink = SMTPSink().start()
    try:
        with private_redis_db(redis_url) as jobs_url:
            env = environment(app, jobs_url, sink.port, tmp_path)
            with TwoConsumers(env, tmp_path) as consumers:
                task_ids = json.loads(produce(env, PRODUCE_BILLING_RUNS, day.isoformat(), "4",
                                              ready=consumers.wait_until_started))
                queue = RedisHuey("portal", url=jobs_url)
                try:
                    issued = [queue.result(task_id, blocking=True, timeout=30) for task_id in task_ids]
                finally:
                    queue.storage.close()

                # What follows each invoice runs too (PDFs, nota fiscal, the e-mail): wait for the e-mails.
                def all_emailed() -> bool:
                    with app.app_context():
                        return db.session.scalar(select(func.count(EmailDelivery.id)).where(
                            EmailDelivery.template == "invoice_issued",
                            EmailDelivery.status == DeliveryStatus.SENT)) == len(addresses)

                assert _wait(all_emailed)
                time.sleep(1.0)  # a duplicate would arrive now
                messages = list(sink.messages)
        consumers.assert_clean_exit()
    finally:
        sink.stop()

    scheduler, worker = consumers.outputs()
    by_scheduler, by_worker = executed(scheduler, BILLING_RUN), executed(worker, BILLING_RUN)
    print(f"billing runs: {len(by_scheduler)} by the scheduler consumer, {len(by_worker)} by the -n one; "
          f"invoices issued by each run: {issued}")
    assert sorted(by_scheduler + by_worker) == sorted(task_ids)  # each queued run ran once
    assert sum(issued) == len(organizations)  # together, the four runs issued each invoice once
    assert len(executed(scheduler, COMPLETE_INVOICE) + executed(worker, COMPLETE_INVOICE)) == len(organizations)

    with app.app_context():
        invoices = db.session.execute(
            select(Invoice.id, Invoice.organization_id, Invoice.number)
            .where(Invoice.billing_date == day, Invoice.kind == InvoiceKind.REGULAR)
        ).all()
        assert sorted(organization for _id, organization, _number in invoices) == organizations  # one each
        numbers = db.session.scalars(select(Invoice.number).where(Invoice.year == day.year)).all()
        assert sorted(numbers) == list(range(1, len(organizations) + 1))  # gapless in the series' year
        issued_events = db.session.scalars(select(AuditEvent.subject).where(AuditEvent.tag == AuditTag.INVOICE_ISSUED))
        assert sorted(issued_events) == sorted(f"invoice:{invoice_id}" for invoice_id, _org, _number in invoices)
        assert verify().ok
        # (a periodic job the scheduler happened to enqueue, e.g. dunning at 12:00 UTC, may have mailed too)
        deliveries = db.session.scalars(select(EmailDelivery).where(EmailDelivery.template == "invoice_issued")).all()
        assert all(d.status == DeliveryStatus.SENT and d.attempts == 1 for d in deliveries)
        invoice_mail = {d.message_id for d in deliveries}
    assert sorted(m["To"] for m in messages if m["Message-ID"] in invoice_mail) == addresses  # each e-mailed once
