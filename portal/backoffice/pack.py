"""Backoffice finance: the accountant's pack of the reseller's own books (every organization's invoices of a
month), downloaded from "Faturas"."""

from flask import Response, flash, redirect, request, stream_with_context, url_for

from portal.accounts.roles import StaffPermission
from portal.backoffice import bp
from portal.billing import pack
from portal.shared.errors import ServiceError
from portal.shared.permissions import staff_requires


@bp.get("/faturas/pacote")
@staff_requires(StaffPermission.BILLING_MANAGE)
def accountant_pack():
    """Every organization's pack of the month in ?mes= (a bad month or one without invoices: back with a
    message)."""
    try:
        found = pack.pack_or_error(pack.parse_month(request.args.get(pack.MONTH_FIELD)), None)
    except ServiceError as error:
        flash(error.message, "warning")
        return redirect(url_for("backoffice.invoices"))
    return Response(stream_with_context(pack.stream_zip(found)), mimetype=pack.ZIP,
                    headers={"Content-Disposition": f'attachment; filename="{found.filename}"',
                             "Cache-Control": "no-store"})
