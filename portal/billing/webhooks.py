"""POST /webhooks/stripe: the payment gateway's signed events (public, no CSRF: the signature is the check).

400 when the event cannot be trusted (bad or missing signature, a replayed timestamp, an unreadable body,
or PAYMENTS_BACKEND=manual, which accepts none); 200 for every verified event, including one already
processed or about no invoice of this portal, so the gateway stops sending it. An unexpected error is a
500, and the gateway delivers the event again later (processing is idempotent by event id).

POST /webhooks/pix/<secret>/pix: the PSP's Pix (API Pix webhook, `{"pix":[…]}`; the PSP appends "/pix" to the
registered URL). 404 unless `<secret>` is PIX_WEBHOOK_SECRET (compared in constant time) and a PSP is
configured; 400 with a problem JSON (RFC 7807) for a body that is not a list of Pix; 200 otherwise (each
endToEndId is recorded once, so a Pix delivered again is answered 200 and ignored; a devolução it carries is
reversed once per rtrId). The TLS handshake with the PSP's client certificate (mTLS) happens at the proxy in front
of the portal; with PIX_WEBHOOK_CERT_HEADER (the header the proxy sets with the SHA-256 fingerprint of the
certificate it verified, e.g. X-SSL-Client-Fingerprint) and PIX_WEBHOOK_CERT_SHA256 (the PSP's fingerprints,
comma-separated) configured, a delivery whose header names none of them is refused (403, nothing recorded).
Configuring only one of the two refuses every delivery: a half-done mTLS set-up must not look like a working one.
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


def _fingerprint(value: str) -> str:
    """A SHA-256 fingerprint as hex without separators, lowercase ("AB:CD:…" and "abcd…" compare equal)."""
    return "".join(ch for ch in value.lower() if ch in "0123456789abcdef")


def _client_certificate_refused() -> str | None:
    """Why the delivery's client certificate (as the proxy reports it) is not the PSP's; None when it is, or
    when no check is configured."""
    header = (current_app.config.get("PIX_WEBHOOK_CERT_HEADER") or "").strip()
    allowed = {_fingerprint(item) for item in (current_app.config.get("PIX_WEBHOOK_CERT_SHA256") or "").split(",")}
    allowed.discard("")
    if not header and not allowed:
        return None
    if not header or not allowed:
        return "PIX_WEBHOOK_CERT_HEADER and PIX_WEBHOOK_CERT_SHA256 must be configured together"
    presented = _fingerprint(request.headers.get(header, ""))
    if not presented:
        return f"no client certificate fingerprint in {header}"
    if not any(hmac.compare_digest(presented, fingerprint) for fingerprint in allowed):
        return "the client certificate is not the PSP's"
    return None


@bp.post("/pix/<secret>/pix")
@public
@csrf.exempt
def pix_received(secret: str):
    expected = current_app.config.get("PIX_WEBHOOK_SECRET") or ""
    if not expected or not hmac.compare_digest(secret.encode(), expected.encode()):
        abort(404)
    if pix_charges.provider() is None:
        abort(404)
    if refused := _client_certificate_refused():
        current_app.logger.warning("pix webhook refused: %s", refused)
        return _problem(403, "Forbidden", refused)
    payload = request.stream.read(MAX_BODY + 1)
    if len(payload) > MAX_BODY:
        return _problem(413, "Payload too large", f"at most {MAX_BODY} bytes")
    try:
        received = pix_charges.parse_webhook(json.loads(payload))
    except (ValueError, UnicodeDecodeError) as error:  # json.JSONDecodeError is a ValueError
        return _problem(400, "Invalid body", str(error)[:300])
    outcome = pix_charges.record_received(received, pix_charges.WEBHOOK)
    return jsonify(recorded=outcome.recorded, duplicate=outcome.duplicate, unmatched=outcome.unmatched,
                   reversed=outcome.reversed), 200
