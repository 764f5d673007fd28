"""Idempotency-Key under real concurrency (committed transactions, one database per test, both engines): the same
POST sent at once by several workers acts once; the others get its answer or a 409 problem while it runs."""

from sqlalchemy import func, select

from portal.api.models import IdempotentRequest
from portal.extensions import db
from portal.support.models import Ticket
from tests import factories
from tests.api.helpers import bearer, token_for
from tests.fakes.concurrency import concurrently


def test_the_same_key_sent_at_once_opens_one_ticket(make_app, engine_name):
    app = make_app(engine_name)
    with app.app_context():
        master = factories.MembershipFactory(organization=factories.OrganizationFactory(), roles=["master"])
        db.session.commit()
        headers = bearer(token_for(master, ["suporte"]), **{"Idempotency-Key": "itsm-4711"})
    body = {"subject": "Outlook parado", "description": "Ninguém recebe e-mail.", "category": "technical"}

    def send(_index):
        answer = app.test_client().post("/api/v1/tickets", json=body, headers=headers)
        return answer.status_code, answer.get_json()

    results, errors = concurrently(4, send)
    assert not errors
    created = [answer for status, answer in results if status == 201]
    assert created and all(answer == created[0] for answer in created)
    assert all(status == 201 or (status == 409 and answer["type"].endswith("/idempotency-in-progress"))
               for status, answer in results)
    with app.app_context():
        assert db.session.scalar(select(func.count(Ticket.id))) == 1
        assert db.session.scalar(select(func.count(IdempotentRequest.id))) == 1
    again = app.test_client().post("/api/v1/tickets", json=body, headers=headers)
    assert again.status_code == 201 and again.get_json() == created[0]
