"""The REST API's request and response bodies (marshmallow), from which the OpenAPI document is generated.

Money is `{"cents": 12345, "formatted": "R$ 123,45"}` (integer centavos; the text always in Brazilian format);
dates and instants are ISO 8601 (instants in UTC with their offset). Every list answer is `{"items": [...],
"next_cursor": "…" | null}`.
"""

from apiflask import Schema
from apiflask.fields import Boolean, Date, DateTime, Dict, Integer, List, Nested, String
from apiflask.validators import Length, OneOf, Range

from portal.accounts.roles import Role
from portal.billing.models import INVOICE_STATUS_LABELS
from portal.cancellations.policy import ReasonCategory
from portal.support.models import TicketCategory, TicketPriority, TicketStatus

MONEY_EXAMPLE = {"cents": 12345, "formatted": "R$ 123,45"}


class Money(Schema):
    cents = Integer(required=True, metadata={"description": "Valor em centavos (inteiro).", "example": 12345})
    formatted = String(required=True, metadata={"example": "R$ 123,45"})


class Problem(Schema):
    """RFC 9457 problem details (application/problem+json)."""

    type = String(required=True, metadata={"example": "https://portal/errors/validation"})
    title = String(required=True, metadata={"example": "Os dados enviados não são válidos."})
    status = Integer(required=True, metadata={"example": 422})
    detail = String(metadata={"example": "Informe a quantidade em números inteiros."})
    instance = String(metadata={"example": "/api/v1/subscriptions/12/quotes"})
    errors = Dict(keys=String(), values=List(String()), metadata={"example": {"quantity": ["Informe a quantidade."]}})


# ---------------------------------------------------------------- queries and headers

class IdempotencyHeaders(Schema):
    idempotency_key = String(data_key="Idempotency-Key", load_default=None, validate=Length(1, 255), metadata={
        "description": "A mesma chave com o mesmo conteúdo devolve a mesma resposta por 24 horas; com outro "
                       "conteúdo, 422."})


class ConfirmHeaders(IdempotencyHeaders):
    if_match = String(data_key="If-Match", load_default=None, validate=Length(1, 200), metadata={
        "description": "Obrigatório: o ETag atual da licença (sem ele, 428; se a licença mudou, 412)."})


class PageQuery(Schema):
    cursor = String(load_default=None, validate=Length(max=100),
                    metadata={"description": "O next_cursor da página anterior."})
    limit = Integer(load_default=25, validate=Range(1, 100), metadata={"description": "Itens por página (1 a 100)."})


class ProductQuery(PageQuery):
    family_id = Integer(load_default=None, validate=Range(1, 2**31 - 1))


class InvoiceQuery(PageQuery):
    status = String(load_default=None, validate=OneOf(list(INVOICE_STATUS_LABELS)))
    year = Integer(load_default=None, validate=Range(2000, 2100))


class TicketQuery(PageQuery):
    status = String(load_default=None, validate=OneOf([s.value for s in TicketStatus]))


# ---------------------------------------------------------------- organization

class OrganizationOut(Schema):
    id = Integer(required=True)
    legal_name = String(required=True, metadata={"example": "Demo Tecnologia Ltda"})
    trade_name = String(required=True, metadata={"example": "Demo Tecnologia"})
    cnpj = String(required=True, metadata={"example": "11.222.333/0001-81"})
    status = String(required=True, metadata={"example": "active"})
    billing_day = Integer(required=True, metadata={"example": 10})
    city = String(required=True)
    state = String(required=True)
    credit_balance = Nested(Money, required=True)


ORGANIZATION_EXAMPLE = {"id": 1, "legal_name": "Demo Tecnologia Ltda", "trade_name": "Demo Tecnologia",
                        "cnpj": "11.222.333/0001-81", "status": "active", "billing_day": 10, "city": "São Paulo",
                        "state": "SP", "credit_balance": {"cents": 0, "formatted": "R$ 0,00"}}


# ---------------------------------------------------------------- subscriptions and quotes

class ProductRef(Schema):
    id = Integer(required=True)
    sku = String(required=True)
    name = String(required=True)


class SubscriptionOut(Schema):
    id = Integer(required=True)
    product = Nested(ProductRef, required=True)
    quantity = Integer(required=True)
    renewal_quantity = Integer(required=True, allow_none=True, metadata={
        "description": "Quantidade a partir da renovação, quando for diferente (null: a mesma)."})
    status = String(required=True, metadata={"example": "active"})
    term_start = Date(required=True)
    term_end = Date(required=True)
    purchase_order = String(required=True)
    cost_centre = String(required=True)
    etag = String(required=True, metadata={"description": "O mesmo valor do cabeçalho ETag; envie em If-Match ao "
                                                          "confirmar um orçamento."})


class Subscription(SubscriptionOut):
    """One subscription as its own answer (a schema class used both nested and alone is registered twice)."""


class SubscriptionList(Schema):
    items = List(Nested(SubscriptionOut), required=True)
    next_cursor = String(required=True, allow_none=True)


SUBSCRIPTION_EXAMPLE = {"id": 12, "product": {"id": 3, "sku": "M365-BB-ANUAL", "name": "Microsoft 365 Business Basic"},
                        "quantity": 10, "renewal_quantity": None, "status": "active", "term_start": "2026-01-10",
                        "term_end": "2027-01-10", "purchase_order": "", "cost_centre": "",
                        "etag": '"subscription-12-v3"'}


class QuoteIn(Schema):
    quantity = Integer(required=True, validate=Range(0, 1_000_000), metadata={"example": 12})
    cancellation_category = String(load_default=None, validate=OneOf([c.value for c in ReasonCategory]),
                                   metadata={"description": "Obrigatório com quantity 0 (cancelamento)."})
    cancellation_reason = String(load_default=None, validate=Length(max=2000),
                                 metadata={"description": "Obrigatório com quantity 0 (cancelamento)."})


class QuoteLineOut(Schema):
    kind = String(required=True, metadata={"example": "charge", "description": "charge, credit, scheduled, purchase"})
    quantity = Integer(required=True)
    unit_price = Nested(Money, required=True)
    amount = Nested(Money, required=True)
    period_start = Date(required=True, allow_none=True)
    period_end = Date(required=True, allow_none=True)
    effective_on = Date(required=True, allow_none=True)


class QuoteOut(Schema):
    token = String(required=True, metadata={"example": "3f2a9c0d4e5b6a7980f1e2d3c4b5a697"})
    subscription_id = Integer(required=True)
    new_quantity = Integer(required=True)
    status = String(required=True, metadata={"example": "open"})
    lines = List(Nested(QuoteLineOut), required=True)
    charge = Nested(Money, required=True, metadata={"description": "Pró-rata na próxima fatura."})
    credit = Nested(Money, required=True, metadata={"description": "Crédito para a organização."})
    recurring = Nested(Money, required=True, metadata={"description": "Por período de cobrança, a partir do próximo."})
    valid_until = DateTime(required=True)
    subscription_etag = String(required=True, metadata={"description": "Envie em If-Match ao confirmar."})


QUOTE_EXAMPLE = {
    "token": "3f2a9c0d4e5b6a7980f1e2d3c4b5a697", "subscription_id": 12, "new_quantity": 12, "status": "open",
    "lines": [{"kind": "charge", "quantity": 2, "unit_price": {"cents": 3500, "formatted": "R$ 35,00"},
               "amount": {"cents": 4877, "formatted": "R$ 48,77"}, "period_start": "2026-12-10",
               "period_end": "2027-01-10", "effective_on": "2026-12-07"}],
    "charge": {"cents": 4877, "formatted": "R$ 48,77"}, "credit": {"cents": 0, "formatted": "R$ 0,00"},
    "recurring": {"cents": 42000, "formatted": "R$ 420,00"}, "valid_until": "2026-12-08T03:00:00+00:00",
    "subscription_etag": '"subscription-12-v3"'}


class OrderOut(Schema):
    id = Integer(required=True)
    kind = String(required=True, metadata={"example": "quantity_change"})
    status = String(required=True, metadata={"example": "pending"})
    subscription_id = Integer(required=True)
    product = String(required=True)
    quantity = Integer(required=True)
    created_at = DateTime(required=True)
    completed_at = DateTime(required=True, allow_none=True)


ORDER_EXAMPLE = {"id": 40, "kind": "quantity_change", "status": "done", "subscription_id": 12,
                 "product": "Microsoft 365 Business Basic", "quantity": 12, "created_at": "2026-12-07T13:00:00+00:00",
                 "completed_at": "2026-12-07T13:00:05+00:00"}


class OrderEventOut(Schema):
    status = String(required=True)
    message = String(required=True)
    created_at = DateTime(required=True)


class OrderDetail(OrderOut):
    history = List(Nested(OrderEventOut), required=True)


class OrderList(Schema):
    items = List(Nested(OrderOut), required=True)
    next_cursor = String(required=True, allow_none=True)


# 202 from "confirmQuote": the quote waits for a Master's approval (portal/approvals); nothing was ordered yet. A raw
# OpenAPI response (APIFlask takes one output schema per operation).
AWAITING_APPROVAL_RESPONSE = {
    "description": "Aguardando a aprovação de um Master: nada foi pedido ainda; `approval_url` é a página da "
                   "aprovação (também no cabeçalho Location).",
    "content": {"application/json": {
        "schema": {"type": "object", "required": ["status", "approval_id", "approval_url", "detail"],
                   "properties": {"status": {"type": "string", "enum": ["awaiting_approval"]},
                                  "approval_id": {"type": "integer"},
                                  "approval_url": {"type": "string", "format": "uri"},
                                  "detail": {"type": "string"}}},
        "example": {"status": "awaiting_approval", "approval_id": 7,
                    "approval_url": "https://portal.example.com.br/aprovacoes/7",
                    "detail": "Este pedido precisa da aprovação de um Master da organização."}}},
}


class ConfirmationOut(Schema):
    quote_token = String(required=True)
    subscription = Nested(SubscriptionOut, required=True)
    orders = List(Nested(OrderOut), required=True)


# ---------------------------------------------------------------- catalog

class FamilyOut(Schema):
    id = Integer(required=True)
    name = String(required=True, metadata={"example": "Microsoft 365"})
    description = String(required=True)


class FamilyList(Schema):
    items = List(Nested(FamilyOut), required=True)


class PriceOut(Schema):
    unit_price = Nested(Money, required=True)
    effective_from = Date(required=True)


class ProductOut(Schema):
    id = Integer(required=True)
    sku = String(required=True)
    name = String(required=True)
    description = String(required=True)
    family_id = Integer(required=True)
    term = String(required=True, metadata={"example": "annual"})
    billing_frequency = String(required=True, metadata={"example": "monthly"})
    min_quantity = Integer(required=True)
    max_quantity = Integer(required=True)
    current_price = Nested(PriceOut, required=True, allow_none=True)
    prices = List(Nested(PriceOut), required=True)


class ProductList(Schema):
    items = List(Nested(ProductOut), required=True)
    next_cursor = String(required=True, allow_none=True)


# ---------------------------------------------------------------- cart and checkout

class CartItemIn(Schema):
    quantity = Integer(required=True, validate=Range(0, 1_000_000), metadata={
        "example": 10, "description": "A quantidade no carrinho (0 tira o produto do carrinho)."})
    purchase_order = String(load_default=None, validate=Length(max=200), metadata={
        "description": "Pedido de compra (PO) da linha; ausente: mantém o atual."})
    cost_centre = String(load_default=None, validate=Length(max=200), metadata={
        "description": "Centro de custo da linha; ausente: mantém o atual."})


class CartLineOut(Schema):
    product = Nested(ProductRef, required=True)
    quantity = Integer(required=True)
    billing_frequency = String(required=True, metadata={"example": "monthly"})
    available = Boolean(required=True, metadata={"description": "false: o produto não está mais à venda."})
    unit_price = Nested(Money, required=True, allow_none=True, metadata={"description": "O preço de hoje."})
    total = Nested(Money, required=True, metadata={"description": "Por período de cobrança."})
    purchase_order = String(required=True)
    cost_centre = String(required=True)


class CartOut(Schema):
    items = List(Nested(CartLineOut), required=True)
    monthly_total = Nested(Money, required=True, metadata={"description": "Produtos de cobrança mensal, por mês."})
    annual_total = Nested(Money, required=True, metadata={"description": "Produtos de cobrança anual, por ano."})
    has_unavailable = Boolean(required=True)


CART_EXAMPLE = {"items": [{"product": {"id": 3, "sku": "M365-BB-ANUAL", "name": "Microsoft 365 Business Basic"},
                           "quantity": 10, "billing_frequency": "monthly", "available": True,
                           "unit_price": {"cents": 3500, "formatted": "R$ 35,00"},
                           "total": {"cents": 35000, "formatted": "R$ 350,00"}, "purchase_order": "PO-2026-17",
                           "cost_centre": "TI"}],
                "monthly_total": {"cents": 35000, "formatted": "R$ 350,00"},
                "annual_total": {"cents": 0, "formatted": "R$ 0,00"}, "has_unavailable": False}


class CheckoutLineOut(Schema):
    product = Nested(ProductRef, required=True)
    quantity = Integer(required=True)
    unit_price = Nested(Money, required=True)
    prorata = Nested(Money, required=True, metadata={"description": "Pró-rata de effective_on ao fim do período."})
    recurring = Nested(Money, required=True, metadata={"description": "Por período de cobrança, a partir do próximo."})
    billing_frequency = String(required=True)
    period_start = Date(required=True)
    period_end = Date(required=True, metadata={"description": "Exclusivo: o primeiro dia do próximo período."})
    effective_on = Date(required=True)
    term_end = Date(required=True, metadata={"description": "Exclusivo: o dia da renovação."})
    purchase_order = String(required=True)
    cost_centre = String(required=True)


class NextInvoiceOut(Schema):
    billing_date = Date(required=True)
    total = Nested(Money, required=True, metadata={"description": "O que esta compra soma nessa fatura."})
    prorata = Nested(Money, required=True)
    recurring = Nested(Money, required=True, metadata={"description": "O primeiro período adiantado (0 quando o "
                                                                      "pró-rata já o cobre)."})


class CheckoutOut(Schema):
    token = String(required=True, metadata={"example": "9b1c0d4e5b6a7980f1e2d3c4b5a6973f"})
    status = String(required=True, metadata={"example": "open"})
    lines = List(Nested(CheckoutLineOut), required=True)
    charge = Nested(Money, required=True, metadata={"description": "Pró-rata de todas as linhas."})
    recurring = Nested(Money, required=True, metadata={"description": "Por período de cobrança, a partir do próximo."})
    monthly = Nested(Money, required=True, metadata={"description": "Mensal a partir do próximo período."})
    next_invoice = Nested(NextInvoiceOut, required=True)
    valid_until = DateTime(required=True)


CHECKOUT_EXAMPLE = {
    "token": "9b1c0d4e5b6a7980f1e2d3c4b5a6973f", "status": "open",
    "lines": [{"product": {"id": 3, "sku": "M365-BB-ANUAL", "name": "Microsoft 365 Business Basic"},
               "quantity": 10, "unit_price": {"cents": 3500, "formatted": "R$ 35,00"},
               "prorata": {"cents": 3387, "formatted": "R$ 33,87"},
               "recurring": {"cents": 35000, "formatted": "R$ 350,00"}, "billing_frequency": "monthly",
               "period_start": "2026-11-10", "period_end": "2026-12-10", "effective_on": "2026-12-07",
               "term_end": "2027-12-07", "purchase_order": "PO-2026-17", "cost_centre": "TI"}],
    "charge": {"cents": 3387, "formatted": "R$ 33,87"}, "recurring": {"cents": 35000, "formatted": "R$ 350,00"},
    "monthly": {"cents": 35000, "formatted": "R$ 350,00"},
    "next_invoice": {"billing_date": "2026-12-10", "total": {"cents": 38387, "formatted": "R$ 383,87"},
                     "prorata": {"cents": 3387, "formatted": "R$ 33,87"},
                     "recurring": {"cents": 35000, "formatted": "R$ 350,00"}},
    "valid_until": "2026-12-08T03:00:00+00:00"}


class CheckoutConfirmationOut(Schema):
    quote_token = String(required=True)
    orders = List(Nested(OrderOut), required=True)


# ---------------------------------------------------------------- invoices

class InvoiceLineOut(Schema):
    kind = String(required=True)
    description = String(required=True)
    quantity = Integer(required=True)
    unit_price = Nested(Money, required=True)
    amount = Nested(Money, required=True)
    period_start = Date(required=True, allow_none=True)
    period_end = Date(required=True, allow_none=True)
    subscription_id = Integer(required=True, allow_none=True)
    purchase_order = String(required=True)
    cost_centre = String(required=True)


class InvoiceOut(Schema):
    id = Integer(required=True)
    number = String(required=True, metadata={"example": "F-2026-000123"})
    kind = String(required=True, metadata={"example": "regular"})
    status = String(required=True, metadata={"example": "open", "description": "open, overdue, paid, cancelled"})
    billing_date = Date(required=True)
    due_date = Date(required=True)
    period_start = Date(required=True)
    period_end = Date(required=True)
    subtotal = Nested(Money, required=True)
    credit_applied = Nested(Money, required=True)
    total = Nested(Money, required=True)
    paid = Nested(Money, required=True)
    paid_at = DateTime(required=True, allow_none=True)


class InvoiceDetail(InvoiceOut):
    lines = List(Nested(InvoiceLineOut), required=True)


class InvoiceList(Schema):
    items = List(Nested(InvoiceOut), required=True)
    next_cursor = String(required=True, allow_none=True)


INVOICE_EXAMPLE = {"id": 7, "number": "F-2026-000007", "kind": "regular", "status": "open",
                   "billing_date": "2026-12-01", "due_date": "2026-12-10", "period_start": "2026-12-10",
                   "period_end": "2027-01-10",
                   "subtotal": MONEY_EXAMPLE, "credit_applied": {"cents": 0, "formatted": "R$ 0,00"},
                   "total": MONEY_EXAMPLE, "paid": {"cents": 0, "formatted": "R$ 0,00"}, "paid_at": None}


class BoletoOut(Schema):
    invoice_id = Integer(required=True)
    due_date = Date(required=True)
    amount = Nested(Money, required=True)
    digitable_line = String(required=True, metadata={"description": "Linha digitável."})
    pix_copy_paste = String(required=True, metadata={"description": "Pix copia-e-cola (BR Code)."})
    pdf_url = String(required=True)


BOLETO_EXAMPLE = {"invoice_id": 7, "due_date": "2026-12-10", "amount": MONEY_EXAMPLE,
                  "digitable_line": "34191.09008 00000.000000 00000.000000 1 00000000012345",
                  "pix_copy_paste": "00020101021226…6304ABCD", "pdf_url": "/api/v1/invoices/7/boleto.pdf"}


# ---------------------------------------------------------------- tickets and users

class TicketOut(Schema):
    id = Integer(required=True)
    subject = String(required=True)
    category = String(required=True)
    priority = String(required=True)
    status = String(required=True)
    subscription_id = Integer(required=True, allow_none=True)
    created_at = DateTime(required=True)
    updated_at = DateTime(required=True)


class Ticket(TicketOut):
    """One ticket as its own answer."""


class TicketList(Schema):
    items = List(Nested(TicketOut), required=True)
    next_cursor = String(required=True, allow_none=True)


TICKET_EXAMPLE = {"id": 5, "subject": "Licença não aparece no Teams", "category": "technical", "priority": "normal",
                  "status": "open", "subscription_id": 12, "created_at": "2026-12-07T13:00:00+00:00",
                  "updated_at": "2026-12-07T13:00:00+00:00"}


class TicketIn(Schema):
    subject = String(required=True, validate=Length(min=1, max=200), metadata={"example": "Licença não aparece"})
    description = String(required=True, validate=Length(min=1, max=20000))
    category = String(required=True, validate=OneOf([c.value for c in TicketCategory]))
    priority = String(load_default=TicketPriority.NORMAL.value, validate=OneOf([p.value for p in TicketPriority]))
    subscription_id = Integer(load_default=None, validate=Range(1, 2**31 - 1))


class MessageIn(Schema):
    body = String(required=True, validate=Length(min=1, max=20000), metadata={"example": "Obrigado, resolvido."})


class AttachmentOut(Schema):
    id = Integer(required=True)
    filename = String(required=True, metadata={"example": "erro.png"})
    content_type = String(required=True, metadata={"example": "image/png"})
    size = Integer(required=True, metadata={"description": "Bytes."})
    url = String(required=True, metadata={"example": "/api/v1/tickets/5/attachments/3"})


class MessageOut(Schema):
    id = Integer(required=True)
    ticket_id = Integer(required=True)
    body = String(required=True)
    created_at = DateTime(required=True)
    attachments = List(Nested(AttachmentOut), required=True)


MESSAGE_EXAMPLE = {"id": 9, "ticket_id": 5, "body": "Segue o print do erro.", "created_at": "2026-12-07T14:00:00+00:00",
                   "attachments": [{"id": 3, "filename": "erro.png", "content_type": "image/png", "size": 48213,
                                    "url": "/api/v1/tickets/5/attachments/3"}]}

# "replyTicket" also takes multipart/form-data (files, as the page sends them): a raw OpenAPI media type added to the
# JSON one by openapi.py (APIFlask documents one body per operation). The limits are the page's (settings
# TICKET_ATTACHMENT_MAX_BYTES and TICKET_ATTACHMENT_TYPES; the content must match the extension).
MESSAGE_MULTIPART = {
    "schema": {"type": "object", "required": ["body"],
               "properties": {"body": {"type": "string", "minLength": 1, "maxLength": 20000},
                              "attachments": {"type": "array", "items": {"type": "string", "format": "binary"},
                                              "description": "Até 5 arquivos, nos tipos e tamanho aceitos pela "
                                                             "página do chamado."}}},
    "encoding": {"attachments": {"contentType": "application/octet-stream"}},
}


class UserOut(Schema):
    id = Integer(required=True, metadata={"description": "O vínculo do usuário com a organização."})
    name = String(required=True)
    email = String(required=True)
    roles = List(String(validate=OneOf([r.value for r in Role])), required=True)
    active = Boolean(required=True)


class User(UserOut):
    """One user as its own answer."""


USER_EXAMPLE = {"id": 4, "name": "Bruno Adm", "email": "bruno@cliente.example.com", "roles": ["adm", "cobranca"],
                "active": True}


class RolesIn(Schema):
    roles = List(String(validate=OneOf([r.value for r in Role])), required=True, validate=Length(max=10), metadata={
        "description": "Os papéis do usuário (substituem os atuais): master, adm, cobranca, suporte.",
        "example": ["adm", "cobranca"]})


class UserList(Schema):
    items = List(Nested(UserOut), required=True)
    next_cursor = String(required=True, allow_none=True)
