"""PostgreSQL: a transaction that wrote nothing ends with COMMIT, so psycopg keeps its prepared statements;
one that wrote, or failed, is still rolled back (portal/app.py, `_postgresql_end_read_only_with_commit`)."""

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from portal.accounts.models import Organization
from portal.extensions import db
from tests import factories


@pytest.fixture(scope="module")
def pg_app(make_app):
    return make_app("postgresql")


def prepared_statements(connection) -> int:
    return connection.execute(text("SELECT count(*) FROM pg_prepared_statements")).scalar_one()


def test_read_only_requests_keep_their_statements_prepared(pg_app):
    with pg_app.app_context(), db.engine.connect() as connection:
        statement = select(func.count(Organization.id)).where(Organization.id > 0)
        for _ in range(8):  # psycopg prepares a statement on its fifth execution on a connection
            connection.execute(statement).scalar_one()
            connection.rollback()
        assert prepared_statements(connection) >= 1
        connection.rollback()


def test_statements_of_requests_stay_prepared_across_requests(pg_app):
    statement = select(Organization.id).order_by(Organization.id).limit(1)
    for _ in range(8):
        with pg_app.app_context():  # as a request: the session is removed (rolled back) at the end
            db.session.execute(statement).all()
    with pg_app.app_context():
        assert prepared_statements(db.session) >= 1


def test_a_transaction_that_wrote_is_still_rolled_back(pg_app):
    with pg_app.app_context():
        organization = factories.OrganizationFactory(legal_name="Some Ltda")
        db.session.flush()
        organization_id = organization.id
        db.session.rollback()
        db.session.remove()
        assert db.session.get(Organization, organization_id) is None
        kept = factories.OrganizationFactory(legal_name="Kept Ltda")
        db.session.commit()
        with db.engine.connect() as connection:
            connection.execute(text("UPDATE organizations SET legal_name = 'Changed' WHERE id = :id"), {"id": kept.id})
            connection.rollback()
            assert connection.execute(text("SELECT legal_name FROM organizations WHERE id = :id"),
                                      {"id": kept.id}).scalar_one() == "Kept Ltda"
            connection.execute(text("SELECT id FROM organizations WHERE id = :id FOR UPDATE"), {"id": kept.id})
            connection.rollback()  # a row lock is a write: rolled back, and the lock released
            with db.engine.connect() as other:
                other.execute(text("SET lock_timeout = '1s'"))
                other.execute(text("UPDATE organizations SET legal_name = 'Next' WHERE id = :id"), {"id": kept.id})
                other.rollback()


def test_a_failed_transaction_is_rolled_back_and_the_connection_works_again(pg_app):
    with pg_app.app_context(), db.engine.connect() as connection:
        with pytest.raises(DBAPIError):
            connection.execute(text("SELECT 1 / 0"))
        connection.rollback()
        assert connection.execute(text("SELECT 2")).scalar_one() == 2
        connection.rollback()


def test_a_read_only_transaction_ends_without_leaving_one_open(pg_app):
    with pg_app.app_context(), db.engine.connect() as connection:
        connection.execute(select(func.count(Organization.id))).scalar_one()
        connection.rollback()
        driver = connection.connection.driver_connection
        assert driver.info.transaction_status.name == "IDLE"
