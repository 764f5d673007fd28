"""POST /webhooks/stripe: the payment gateway's signed events (public, no CSRF: the signature is the check).

400 when the event cannot be trusted (bad or missing signature, a replayed timestamp, an unreadable body,
or PAYMENTS_BACKEND=manual, which accepts none); 200 for every verified event, including one already
processed or about no invoice of this portal, so the gateway stops sending it. An unexpected error is a
500, and the gateway delivers the event again later (processing is idempotent by event id).

POST /webhooks/pix/<secret>/pix: the PSP's Pix (API Pix webhook, `{"pix":[…]}`; the PSP appends "/pix" to the
registered URL). 404 unless `<secret>` is PIX_WEBHOOK_SECRET (compared in constant time) and a PSP is
configured; 400 with a problem JSON (RFC 7807) for a body that is not a list of Pix; 200 otherwise (each
endToEndId is recorded once, so a Pix delivered again is answered 200 and ignored). The client certificate the
PSP presents is checked by the proxy in front of the portal (mTLS), not here.
"""

import hmac
import json

from flask import Blueprint, abort, current_app, jsonify, request

from portal.billing import pix_charges
from portal.billing.payments import handle_webhook_event
from portal.extensions import csrf
from portal.integrations.payments import WebhookRejected
from portal.shared.audit import Actor
from portal.shared.permissions import public

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")

MAX_BODY = 512 * 1024  # bytes; Stripe events are a few kB


@bp.post("/stripe")
@public
@csrf.exempt
def stripe_event():
    payload = request.stream.read(MAX_BODY + 1)
    if len(payload) > MAX_BODY:
        return jsonify(error="payload too large"), 413
    gateway = current_app.extensions["payment_gateway"]
    try:
        event = gateway.parse_webhook(payload, request.headers.get("Stripe-Signature", ""))
    except WebhookRejected as rejected:
        current_app.logger.warning("webhook refused: %s", rejected.reason)
        return jsonify(error=rejected.reason), 400
    outcome = handle_webhook_event(event, actor=Actor.system(f"webhook:{gateway.name}"), gateway=gateway.name)
    return jsonify(received=True, outcome=outcome), 200


def _problem(status: int, title: str, detail: str):
    response = jsonify(type="about:blank", title=title, status=status, detail=detail)
    response.status_code = status
    response.content_type = "application/problem+json"
    return response


@bp.post("/pix/<secret>/pix")
@public
@csrf.exempt
def pix_received(secret: str):
    expected = current_app.config.get("PIX_WEBHOOK_SECRET") or ""
    if not expected or not hmac.compare_digest(secret.encode(), expected.encode()):
        abort(404)
    if pix_charges.provider() is None:
        abort(404)
    payload = request.stream.read(MAX_BODY + 1)
    if len(payload) > MAX_BODY:
        return _problem(413, "Payload too large", f"at most {MAX_BODY} bytes")
    try:
        received = pix_charges.parse_webhook(json.loads(payload))
    except (ValueError, UnicodeDecodeError) as error:  # json.JSONDecodeError is a ValueError
        return _problem(400, "Invalid body", str(error)[:300])
    outcome = pix_charges.record_received(received, pix_charges.WEBHOOK)
    return jsonify(recorded=outcome.recorded, duplicate=outcome.duplicate, unmatched=outcome.unmatched), 200
