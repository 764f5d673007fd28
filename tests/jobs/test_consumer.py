"""Real job consumers: a web process queues an e-mail, a `huey_consumer` process sends it over SMTP.

Runs on both queues (`JOBS_URL=sqlite:///…`, as `make run` does, and `JOBS_URL=redis://…`, as at scale),
each on both databases. Producer and consumer are separate processes, as in production.
"""

import subprocess
import sys
import time

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.notifications.models import DeliveryStatus, EmailDelivery
from tests import factories
from tests.fakes.externals import SMTPSink
from tests.jobs.support import ROOT, environment, executed, private_redis_db, start_consumer, stop_consumers

PRODUCER = """
import sys
from portal.app import create_app
from portal.accounts.models import User
from portal.extensions import db
from portal.notifications import service as notify

app = create_app()
with app.app_context():
    notify.password_changed(user=db.session.get(User, int(sys.argv[1])))
    db.session.commit()
"""


@pytest.fixture(params=["sqlite", "redis"])
def jobs_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'jobs.db'}"
        return
    with private_redis_db(request.getfixturevalue("redis_url")) as url:
        yield url


def _wait_for_status(app, delivery_id: int, status: str, timeout: float = 30.0) -> EmailDelivery:
    deadline = time.monotonic() + timeout
    with app.app_context():
        while True:
            delivery = db.session.get(EmailDelivery, delivery_id)
            if delivery.status == status or time.monotonic() > deadline:
                return delivery
            db.session.expire_all()
            time.sleep(0.1)


def test_a_consumer_process_sends_what_the_web_process_queued(make_app, engine_name, jobs_url, tmp_path):
    app = make_app(engine_name)
    with app.app_context():
        user = factories.UserFactory(email="fila@cliente.example.com")
        db.session.commit()
        user_id = user.id
    sink = SMTPSink().start()
    env = environment(app, jobs_url, sink.port, tmp_path)
    log = tmp_path / "consumer.log"
    consumer = start_consumer(env, log)
    try:
        subprocess.run([sys.executable, "-c", PRODUCER, str(user_id)], cwd=ROOT, env=env, check=True, timeout=60)
        [message] = sink.wait_for(1, timeout=30)
        assert message["To"] == "fila@cliente.example.com"
        assert message["Subject"] == "Sua senha do portal foi alterada"
        with app.app_context():
            delivery_id = db.session.scalar(select(EmailDelivery.id))
        delivery = _wait_for_status(app, delivery_id, DeliveryStatus.SENT)
        assert delivery.status == DeliveryStatus.SENT and delivery.attempts == 1
        assert delivery.message_id == message["Message-ID"]
    finally:
        stop_consumers(consumer)
        sink.stop()
    output = log.read_text()
    assert consumer.returncode == 0, output
    assert len(executed(output, "portal.notifications.jobs.send_email")) == 1, output  # the job it ran, once
