"""What a license costs and for which period: the billing period of a subscription (or of a product about to be
bought), the price in force, the monthly equivalent shown next to annual amounts, the term's end, and the words of
a product's quantity limits."""

from datetime import date
from fractions import Fraction

from flask_babel import gettext as _
from flask_babel import ngettext

from portal.accounts.models import Organization
from portal.catalog.models import BILLING_MONTHS, TERM_MONTHS, BillingFrequency, Product, ProductPrice, Term
from portal.shared import periods
from portal.shared.errors import ServiceError
from portal.shared.money import round_half_up
from portal.subscriptions.models import Subscription


def billing_period(subscription_or_product: Subscription | Product, organization: Organization, on: date,
                   term_start: date | None = None) -> tuple[date, date]:
    """The billing period [S, E) containing `on` for a subscription (or a product about to be bought)."""
    product = getattr(subscription_or_product, "product", subscription_or_product)
    start = term_start or getattr(subscription_or_product, "term_start", None) or on
    return periods.billing_period(product.billing_frequency == BillingFrequency.ANNUAL,
                                  organization.billing_day, start, on)


def current_price(product: Product, day: date) -> ProductPrice:
    price = product.price_on(day)
    if price is None:
        raise ServiceError(_("Este produto ainda não tem preço. Fale com a equipe comercial."))
    return price


def period_label_months(product: Product) -> int:
    return BILLING_MONTHS[BillingFrequency(product.billing_frequency)]


def monthly_equivalent(amount_per_period_cents: int, product: Product) -> int:
    """For display only: an annual amount as twelfths (rounded half up); monthly amounts unchanged."""
    return monthly_equivalent_of(amount_per_period_cents, product.billing_frequency)


def monthly_equivalent_of(amount_per_period_cents: int, billing_frequency: str) -> int:
    months = BILLING_MONTHS[BillingFrequency(billing_frequency)]
    return round_half_up(Fraction(amount_per_period_cents, months)) if months > 1 else amount_per_period_cents


def term_end(product: Product, start: date) -> date:
    """The day a term of `product` started on `start` renews."""
    return periods.add_months(start, TERM_MONTHS[Term(product.term)])


def too_many(product: Product) -> str:
    return ngettext("O máximo para este produto é %(num)d licença.", "O máximo para este produto é %(num)d licenças.",
                    product.max_quantity)


def too_few(product: Product) -> str:
    return ngettext("O mínimo para este produto é %(num)d licença.", "O mínimo para este produto é %(num)d licenças.",
                    product.min_quantity)
