"""The cancellation pages' routes, for tests/test_permissions.py (see its _route_tables)."""

from portal.shared.audit import Actor
from portal.subscriptions import service
from tests import factories

REASON = "A empresa vai encerrar as atividades desta filial."


def _subscription(organization):
    return {"subscription_id": factories.subscription(organization).id}


def _zero_quote(organization, user):
    subscription = factories.subscription(organization, quantity=10)
    quote = service.quote_quantity_change(organization=organization, subscription=subscription, new_quantity=0,
                                          actor=Actor.for_user(user), category="custo", reason=REASON)
    return {"token": quote.token}


CUSTOMER_ROUTES = {
    "cancellations.cancel": ("GET", lambda w: _subscription(w.demo), lambda w: _subscription(w.other)),
    "cancellations.preview": ("GET", lambda w: _zero_quote(w.demo, w.adm),
                              lambda w: _zero_quote(w.other, w.other_master)),
    "cancellations.confirm": ("POST", lambda w: _zero_quote(w.demo, w.adm),
                              lambda w: _zero_quote(w.other, w.other_master)),
    "cancellations.rescission": ("GET", lambda w: {}, None),
    "cancellations.rescission_confirm": ("POST", lambda w: {}, None),
    "cancellations.withdraw": ("POST", lambda w: {}, None),
}
