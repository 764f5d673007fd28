"""Backoffice "Auditoria" (compliance): every cancellation with its reason and provider result, its CSV export and
chart, and the audit trail with the hash chain's integrity check. Read-only: the check changes nothing.
"""


from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup, escape

from portal.accounts.roles import StaffPermission
from portal.audit import service as audit_service
from portal.audit.service import CancellationFilters, TrailFilters
from portal.backoffice import bp
from portal.cancellations.models import REASON_LABELS, ReasonCategory
from portal.shared import clock
from portal.shared.audit import AUDIT_TAG_LABELS, AuditTag
from portal.shared.permissions import staff_requires

PER_PAGE = 50
MAX_PAGE = 100_000  # a huge ?pagina= would overflow the database's OFFSET
MAX_SEQ = 2**31 - 1


# ---------------------------------------------------------------- reading the filters

def parse_cancellation_filters() -> CancellationFilters:
    filters = CancellationFilters.reading(request.args, "de", "ate", "organizacao", "categoria", "usuario")
    filters.date_from, filters.date_to = filters.period("de", "ate")
    filters.category = filters.choice(
        "categoria", {c.value: c.value for c in ReasonCategory},
        _("Categoria desconhecida: “%(value)s”. Mostrando todas as categorias."), lower=False)
    filters.organization = filters.text("organizacao")
    filters.user = filters.text("usuario")
    return filters


def parse_trail_filters() -> TrailFilters:
    filters = TrailFilters.reading(request.args, "tag", "organizacao", "ator", "de", "ate", "ate_evento")
    filters.date_from, filters.date_to = filters.period("de", "ate")
    typed = filters.text("ate_evento")
    if typed:
        if typed.isdigit() and 0 < int(typed) <= MAX_SEQ:
            filters.up_to_seq = int(typed)
        else:
            filters.errors["ate_evento"] = _("“%(value)s” não é um número de evento. Este filtro foi ignorado.",
                                            value=typed[:40])
    filters.tag = filters.text("tag")[:80]
    filters.organization = filters.text("organizacao")
    filters.actor = filters.text("ator")
    return filters


def _page() -> int:
    return min(max(request.args.get("pagina", 1, type=int) or 1, 1), MAX_PAGE)


# ---------------------------------------------------------------- template helpers

def _tag_choices() -> list[tuple[str, str]]:
    """For the tag filter's suggestions: each area ("billing:") and subject ("billing:invoice:"), then every tag."""
    prefixes: list[str] = []
    for tag in AuditTag:
        area, subject, _action = tag.value.split(":")
        for prefix in (f"{area}:", f"{area}:{subject}:"):
            if prefix not in prefixes:
                prefixes.append(prefix)
    return [(p, _("todos os eventos em %(prefix)s", prefix=p)) for p in prefixes] + [
        (tag.value, str(AUDIT_TAG_LABELS.get(tag, tag.value))) for tag in AuditTag]


def subject_url(subject: str | None) -> str | None:
    """Where a subject can be seen in the backoffice ("cancellation:12" → its audit page), if anywhere."""
    kind, _sep, number = (subject or "").partition(":")
    if not number.isdigit() or int(number) > MAX_SEQ:
        return None
    targets = {"cancellation": ("backoffice.audit_cancellation", "request_id"),
               "order": ("backoffice.order", "order_id"),
               "organization": ("backoffice.organization", "organization_id")}
    if kind not in targets:
        return None
    endpoint, argument = targets[kind]
    return url_for(endpoint, **{argument: int(number)})


# ---------------------------------------------------------------- "Auditoria de cancelamentos"

@bp.get("/auditoria/cancelamentos")
@staff_requires(StaffPermission.AUDIT_READ)
def audit_cancellations():
    filters = parse_cancellation_filters()
    page = _page()
    result = audit_service.cancellations_page(filters, page=page, per_page=PER_PAGE, today=clock.today())
    return render_template(
        "backoffice/audit_cancellations.html", result=result, filters=filters, page=page,
        categories=[(c.value, REASON_LABELS[c]) for c in ReasonCategory],
    ), 422 if filters.errors else 200


@bp.get("/auditoria/cancelamentos.csv")
@staff_requires(StaffPermission.AUDIT_READ)
def audit_cancellations_csv():
    filters = parse_cancellation_filters()  # a value that cannot be read is ignored, as on the page
    body = audit_service.cancellations_csv(filters)
    filename = f"cancelamentos-{clock.today():%Y-%m-%d}.csv"
    return Response(body, mimetype="text/csv", headers={
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{filename}"',
    })


@bp.get("/auditoria/cancelamentos/<int:request_id>")
@staff_requires(StaffPermission.AUDIT_READ)
def audit_cancellation(request_id: int):
    detail = audit_service.cancellation_detail(request_id)
    if detail is None:
        abort(404)
    return render_template("backoffice/audit_cancellation.html", detail=detail, row=detail.row,
                           compact_json=audit_service.compact_json, subject_url=subject_url)


# ---------------------------------------------------------------- "Trilha de auditoria"

@bp.get("/auditoria/trilha")
@staff_requires(StaffPermission.AUDIT_READ)
def audit_trail():
    filters = parse_trail_filters()
    page = _page()
    result = audit_service.trail_page(filters, page=page, per_page=PER_PAGE)
    return render_template(
        "backoffice/audit_trail.html", result=result, filters=filters, page=page, tag_choices=_tag_choices(),
        subject_url=subject_url, highlight=filters.up_to_seq,
    ), 422 if filters.errors else 200


@bp.post("/auditoria/verificar")
@staff_requires(StaffPermission.AUDIT_READ)
def audit_verify():
    """Walk the whole chain (as `flask audit verify` does) and say what was found. Reads only; not audited."""
    status = audit_service.verify_chain()
    if status.ok:
        flash(_("Trilha de auditoria íntegra: %(n)d eventos verificados.", n=status.checked), "success")
    else:
        link = url_for("backoffice.audit_trail", ate_evento=status.broken_seq, _anchor=f"evento-{status.broken_seq}")
        # The translation is escaped, then filled in: the reason is escaped too, the link is kept as a link.
        message = escape(_("Trilha de auditoria quebrada no evento %(seq)s: %(reason)s "
                           "(%(n)d eventos verificados antes dele).")) % {
            "seq": Markup('<a href="{}" data-testid="broken-event">{}</a>').format(link, status.broken_seq),
            "reason": status.reason, "n": status.checked}
        flash(message, "danger")
    return redirect(url_for("backoffice.audit_trail"))
