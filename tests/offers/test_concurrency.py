"""Purchase offers under real concurrency (committed transactions, one database per test): a double acceptance
buys once, two organizations racing for an open offer leave one winner, and simultaneous creations get distinct,
gapless summary IDs."""


from sqlalchemy import func, select

from portal.accounts.models import Organization, User
from portal.catalog.models import Product
from portal.extensions import db
from portal.offers import service
from portal.offers.models import OfferStatus, PurchaseOffer
from portal.shared import clock
from portal.shared.audit import Actor, AuditEvent, AuditTag, verify
from portal.subscriptions.models import Order
from tests import factories
from tests.fakes.concurrency import concurrently


def _committed_world(make_app, engine_name):
    """Two organizations with a Master each, a comercial, a product; ids only (each thread loads its own rows)."""
    app = make_app(engine_name)
    with app.app_context():
        demo, other = factories.OrganizationFactory(billing_day=1), factories.OrganizationFactory(billing_day=1)
        masters = [factories.MembershipFactory(organization=org, roles=["master"]).user for org in (demo, other)]
        comercial = factories.StaffUserFactory(roles=["comercial"])
        product = factories.ProductFactory()
        db.session.commit()
        return app, [demo.id, other.id], [m.id for m in masters], comercial.id, product.id


def _offer(comercial_id, product_id, organization_id=None) -> PurchaseOffer:
    """`factories.offer` from ids (each thread loads its own rows): 2 licenses, valid for 5 days, sent."""
    organization = db.session.get(Organization, organization_id) if organization_id else None
    return factories.offer(db.session.get(User, comercial_id), organization,
                           products=[db.session.get(Product, product_id)], days=5)


def test_a_double_acceptance_buys_once(make_app, engine_name):
    app, (demo_id, _other), (master_id, _), comercial_id, product_id = _committed_world(make_app, engine_name)
    with app.app_context():
        offer = _offer(comercial_id, product_id, demo_id)
        token = offer.token
        quote = service.quote_offer(token=token, organization=db.session.get(Organization, demo_id),
                                    quantities={}, actor=Actor.for_user(db.session.get(User, master_id)))
        quote_token = quote.token

    def submit(_index):
        with app.app_context():
            acceptance = service.accept_offer(
                token=token, organization=db.session.get(Organization, demo_id), quote_token=quote_token,
                delegated_admin=False, actor=Actor.for_user(db.session.get(User, master_id)))
            return [o.id for o in acceptance.orders]

    results, errors = concurrently(4, submit)
    assert not errors
    assert len({tuple(r) for r in results}) == 1 and len(results[0]) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count(Order.id))) == 1
        assert db.session.scalar(select(func.count(AuditEvent.seq)).where(
            AuditEvent.tag == AuditTag.OFFER_ACCEPTED)) == 1
        assert db.session.scalar(select(PurchaseOffer.status)) == OfferStatus.ACCEPTED
        assert verify().ok


def test_two_organizations_racing_for_an_open_offer_leave_one_winner(make_app, engine_name):
    app, org_ids, master_ids, comercial_id, product_id = _committed_world(make_app, engine_name)
    with app.app_context():
        token = _offer(comercial_id, product_id).token  # for any registered customer
        quotes = [service.quote_offer(token=token, organization=db.session.get(Organization, org_id), quantities={},
                                      actor=Actor.for_user(db.session.get(User, user_id))).token
                  for org_id, user_id in zip(org_ids, master_ids, strict=True)]

    def submit(index):
        with app.app_context():
            service.accept_offer(token=token, organization=db.session.get(Organization, org_ids[index]),
                                 quote_token=quotes[index], delegated_admin=False,
                                 actor=Actor.for_user(db.session.get(User, master_ids[index])))
            return org_ids[index]

    results, errors = concurrently(2, submit)
    assert len(results) == 1 and len(errors) == 1 and isinstance(errors[0], service.OfferUnavailable)
    with app.app_context():
        offer = db.session.scalar(select(PurchaseOffer))
        assert offer.accepted_organization_id == results[0]
        assert db.session.scalars(select(Order.organization_id)).all() == [results[0]]


def test_simultaneous_creations_get_distinct_gapless_summary_ids(make_app, engine_name):
    app, _orgs, _masters, comercial_id, product_id = _committed_world(make_app, engine_name)

    def create(_index):
        with app.app_context():
            return _offer(comercial_id, product_id).summary_id

    results, errors = concurrently(4, create)
    assert not errors
    year = clock.today().year
    assert sorted(results) == [f"OF-{year}-{n:06d}" for n in range(1, 5)]
