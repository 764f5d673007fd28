"""POST /webhooks/autentique: the e-signature provider's signed events (public, no CSRF: the signature is the check).

400 when the call cannot be trusted (bad or missing signature, unreadable body); 200 for every verified event,
including one about a document no opportunity waits for, one already processed (idempotent: the opportunity's
stage says whether the signature was recorded) and event types this portal does not act on, so the provider
stops sending it. 503 when the provider cannot be asked about the document right now (a retryable error): it
delivers again later, and the polling job covers it meanwhile.
"""

from flask import Blueprint, current_app, jsonify, request

from portal.extensions import csrf
from portal.integrations.esign import SignatureError, SignatureRejected
from portal.onboarding import service
from portal.shared.audit import Actor
from portal.shared.permissions import public

bp = Blueprint("onboarding_webhooks", __name__, url_prefix="/webhooks")

MAX_BODY = 256 * 1024  # bytes; an event carries a document's metadata, a few kB


@bp.post("/autentique")
@public
@csrf.exempt
def autentique_event():
    body = request.stream.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        return jsonify(error="payload too large"), 413
    esign = current_app.extensions["esign"]
    try:
        event = esign.parse_webhook(body, dict(request.headers))
    except SignatureRejected as rejected:
        current_app.logger.warning("e-signature webhook refused: %s", rejected)
        return jsonify(error=str(rejected)), 400
    try:
        outcome = service.handle_signature_event(event, esign=esign, actor=Actor.system(f"webhook:{esign.name}"))
    except SignatureError as error:
        current_app.logger.warning("e-signature webhook %s: status check failed: %s", event.event_id, error)
        if error.retryable:
            return jsonify(error="provider unavailable, deliver again later"), 503
        return jsonify(received=True, outcome="error"), 200  # delivering it again cannot help
    return jsonify(received=True, outcome=outcome), 200
