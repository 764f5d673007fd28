"""POST /webhooks/stripe: the payment gateway's signed events (public, no CSRF: the signature is the check).

400 when the event cannot be trusted (bad or missing signature, a replayed timestamp, an unreadable body,
or PAYMENTS_BACKEND=manual, which accepts none); 200 for every verified event, including one already
processed or about no invoice of this portal, so the gateway stops sending it. An unexpected error is a
500, and the gateway delivers the event again later (processing is idempotent by event id).
"""

from flask import Blueprint, current_app, jsonify, request

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
