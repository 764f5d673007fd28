"""What the customer pages and the staff pages of "Chamados" show alike: the labels and badges of a ticket, a
ticket's file as a download, and how big an upload request may be."""

from portal.shared import documents
from portal.support import service
from portal.support.models import TICKET_CATEGORY_LABELS, TICKET_PRIORITY_LABELS, TICKET_STATUS_LABELS, TicketStatus

STATUS_BADGES = {
    TicketStatus.OPEN: "text-bg-primary",
    TicketStatus.IN_PROGRESS: "text-bg-info",
    TicketStatus.WAITING_CUSTOMER: "text-bg-warning",
    TicketStatus.RESOLVED: "text-bg-success",
    TicketStatus.CLOSED: "text-bg-secondary",
}
LABELS = {"status": TICKET_STATUS_LABELS, "priority": TICKET_PRIORITY_LABELS, "category": TICKET_CATEGORY_LABELS,
          "badges": STATUS_BADGES}


def upload_request_limit(max_bytes: int) -> int:
    """Bytes a whole upload request may carry: every file a message may have at its limit, one more (so a sixth
    file is told apart from an attack), and the text fields. A bigger request is refused unread (413)."""
    return (service.FILES_PER_MESSAGE + 1) * (max_bytes + 1) + 1024 * 1024


def download(attachment):
    """A ticket's file, streamed, always as a download with its stored type: never shown inline by the browser."""
    return documents.send(attachment.sha256, attachment.filename, content_type=attachment.content_type,
                          headers={"Content-Security-Policy": "default-src 'none'; sandbox"})
