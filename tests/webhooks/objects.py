"""Webhook rows for tests: an endpoint of an organization (written as the service would, secret included) and a
delivery of an event to it."""

from portal.extensions import db
from portal.shared import clock
from portal.webhooks import outbox, service
from portal.webhooks.models import EVENT_TYPES, DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookEvent

NOWHERE = "http://127.0.0.1:9/webhooks"  # the discard port: nothing listens, the connection is refused at once


def endpoint(organization, *, url: str = NOWHERE, events=None, enabled: bool = True) -> WebhookEndpoint:
    row = WebhookEndpoint(organization_id=organization.id, url=url, description="ERP",
                          events=list(events or EVENT_TYPES), secret=service.new_secret(), enabled=enabled,
                          disabled_reason=None if enabled else "master", created_at=clock.now())
    db.session.add(row)
    db.session.flush()
    return row


def delivery(endpoint_row: WebhookEndpoint, *, status: str = DeliveryStatus.SUCCEEDED,
             event_type: str = "invoice.paid") -> WebhookDelivery:
    event = WebhookEvent(organization_id=endpoint_row.organization_id, type=event_type,
                         message_id=outbox.new_message_id(), payload=outbox.payload(event_type, {"invoice": {"id": 1}}),
                         created_at=clock.now(), fanned_out_at=clock.now())
    db.session.add(event)
    db.session.flush()
    row = WebhookDelivery(event_id=event.id, endpoint_id=endpoint_row.id, status=status, attempts=1,
                          created_at=clock.now())
    db.session.add(row)
    db.session.flush()
    return row
