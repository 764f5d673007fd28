"""The REST API at /api/v1: an APIFlask blueprint on the portal's Flask app, documented by OpenAPI 3.1.

Authentication is the bearer token alone (`Authorization: Bearer ptk_…`; a session cookie is never read here, and
the blueprint is exempt from CSRF). Each route declares the `Permission` the matching page needs (accounts/roles.py
is the one source), marked like the pages' `@requires` so tests/test_permissions.py sees it. Every answer carries
the token's RateLimit-* headers; errors are problem details (problems.py); a POST with an `Idempotency-Key` is
answered once and repeated for 24 hours.
"""

import functools
import hashlib
import io
import json
from collections.abc import Callable
from typing import Any

import apiflask.settings
from apiflask import APIBlueprint, HTTPTokenAuth
from apiflask.exceptions import HTTPError
from apiflask.schemas import FileSchema
from flask import Flask, Response, current_app, g, jsonify, make_response, request, send_file
from flask_babel import gettext as _
from marshmallow import ValidationError

from portal.accounts import service as accounts
from portal.accounts import throttle
from portal.accounts.roles import Permission, Role
from portal.api import presenters, problems, schemas, service, tokens
from portal.api.problems import Problem
from portal.approvals import service as approvals
from portal.billing import boletos as boleto_rules
from portal.billing import delivery, fiscal
from portal.billing.models import InvoiceStatus
from portal.billing.service import credit_balance
from portal.cancellations import service as cancellations
from portal.catalog import cart as carts
from portal.catalog import service as catalog
from portal.shared import clock, documents
from portal.shared.audit import Actor
from portal.shared.errors import NotFound, PermissionDenied, ServiceError
from portal.shared.permissions import Access
from portal.subscriptions import confirmation, quotes
from portal.subscriptions.checkout import quote_checkout
from portal.subscriptions.purchase_orders import clean_references
from portal.support import presenters as support_presenters
from portal.support import service as support
from portal.support.forms import uploads_from

bp = APIBlueprint("api", __name__, url_prefix="/api/v1", tag="API")
auth = HTTPTokenAuth(scheme="Bearer", description="Token de API criado em Minha conta → Integrações → Tokens de API.")

REPLAYED_HEADERS = ("ETag", "Location")


def init_app(app: Flask) -> None:
    """Mount the API on `app` (a plain Flask app): APIFlask's settings as defaults (its decorators read them from the
    app's config) and the blueprint."""
    for name in dir(apiflask.settings):
        if name.isupper():
            app.config.setdefault(name, getattr(apiflask.settings, name))
    app.register_blueprint(bp)


# ---------------------------------------------------------------- authentication, permission, rate limit

@auth.verify_token
def _verify(text: str | None):
    try:
        caller = tokens.authenticate(text, ip=request.remote_addr, user_agent=request.headers.get("User-Agent"))
    except tokens.TokenRefused:
        return None
    g.caller = caller
    g.organization = caller.organization
    g.membership = caller.membership
    g.permissions = caller.permissions
    limit, left, reset = throttle.count("api", f"token:{caller.token.id}", current_app.config["API_RATE_LIMIT"])
    g.rate_headers = {"RateLimit-Limit": str(limit), "RateLimit-Remaining": str(max(left, 0)),
                      "RateLimit-Reset": str(reset)}
    if left < 0:
        raise Problem("rate-limited", headers={"Retry-After": str(reset)})
    return caller


def _auth_error(status: int):
    return problems.for_status(status)


auth.error_handler(_auth_error)


def needs(permission: Permission) -> Callable:
    """The route needs a valid token whose permissions include `permission` (a 403 problem otherwise)."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            if permission not in g.caller.permissions:
                raise Problem("forbidden")
            return view(*args, **kwargs)

        guarded = bp.auth_required(auth)(checked)
        guarded.access = Access("api", str(permission))  # type: ignore[attr-defined]
        return guarded

    return decorator


def _actor() -> Actor:
    return g.caller.actor


@bp.after_request
def _headers(response: Response) -> Response:
    for name, value in getattr(g, "rate_headers", {}).items():
        response.headers[name] = value
    response.headers.setdefault("Cache-Control", "no-store")
    return response


# ---------------------------------------------------------------- errors as problem details

def error_response(error: Exception) -> Response:
    """The problem an error raised by an API view stands for."""
    if isinstance(error, Problem):
        return problems.from_exception(error)
    if isinstance(error, HTTPError):  # APIFlask's: input validation (422) or an abort
        errors = None
        if isinstance(error.detail, dict):
            errors = {}
            for _location, fields in error.detail.items():
                for field, messages in (fields.items() if isinstance(fields, dict) else [("_", fields)]):
                    errors[field] = messages if isinstance(messages, list) else [json.dumps(messages)]
        return problems.response(problems.BY_STATUS.get(error.status_code, "bad-request"), errors=errors,
                                 headers=dict(error.headers or {}))
    if isinstance(error, NotFound):
        return problems.response("not-found", error.message)
    if isinstance(error, PermissionDenied):
        return problems.response("forbidden", error.message)
    if isinstance(error, quotes.StaleQuote):
        return problems.response("conflict", error.message)
    if isinstance(error, throttle.TooManyAttempts):
        return problems.response("rate-limited", error.message)
    if isinstance(error, ServiceError):
        fields = {field: messages for field, messages in error.errors.items() if field}
        return problems.response("refused", error.message, errors=fields or None)
    raise error


bp.register_error_handler(Problem, error_response)
bp.register_error_handler(HTTPError, error_response)
bp.register_error_handler(ServiceError, error_response)


# ---------------------------------------------------------------- Idempotency-Key

def _fingerprinted_body() -> bytes:
    """The body as an Idempotency-Key compares it: the bytes, or for multipart/form-data its fields and files (each
    client picks a new random boundary, so the same files sent again must still be the same body)."""
    if request.mimetype != "multipart/form-data":
        return request.get_data()
    parts = [["field", name, value] for name, value in sorted(request.form.items(multi=True))]
    for name, storage in sorted(request.files.items(multi=True), key=lambda item: (item[0], item[1].filename or "")):
        digest = hashlib.sha256(storage.stream.read()).hexdigest()
        storage.stream.seek(0)
        parts.append(["file", name, storage.filename or "", digest])
    return json.dumps(parts, ensure_ascii=False).encode()


def idempotent(view: Callable) -> Callable:
    """Honour `Idempotency-Key` on a POST: the first request with a key (per token) runs and its answer is kept;
    the same key with the same method, path and body gets that answer again for 24 hours; with another body, a 422
    problem; while the first still runs, a 409 problem. A failure of ours (5xx) forgets the key."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return view(*args, **kwargs)
        if not 0 < len(key) <= 255 or not key.isprintable() or not key.isascii():
            raise Problem("validation", errors={"Idempotency-Key": [_("Use de 1 a 255 caracteres ASCII visíveis.")]})
        token_id = g.caller.token.id
        fingerprint = service.fingerprint(request.method, request.path, _fingerprinted_body())
        earlier = service.claim(token_id, key, fingerprint)
        if earlier is not None:
            if earlier.fingerprint != fingerprint:
                raise Problem("idempotency-mismatch")
            if earlier.status_code is None:
                raise Problem("idempotency-in-progress")
            replay = Response(earlier.body, status=earlier.status_code, content_type=earlier.content_type)
            replay.headers.update(json.loads(earlier.headers or "{}"))
            replay.headers["Idempotent-Replayed"] = "true"
            return replay
        try:
            try:
                answer = make_response(view(*args, **kwargs))
            except (Problem, HTTPError, ServiceError) as error:
                answer = error_response(error)
        except BaseException:
            service.release(token_id, key)
            raise
        if answer.status_code >= 500:
            service.release(token_id, key)
            return answer
        kept = {name: answer.headers[name] for name in REPLAYED_HEADERS if name in answer.headers}
        service.keep_answer(token_id, key, status=answer.status_code, content_type=answer.content_type,
                            headers=kept, body=answer.get_data(as_text=True))
        return answer

    return wrapper


# ---------------------------------------------------------------- organization

@bp.get("/organization")
@needs(Permission.PORTAL_ACCESS)
@bp.output(schemas.OrganizationOut, example=schemas.ORGANIZATION_EXAMPLE)
@bp.doc(summary="A organização do token", operation_id="getOrganization")
def organization():
    return presenters.organization(g.organization, credit_balance(g.organization.id))


# ---------------------------------------------------------------- subscriptions and quotes

@bp.get("/subscriptions")
@needs(Permission.LICENSES_READ)
@bp.input(schemas.PageQuery, location="query", arg_name="query")
@bp.output(schemas.SubscriptionList, example={"items": [schemas.SUBSCRIPTION_EXAMPLE], "next_cursor": None})
@bp.doc(summary="Licenças (assinaturas)", operation_id="listSubscriptions")
def subscriptions(query):
    page = service.subscriptions(g.organization, cursor=query["cursor"], limit=query["limit"])
    return {"items": [presenters.subscription(s, service.etag(s)) for s in page.items], "next_cursor": page.next_cursor}


@bp.get("/subscriptions/<int:subscription_id>")
@needs(Permission.LICENSES_READ)
@bp.output(schemas.Subscription, example=schemas.SUBSCRIPTION_EXAMPLE,
           headers={"ETag": {"description": "A versão da licença; envie em If-Match ao confirmar um orçamento.",
                             "schema": {"type": "string"}}})
@bp.doc(summary="Uma licença (com ETag)", operation_id="getSubscription", responses={404: "Não encontrada"})
def subscription(subscription_id: int):
    found = service.subscription(g.organization, subscription_id)
    etag = service.etag(found)
    return presenters.subscription(found, etag), 200, {"ETag": etag}


@bp.post("/subscriptions/<int:subscription_id>/quotes")
@needs(Permission.LICENSES_MANAGE)
@idempotent
@bp.input(schemas.IdempotencyHeaders, location="headers", arg_name="headers")
@bp.input(schemas.QuoteIn, location="json", arg_name="body", example={"quantity": 12})
@bp.output(schemas.QuoteOut, status_code=201, example=schemas.QUOTE_EXAMPLE)
@bp.doc(summary="Orçar uma nova quantidade (Alterar quantidades)", operation_id="createQuote",
        description="Calcula o pró-rata, o crédito e o novo valor recorrente pelas mesmas regras da página. "
                    "Quantidade 0 é um cancelamento: exige cancellation_category e cancellation_reason.",
        responses={404: "Não encontrada", 409: "Conflito"})
def create_quote(subscription_id: int, body, headers):
    found = service.subscription(g.organization, subscription_id)
    if body["quantity"] == 0:
        if Permission.SUBSCRIPTIONS_CANCEL not in g.caller.permissions:
            raise Problem("forbidden")
        quote = cancellations.preview_cancellation(
            organization=g.organization, subscription=found, actor=_actor(), actor_membership=g.membership,
            category=body["cancellation_category"], reason=body["cancellation_reason"])
    else:
        quote = quotes.quote_quantity_change(organization=g.organization, subscription=found,
                                             new_quantity=body["quantity"], actor=_actor())
    return presenters.quote(quote, service.etag(found)), 201


def _awaiting_approval(waiting: confirmation.AwaitingApproval) -> Response:
    """202: an approval rule caught the confirmation, nothing was ordered (portal/approvals); the approval's page in
    `approval_url` and Location (AWAITING_APPROVAL_RESPONSE in the document)."""
    response = jsonify({"status": "awaiting_approval", "approval_id": waiting.request.id,
                        "approval_url": approvals.approval_url(waiting.request), "detail": waiting.message})
    response.status_code = 202
    response.headers["Location"] = response.json["approval_url"]
    return response


@bp.post("/quotes/<string(length=32):token>/confirm")
@needs(Permission.LICENSES_MANAGE)
@idempotent
@bp.input(schemas.ConfirmHeaders, location="headers", arg_name="headers")
@bp.output(schemas.ConfirmationOut, example={"quote_token": schemas.QUOTE_EXAMPLE["token"],
                                             "subscription": schemas.SUBSCRIPTION_EXAMPLE,
                                             "orders": [schemas.ORDER_EXAMPLE]})
@bp.doc(summary="Confirmar um orçamento (exige If-Match)", operation_id="confirmQuote",
        description="Envie em If-Match o ETag atual da licença (o subscription_etag do orçamento): 412 se a licença "
                    "mudou desde então, 428 sem o cabeçalho. Um cancelamento (quantidade 0) só se confirma no portal, "
                    "que pede a senha.",
        responses={202: schemas.AWAITING_APPROVAL_RESPONSE, 404: "Não encontrado", 409: "Orçamento desatualizado",
                   412: "A licença mudou", 428: "Falta If-Match"})
def confirm_quote(token: str, headers):
    quote = quotes.get_quote(g.organization, token)
    if quote.subscription_id is None:  # a checkout's quote: confirmed in the cart, not here
        raise NotFound(_("Orçamento não encontrado."))
    found = service.subscription(g.organization, quote.subscription_id)
    expected = request.headers.get("If-Match")
    if not expected:
        raise Problem("precondition-required")
    if service.etag(found) not in [tag.strip() for tag in expected.split(",")] and expected.strip() != "*":
        raise Problem("precondition-failed", headers={"ETag": service.etag(found)})
    try:
        orders = confirmation.confirm_quote(organization=g.organization, token=token, actor=_actor())
    except confirmation.AwaitingApproval as waiting:
        return _awaiting_approval(waiting)
    found = service.subscription(g.organization, quote.subscription_id)
    etag = service.etag(found)
    return {"quote_token": token, "subscription": presenters.subscription(found, etag),
            "orders": [presenters.order(order) for order in orders]}, 200, {"ETag": etag}


# ---------------------------------------------------------------- catalog

@bp.get("/catalog/families")
@needs(Permission.LICENSES_MANAGE)
@bp.output(schemas.FamilyList, example={"items": [{"id": 1, "name": "Microsoft 365", "description": ""}]})
@bp.doc(summary="Famílias de produtos", operation_id="listFamilies")
def families():
    return {"items": [{"id": f.id, "name": f.name, "description": f.description or ""} for f in service.families()]}


@bp.get("/catalog/products")
@needs(Permission.LICENSES_MANAGE)
@bp.input(schemas.ProductQuery, location="query", arg_name="query")
@bp.output(schemas.ProductList, example={"items": [{
    "id": 3, "sku": "M365-BB-ANUAL", "name": "Microsoft 365 Business Basic", "description": "", "family_id": 1,
    "term": "annual", "billing_frequency": "monthly", "min_quantity": 1, "max_quantity": 300,
    "current_price": {"unit_price": {"cents": 3500, "formatted": "R$ 35,00"}, "effective_from": "2026-01-01"},
    "prices": [{"unit_price": {"cents": 3500, "formatted": "R$ 35,00"}, "effective_from": "2026-01-01"}]}],
    "next_cursor": None})
@bp.doc(summary="Produtos e preços", operation_id="listProducts")
def products(query):
    page = service.products(family_id=query["family_id"], cursor=query["cursor"], limit=query["limit"])
    return {"items": [presenters.product(p) for p in page.items], "next_cursor": page.next_cursor}


# ---------------------------------------------------------------- cart and checkout

def _buyer():
    """The cart is the token creator's, as on the page (each user has their own)."""
    return g.membership.user


def _cart() -> dict:
    return presenters.cart(carts.cart(g.organization, _buyer(), today=clock.today()))


@bp.get("/cart")
@needs(Permission.LICENSES_MANAGE)
@bp.output(schemas.CartOut, example=schemas.CART_EXAMPLE)
@bp.doc(summary="O carrinho (de quem criou o token)", operation_id="getCart",
        description="Cada linha a preço de hoje; available false: o produto não está mais à venda (tire-o do "
                    "carrinho antes de fechar o pedido).")
def cart():
    return _cart()


@bp.put("/cart/items/<int:product_id>")
@needs(Permission.LICENSES_MANAGE)
@bp.input(schemas.CartItemIn, location="json", arg_name="body",
          example={"quantity": 10, "purchase_order": "PO-2026-17", "cost_centre": "TI"})
@bp.output(schemas.CartOut, example=schemas.CART_EXAMPLE)
@bp.doc(summary="Definir a quantidade de um produto no carrinho", operation_id="setCartItem",
        description="Os mesmos limites da página (quantidade mínima e máxima do produto, produto à venda). "
                    "Quantidade 0 tira o produto do carrinho. purchase_order e cost_centre (até 60 caracteres) vão "
                    "para a licença que a compra criar.",
        responses={404: "Produto não encontrado ou fora do carrinho"})
def set_cart_item(product_id: int, body):
    references = None
    if body["purchase_order"] is not None or body["cost_centre"] is not None:
        current = next((item for item in carts.cart_items(g.organization, _buyer())
                        if item.product_id == product_id), None)
        kept = {"purchase_order": current.purchase_order if current else "",
                "cost_centre": current.cost_centre if current else ""}
        references = clean_references(*(kept[name] if body[name] is None else body[name]
                                        for name in ("purchase_order", "cost_centre")))
    item = carts.update_cart(organization=g.organization, user=_buyer(), product_id=product_id,
                             quantity=body["quantity"])
    if item is not None and references is not None:
        carts.set_cart_reference(organization=g.organization, user=_buyer(), product_id=product_id, **references)
    return _cart()


@bp.post("/cart/checkout")
@needs(Permission.LICENSES_MANAGE)
@idempotent
@bp.input(schemas.IdempotencyHeaders, location="headers", arg_name="headers")
@bp.output(schemas.CheckoutOut, status_code=201, example=schemas.CHECKOUT_EXAMPLE)
@bp.doc(summary="Orçar o carrinho (revisar o pedido)", operation_id="createCheckout",
        description="O orçamento do carrinho pelas mesmas regras da página: o pró-rata de cada linha até o fim do "
                    "período, o que vai na próxima fatura e o valor recorrente. Vale até o fim do dia (valid_until); "
                    "confirme com POST /checkouts/{token}/confirm.",
        responses={422: "Carrinho vazio ou com um produto que não está mais à venda"})
def create_checkout(headers):
    quote = quote_checkout(organization=g.organization, user=_buyer(), actor=_actor())
    return presenters.checkout(catalog.checkout_preview(g.organization, quote.token)), 201


@bp.post("/checkouts/<string(length=32):token>/confirm")
@needs(Permission.LICENSES_MANAGE)
@idempotent
@bp.input(schemas.IdempotencyHeaders, location="headers", arg_name="headers")
@bp.output(schemas.CheckoutConfirmationOut, example={"quote_token": schemas.CHECKOUT_EXAMPLE["token"],
                                                     "orders": [{**schemas.ORDER_EXAMPLE, "kind": "purchase"}]})
@bp.doc(summary="Confirmar o pedido do carrinho", operation_id="confirmCheckout",
        description="Compra o que o orçamento mostrou: uma licença nova por linha, com o seu pedido ao fornecedor. "
                    "409 quando o orçamento ficou desatualizado (preço mudou, expirou, a fatura do dia foi emitida): "
                    "orce o carrinho de novo. 202 quando uma regra de aprovação segura o pedido.",
        responses={202: schemas.AWAITING_APPROVAL_RESPONSE, 404: "Não encontrado", 409: "Orçamento desatualizado"})
def confirm_checkout(token: str, headers):
    catalog.checkout_quote(g.organization, token)  # another organization's, or a quantity change's: 404
    try:
        orders = catalog.confirm_checkout(g.organization, token, actor=_actor())
    except confirmation.AwaitingApproval as waiting:
        return _awaiting_approval(waiting)
    return {"quote_token": token, "orders": [presenters.order(order) for order in orders]}


# ---------------------------------------------------------------- invoices

@bp.get("/invoices")
@needs(Permission.BILLING_READ)
@bp.input(schemas.InvoiceQuery, location="query", arg_name="query")
@bp.output(schemas.InvoiceList, example={"items": [schemas.INVOICE_EXAMPLE], "next_cursor": None})
@bp.doc(summary="Faturas (filtros: status, ano)", operation_id="listInvoices")
def invoices(query):
    page = service.invoices(g.organization, status=query["status"], year=query["year"], cursor=query["cursor"],
                            limit=query["limit"])
    return {"items": [presenters.invoice(i) for i in page.items], "next_cursor": page.next_cursor}


@bp.get("/invoices/<int:invoice_id>")
@needs(Permission.BILLING_READ)
@bp.output(schemas.InvoiceDetail, example={**schemas.INVOICE_EXAMPLE, "lines": [{
    "kind": "recurring", "description": "Microsoft 365 Business Basic", "quantity": 10,
    "unit_price": {"cents": 3500, "formatted": "R$ 35,00"}, "amount": {"cents": 35000, "formatted": "R$ 350,00"},
    "period_start": "2026-12-10", "period_end": "2027-01-10", "subscription_id": 12, "purchase_order": "",
    "cost_centre": ""}]})
@bp.doc(summary="Uma fatura, com as linhas", operation_id="getInvoice", responses={404: "Não encontrada"})
def invoice(invoice_id: int):
    return presenters.invoice(service.invoice(g.organization, invoice_id), lines=True)


def _document(sha256: str | None, filename: str):
    if sha256 is None:
        raise Problem("not-found", _("O documento ainda está em preparação. Tente de novo em alguns minutos."))
    try:
        return documents.send(sha256, filename)
    except NotFound:
        raise Problem("not-found", _("O documento ainda está em preparação. Tente de novo em alguns minutos.")) \
            from None


@bp.get("/invoices/<int:invoice_id>/pdf")
@needs(Permission.BILLING_READ)
@bp.output(FileSchema, content_type="application/pdf", description="O PDF da fatura")
@bp.doc(summary="PDF da fatura", operation_id="getInvoicePdf", responses={404: "Não encontrada ou em preparação"})
def invoice_pdf(invoice_id: int):
    found = service.invoice(g.organization, invoice_id)
    return _document(found.pdf_sha256, delivery.invoice_pdf_name(found))


def _payable_boleto(invoice_id: int):
    found = service.invoice(g.organization, invoice_id)
    current = found.current_boleto
    if found.status != InvoiceStatus.OPEN or current is None:
        raise Problem("not-found", _("Esta fatura não tem boleto a pagar."))
    return found, current


@bp.get("/invoices/<int:invoice_id>/boleto")
@needs(Permission.BILLING_READ)
@bp.output(schemas.BoletoOut, example=schemas.BOLETO_EXAMPLE)
@bp.doc(summary="Boleto a pagar: linha digitável e Pix copia-e-cola", operation_id="getBoleto",
        responses={404: "Sem boleto a pagar"})
def boleto(invoice_id: int):
    found, current = _payable_boleto(invoice_id)
    return {"invoice_id": found.id, "due_date": current.due_date,
            "amount": presenters.money(current.amount_cents + current.fine_cents + current.interest_cents),
            "digitable_line": current.digitable_line,
            "pix_copy_paste": current.pix_payload if boleto_rules.pix_ready(current) else "",
            "pdf_url": f"{bp.url_prefix}/invoices/{found.id}/boleto.pdf"}


@bp.get("/invoices/<int:invoice_id>/boleto.pdf")
@needs(Permission.BILLING_READ)
@bp.output(FileSchema, content_type="application/pdf", description="O PDF do boleto")
@bp.doc(summary="PDF do boleto", operation_id="getBoletoPdf", responses={404: "Sem boleto a pagar"})
def boleto_pdf(invoice_id: int):
    found, current = _payable_boleto(invoice_id)
    return _document(current.pdf_sha256, delivery.boleto_pdf_name(found, current))


def _nota_fiscal(content: bytes, content_type: str, filename: str):
    return send_file(io.BytesIO(content), mimetype=content_type, as_attachment=True, download_name=filename,
                     etag=False, max_age=0)


@bp.get("/invoices/<int:invoice_id>/nfse.pdf")
@needs(Permission.BILLING_READ)
@bp.output(FileSchema, content_type="application/pdf", description="O PDF da nota fiscal (NFS-e)")
@bp.doc(summary="PDF da nota fiscal (NFS-e)", operation_id="getNfsePdf",
        responses={404: "Sem nota fiscal ou em preparação"})
def nfse_pdf(invoice_id: int):
    try:
        note = fiscal.fiscal_pdf(service.invoice(g.organization, invoice_id))
    except NotFound:
        raise Problem("not-found", _("O documento ainda está em preparação. Tente de novo em alguns minutos.")) \
            from None
    return _document(note.pdf_sha256, fiscal.download_name(note, "pdf"))


@bp.get("/invoices/<int:invoice_id>/nfse.xml")
@needs(Permission.BILLING_READ)
@bp.output(FileSchema, content_type="application/xml", description="O XML da nota fiscal (NFS-e)")
@bp.doc(summary="XML da nota fiscal (NFS-e)", operation_id="getNfseXml",
        responses={404: "Sem nota fiscal ou em preparação"})
def nfse_xml(invoice_id: int):
    try:
        note, content = fiscal.fiscal_xml(service.invoice(g.organization, invoice_id))
    except NotFound:
        raise Problem("not-found", _("O documento ainda está em preparação. Tente de novo em alguns minutos.")) \
            from None
    return _nota_fiscal(content, "application/xml", fiscal.download_name(note, "xml"))


# ---------------------------------------------------------------- orders

@bp.get("/orders")
@needs(Permission.LICENSES_READ)
@bp.input(schemas.PageQuery, location="query", arg_name="query")
@bp.output(schemas.OrderList, example={"items": [schemas.ORDER_EXAMPLE], "next_cursor": None})
@bp.doc(summary="Pedidos ao fornecedor", operation_id="listOrders")
def orders(query):
    page = service.orders(g.organization, cursor=query["cursor"], limit=query["limit"])
    return {"items": [presenters.order(o) for o in page.items], "next_cursor": page.next_cursor}


@bp.get("/orders/<int:order_id>")
@needs(Permission.LICENSES_READ)
@bp.output(schemas.OrderDetail, example={**schemas.ORDER_EXAMPLE, "history": [
    {"status": "pending", "message": "order created", "created_at": "2026-12-07T13:00:00+00:00"}]})
@bp.doc(summary="Um pedido, com o histórico", operation_id="getOrder", responses={404: "Não encontrado"})
def order(order_id: int):
    return presenters.order(service.order(g.organization, order_id), history=True)


# ---------------------------------------------------------------- tickets

@bp.get("/tickets")
@needs(Permission.TICKETS_MANAGE)
@bp.input(schemas.TicketQuery, location="query", arg_name="query")
@bp.output(schemas.TicketList, example={"items": [schemas.TICKET_EXAMPLE], "next_cursor": None})
@bp.doc(summary="Chamados", operation_id="listTickets")
def tickets(query):
    page = service.tickets(g.organization, status=query["status"], cursor=query["cursor"], limit=query["limit"])
    return {"items": [presenters.ticket(t) for t in page.items], "next_cursor": page.next_cursor}


@bp.post("/tickets")
@needs(Permission.TICKETS_MANAGE)
@idempotent
@bp.input(schemas.IdempotencyHeaders, location="headers", arg_name="headers")
@bp.input(schemas.TicketIn, location="json", arg_name="body",
          example={"subject": "Licença não aparece", "description": "O usuário ana@… não vê o Teams.",
                   "category": "technical", "priority": "normal", "subscription_id": None})
@bp.output(schemas.Ticket, status_code=201, example=schemas.TICKET_EXAMPLE)
@bp.doc(summary="Abrir um chamado", operation_id="createTicket")
def create_ticket(body, headers):
    ticket = support.open_ticket(membership=g.membership, actor=_actor(), category=body["category"],
                                 priority=body["priority"], subject=body["subject"], description=body["description"],
                                 subscription_id=body["subscription_id"], uploads=[],
                                 rules=support.AttachmentRules.from_config(current_app.config))
    return presenters.ticket(ticket), 201


# Operations that also take a body as multipart/form-data (operation id → media type), for openapi.py.
MULTIPART_BODIES = {"replyTicket": schemas.MESSAGE_MULTIPART}


def _message_input() -> tuple[str, list]:
    """The reply's text and files: multipart/form-data as the page sends it (field `body`, files in
    `attachments`), or JSON without files."""
    rules = support.AttachmentRules.from_config(current_app.config)
    if request.mimetype == "multipart/form-data":
        data: Any = {name: request.form[name] for name in ("body",) if name in request.form}
        uploads = uploads_from(request.files.getlist("attachments"), rules.max_bytes)
    else:
        data = request.get_json(silent=True)
        data = {} if data is None else data
        uploads = []
    try:
        loaded = schemas.MessageIn().load(data)
    except ValidationError as error:
        messages = error.messages if isinstance(error.messages, dict) else {"_": error.messages}
        raise Problem("validation", errors={field: value if isinstance(value, list) else [json.dumps(value)]
                                            for field, value in messages.items()}) from None
    return loaded["body"], uploads


@bp.post("/tickets/<int:ticket_id>/messages")
@needs(Permission.TICKETS_MANAGE)
@idempotent
@bp.input(schemas.IdempotencyHeaders, location="headers", arg_name="headers")
@bp.input(schemas.MessageIn, location="json", arg_name="body", example={"body": "Obrigado, resolvido."},
          validation=False)  # read by _message_input: JSON or multipart/form-data with files
@bp.output(schemas.MessageOut, status_code=201, example=schemas.MESSAGE_EXAMPLE)
@bp.doc(summary="Responder um chamado (com anexos)", operation_id="replyTicket",
        description="JSON ({\"body\": …}) ou multipart/form-data com o campo body e os arquivos em attachments "
                    "(até 5 por mensagem; os tipos e o tamanho máximo da página do chamado; o conteúdo precisa "
                    "corresponder à extensão). Um arquivo recusado recusa a mensagem toda (422, em "
                    "errors.attachments).",
        responses={404: "Não encontrado"})
def reply_ticket(ticket_id: int, body, headers):
    text, uploads = _message_input()
    ticket = support.customer_ticket(ticket_id, membership=g.membership)
    message = support.customer_reply(ticket, membership=g.membership, actor=_actor(), body=text, uploads=uploads,
                                     rules=support.AttachmentRules.from_config(current_app.config))
    return presenters.message(message), 201


@bp.get("/tickets/<int:ticket_id>/attachments/<int:attachment_id>")
@needs(Permission.TICKETS_MANAGE)
@bp.output(FileSchema, content_type="*/*", description="O arquivo, com o tipo guardado (sempre como download)")
@bp.doc(summary="Um anexo de um chamado", operation_id="getTicketAttachment", responses={404: "Não encontrado"})
def ticket_attachment(ticket_id: int, attachment_id: int):
    ticket = support.customer_ticket(ticket_id, membership=g.membership)
    stored = support.customer_attachment(ticket, attachment_id, membership=g.membership)
    return support_presenters.download(stored)


# ---------------------------------------------------------------- users

@bp.get("/users")
@needs(Permission.USERS_MANAGE)
@bp.input(schemas.PageQuery, location="query", arg_name="query")
@bp.output(schemas.UserList, example={"items": [{"id": 2, "name": "Ana Master", "email": "ana@cliente.example.com",
                                                 "roles": ["master"], "active": True}], "next_cursor": None})
@bp.doc(summary="Usuários e papéis", operation_id="listUsers")
def users(query):
    page = service.memberships(g.organization, cursor=query["cursor"], limit=query["limit"])
    return {"items": [presenters.member(m) for m in page.items], "next_cursor": page.next_cursor}


@bp.patch("/users/<int:membership_id>")
@needs(Permission.USERS_MANAGE)
@bp.input(schemas.RolesIn, location="json", arg_name="body", example={"roles": ["adm", "cobranca"]})
@bp.output(schemas.User, example=schemas.USER_EXAMPLE)
@bp.doc(summary="Trocar os papéis de um usuário", operation_id="updateUserRoles",
        description="Como na página Usuários: pelo menos um papel, e a organização nunca fica sem um Master ativo "
                    "(422). A troca fica no histórico com o nome do token.",
        responses={404: "Não encontrado"})
def update_user(membership_id: int, body):
    found = accounts.get_membership_in(g.organization, membership_id)
    accounts.change_roles(found, {Role(role) for role in body["roles"]}, actor=_actor(),
                          actor_membership=g.membership)
    return presenters.member(found)


def _membership_action(membership_id: int, verb: Callable) -> dict:
    found = accounts.get_membership_in(g.organization, membership_id)
    verb(found, actor=_actor(), actor_membership=g.membership)
    return presenters.member(found)


@bp.post("/users/<int:membership_id>/deactivate")
@needs(Permission.USERS_MANAGE)
@idempotent
@bp.input(schemas.IdempotencyHeaders, location="headers", arg_name="headers")
@bp.output(schemas.User, example={**schemas.USER_EXAMPLE, "active": False})
@bp.doc(summary="Desativar um usuário", operation_id="deactivateUser",
        description="Como na página Usuários: a pessoa perde o acesso e sai das sessões abertas; o último Master "
                    "ativo não pode ser desativado (422).",
        responses={404: "Não encontrado"})
def deactivate_user(membership_id: int, headers):
    return _membership_action(membership_id, accounts.deactivate_membership)


@bp.post("/users/<int:membership_id>/reactivate")
@needs(Permission.USERS_MANAGE)
@idempotent
@bp.input(schemas.IdempotencyHeaders, location="headers", arg_name="headers")
@bp.output(schemas.User, example=schemas.USER_EXAMPLE)
@bp.doc(summary="Reativar um usuário", operation_id="reactivateUser", responses={404: "Não encontrado"})
def reactivate_user(membership_id: int, headers):
    return _membership_action(membership_id, accounts.reactivate_membership)
