"""Backoffice "Auditoria" (compliance): every cancellation with its reason and provider result, its CSV export and
chart, and the audit trail with the hash chain's integrity check. Read-only: the check changes nothing.
"""

import functools
from collections.abc import Callable

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from markupsafe import Markup, escape

from portal.accounts.context import current_actor
from portal.accounts.roles import StaffPermission
from portal.audit import checkpoints
from portal.audit import service as audit_service
from portal.audit.service import CancellationFilters, TrailFilters
from portal.backoffice import bp
from portal.cancellations.models import REASON_LABELS, ReasonCategory
from portal.shared import clock
from portal.shared.audit import AUDIT_TAG_LABELS, AuditTag
from portal.shared.audit_subjects import actor_label, subject_label
from portal.shared.formatting import format_datetime
from portal.shared.paging import requested_page
from portal.shared.permissions import staff_requires
from portal.shared.urls import url_pattern

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
    return requested_page(MAX_PAGE)


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


@functools.lru_cache(maxsize=8)
def _tag_options(locale: str) -> Markup:
    """The tag filter's <option>s in `locale` (the current one: the argument only keys the cache), built once per
    language: 200-odd translated suggestions that never change while the process runs."""
    return Markup("").join(Markup('<option value="{}">{}</option>').format(value, label)
                           for value, label in _tag_choices())


@functools.lru_cache(maxsize=8)
def _tag_labels(locale: str) -> dict[str, str]:
    """Each tag's words in `locale` (the argument only keys the cache), translated once per language, not per row."""
    return {tag: str(label) for tag, label in AUDIT_TAG_LABELS.items()}


_SUBJECT_TARGETS = {"cancellation": ("backoffice.audit_cancellation", "request_id"),
                    "order": ("backoffice.order", "order_id"),
                    "organization": ("backoffice.organization", "organization_id")}


def subject_url(subject: str | None) -> str | None:
    """Where a subject can be seen in the backoffice ("cancellation:12" → its audit page), if anywhere."""
    kind, _sep, number = (subject or "").partition(":")
    if not number.isdigit() or int(number) > MAX_SEQ or kind not in _SUBJECT_TARGETS:
        return None
    endpoint, argument = _SUBJECT_TARGETS[kind]
    return url_for(endpoint, **{argument: int(number)})


def subject_urls() -> Callable[[str | None], str | None]:
    """`subject_url` for a page of many events: each kind's URL built once (`url_pattern`), then filled per row."""
    patterns: dict[str, Callable[[int], str]] = {}

    def url(subject: str | None) -> str | None:
        kind, _sep, number = (subject or "").partition(":")
        if not number.isdigit() or int(number) > MAX_SEQ or kind not in _SUBJECT_TARGETS:
            return None
        pattern = patterns.get(kind)
        if pattern is None:
            pattern = patterns[kind] = url_pattern(*_SUBJECT_TARGETS[kind])
        return pattern(int(number))

    return url


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
    language = str(get_locale())
    return render_template(
        "backoffice/audit_trail.html", result=result, filters=filters, page=page,
        tag_options=_tag_options(language), rows=_trail_cells(result.rows, _tag_labels(language)),
        highlight=filters.up_to_seq,
    ), 422 if filters.errors else 200


def _trail_cells(rows: list[audit_service.TrailRow], tag_labels: dict[str, str]) -> list[tuple]:
    """Each row with the words and link its cells show (when, the tag's label, who, the subject's link and label),
    computed here in one pass rather than by five template calls per row."""
    url = subject_urls()
    cells = []
    for row in rows:
        link = url(row.subject)
        cells.append((row, format_datetime(row.created_at), tag_labels.get(row.tag, row.tag),
                      actor_label(row.actor_label), link, subject_label(row.subject)))
    return cells


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


@bp.post("/auditoria/checkpoint")
@staff_requires(StaffPermission.AUDIT_READ)
def audit_checkpoint():
    """Sign the chain's head now (as the daily job and `flask audit checkpoint` do): stored and e-mailed."""
    checkpoint = checkpoints.make_checkpoint(actor=current_actor())
    flash(_("Ponto de controle assinado publicado no evento %(seq)d e enviado por e-mail à equipe de compliance.",
            seq=checkpoint.seq), "success")
    return redirect(url_for("backoffice.audit_trail"))
