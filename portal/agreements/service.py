"""Customer agreements: published versions, each organization's status, acceptance, attestation, the purchase gate.

- A version is never edited: a new one (same kind, a later effective date) supersedes it. The *current*
  version of a kind is the latest whose effective date is on or before today (business date).
- An organization has "Fornecido" for a kind when the current version has an acceptance (a Master in the
  portal) or an attestation (staff comercial, on the customer's behalf); else "Não fornecido".
- The gate: while any kind with a current version lacks it, purchases and quantity increases are refused
  (`ensure_agreement_accepted`); licenses already held, decreases and cancellations are not affected.
  Nothing published → no gate.
- Microsoft Customer Agreement acceptances and attestations are also confirmed at Partner Center
  (`send_to_provider`, run by a job with retries); an attestation e-mails the customer's primary contact
  (`notify_attestation`, run by a job, and by a sweep if the job was lost), within 30 minutes.

Attestation dates: never after today (business date), and never before the attested version's effective
date: a customer cannot have accepted a text before it existed; an older acceptance is attested against the
version that was current then.
"""

import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from urllib.parse import urlsplit

from blinker import Namespace
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, Date, Exists, Integer, and_, bindparam, exists, false, not_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased, selectinload

from portal import jobs
from portal.accounts.models import Membership, MembershipRole, Organization, User
from portal.accounts.roles import Permission, Role, StaffPermission, permissions_for, staff_permissions_for
from portal.agreements.models import (
    AGREEMENT_KIND_LABELS,
    AcceptanceMethod,
    AgreementAcceptance,
    AgreementKind,
    AgreementVersion,
)
from portal.extensions import db
from portal.integrations.provisioning import AgreementAttestation, AgreementTemplate, LicenseProvisioner, Outcome
from portal.notifications.service import queue_email
from portal.shared import clock, documents
from portal.shared.audit import Actor, AuditTag, record
from portal.shared.errors import NotFound, PermissionDenied, ServiceError
from portal.shared.formatting import format_date

CONTRACT_PATH = "/contrato"  # where a Master reads and accepts (the customer view is registered on it)
KIND_ORDER = (AgreementKind.MICROSOFT, AgreementKind.RESELLER)
PDF = "application/pdf"
MAX_PDF_BYTES = 10 * 1024 * 1024
MAX_TITLE, MAX_BODY, MAX_LINK, MAX_NAME, MAX_EMAIL, MAX_PHONE = 200, 100_000, 300, 100, 254, 30
# A job that should have run by now but did not (lost message, consumer down): the sweep does its work.
SWEEP_GRACE = timedelta(minutes=10)
DUPLICATE_AT_PROVIDER = "600061"  # Partner Center: the same contact was already confirmed (done)
_PHONE = re.compile(r"^\+?[0-9()\-. ]{8,30}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


_signals = Namespace()
# Sent in the transaction that records acceptances or attestations, before it commits; the sender is the
# Organization. Other rooms react to it without this room importing them: the subscriptions room sends the
# orders it held for the agreement (the approval of a new customer's onboarding).
agreements_recorded = _signals.signal("agreements-recorded")


class ProviderStatus(StrEnum):
    NOT_NEEDED = "not_needed"  # not the Microsoft Customer Agreement: nothing to send
    PENDING = "pending"  # to be confirmed at Partner Center (a job is on it)
    DONE = "done"  # Partner Center has it (201, or 600061: it had it already)
    FAILED = "failed"  # refused for good, or out of retries: `provider_error` says why; staff may resend


PROVIDER_STATUS_LABELS = {
    ProviderStatus.NOT_NEEDED: _l("não se aplica"),
    ProviderStatus.PENDING: _l("enviando à Microsoft"),
    ProviderStatus.DONE: _l("registrado na Microsoft"),
    ProviderStatus.FAILED: _l("falhou na Microsoft"),
}
METHOD_LABELS = {
    AcceptanceMethod.ACCEPTED: _l("aceito no portal"),
    AcceptanceMethod.ATTESTED: _l("atestado pela equipe"),
}


# ---------------------------------------------------------------- versions

def kind_label(kind: str) -> str:
    return str(AGREEMENT_KIND_LABELS[AgreementKind(kind)])


def current_version(kind: str, today: date) -> AgreementVersion | None:
    return db.session.scalar(
        select(AgreementVersion).where(AgreementVersion.kind == kind, AgreementVersion.effective_from <= today)
        .order_by(AgreementVersion.effective_from.desc(), AgreementVersion.id.desc()).limit(1)
    )


def current_versions(today: date) -> dict[str, AgreementVersion]:
    """Kind → its current version, for the kinds that have one (in KIND_ORDER)."""
    found = {}
    for kind in KIND_ORDER:
        version = current_version(kind, today)
        if version is not None:
            found[str(kind)] = version
    return found


def list_versions() -> list[AgreementVersion]:
    """Every version ever published, per kind, newest effective date first."""
    return list(db.session.scalars(
        select(AgreementVersion).order_by(AgreementVersion.kind, AgreementVersion.effective_from.desc())))


def get_version(version_id: int, *, effective_on: date | None = None) -> AgreementVersion:
    """A version by id; with `effective_on`, only one already in force that day (customers see no future text)."""
    version = db.session.get(AgreementVersion, version_id)
    if version is None or (effective_on is not None and version.effective_from > effective_on):
        raise NotFound(_("Contrato não encontrado."))
    return version


def version_pdf(version: AgreementVersion) -> tuple[str, str]:
    """The version's stored PDF (its hash, for `documents.send`) and a file name for the download; NotFound when it
    has none."""
    if not version.pdf_sha256:
        raise NotFound(_("Esta versão do contrato não tem PDF."))
    stem = "contrato-microsoft" if version.kind == AgreementKind.MICROSOFT else "termos-de-servico"
    return version.pdf_sha256, f"{stem}-{version.effective_from.isoformat()}.pdf"


def _clean_link(link: str | None) -> str | None:
    link = (link or "").strip()
    if not link:
        return None
    parts = urlsplit(link)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(link) > MAX_LINK or not link.isprintable():
        raise ServiceError(_("Informe um endereço que comece com https:// (até %(max)d caracteres).", max=MAX_LINK),
                           field="link")
    return link


def _clean_template_id(template_id: str | None) -> str | None:
    value = (template_id or "").strip().lower()
    if not value:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError as exc:
        raise ServiceError(_("O templateId da Microsoft é um GUID (8-4-4-4-12 caracteres hexadecimais)."),
                           field="provider_template_id") from exc


def check_pdf(content: bytes | None) -> bytes | None:
    """The bytes when they are a PDF of at most 10 MB; None for no file; a ServiceError on the `pdf` field."""
    if not content:
        return None
    if len(content) > MAX_PDF_BYTES:
        raise ServiceError(_("O PDF passa de %(mb)d MB.", mb=MAX_PDF_BYTES // (1024 * 1024)), field="pdf")
    if not content.startswith(b"%PDF-"):
        raise ServiceError(_("Este arquivo não é um PDF."), field="pdf")
    return content


def _require_staff(actor: Actor, permission: StaffPermission) -> None:
    user = actor.user
    if user is None or not user.is_staff or permission not in staff_permissions_for(user.staff_roles):
        raise PermissionDenied(_("Apenas a equipe autorizada pode fazer isso."))


def publish_version(*, kind: str, title: str, body: str, effective_from: date | None, actor: Actor,
                    link: str | None = None, provider_template_id: str | None = None,
                    pdf: bytes | None = None) -> AgreementVersion:
    """Staff admin publishes a new version (never an edit: a later effective date supersedes); commits."""
    _require_staff(actor, StaffPermission.AGREEMENTS_PUBLISH)
    if kind not in {str(k) for k in AgreementKind}:
        raise ServiceError(_("Escolha o tipo de contrato."), field="kind")
    title, body = (title or "").strip(), (body or "").strip()
    if not title:
        raise ServiceError(_("Preencha este campo."), field="title")
    if len(title) > MAX_TITLE:
        raise ServiceError(_("Use no máximo %(max)d caracteres.", max=MAX_TITLE), field="title")
    if len(body) > MAX_BODY:
        raise ServiceError(_("Use no máximo %(max)d caracteres.", max=MAX_BODY), field="body")
    pdf = check_pdf(pdf)
    if not body and pdf is None:
        raise ServiceError(_("Escreva o texto do contrato ou envie o PDF."), field="body")
    link = _clean_link(link)
    template_id = _clean_template_id(provider_template_id) if kind == AgreementKind.MICROSOFT else None
    today = clock.today()
    if effective_from is None:
        raise ServiceError(_("Informe a data de início da vigência."), field="effective_from")
    if effective_from < today:
        raise ServiceError(_("A vigência começa hoje ou depois (%(today)s): uma versão nunca é retroativa.",
                             today=format_date(today)), field="effective_from")
    taken = _("Já existe uma versão deste contrato com vigência a partir de %(day)s. Escolha outra data.",
              day=format_date(effective_from))
    if db.session.scalar(select(AgreementVersion.id).where(AgreementVersion.kind == kind,
                                                           AgreementVersion.effective_from == effective_from)):
        raise ServiceError(taken, field="effective_from")
    sha256 = None
    if pdf is not None:
        sha256 = documents.store_sent(pdf, PDF, field="pdf")
    version = AgreementVersion(kind=kind, title=title, body=body, pdf_sha256=sha256, link=link,
                               effective_from=effective_from, provider_template_id=template_id,
                               published_by_id=actor.user_id, published_at=clock.now())
    db.session.add(version)
    try:
        db.session.flush()
    except IntegrityError as exc:  # the same kind and day published at the same moment by someone else
        db.session.rollback()
        raise ServiceError(taken, field="effective_from") from exc
    record(AuditTag.AGREEMENT_PUBLISHED, actor=actor, subject=f"agreement_version:{version.id}",
           after={"kind": kind, "title": title, "effective_from": effective_from.isoformat(), "link": link,
                  "pdf_sha256": sha256, "provider_template_id": template_id, "body_chars": len(body)})
    db.session.commit()
    return version


def fetch_provider_template(provisioner: LicenseProvisioner) -> AgreementTemplate:
    """The Microsoft Customer Agreement's templateId (and link) as Partner Center gives it now."""
    result = provisioner.agreement_template()
    if result.outcome is not Outcome.DONE or result.template is None:
        message = result.error.message if result.error is not None else ""
        raise ServiceError(_("A Microsoft não informou o modelo do contrato (%(error)s). Tente de novo em instantes "
                             "ou digite o templateId.", error=message), field="provider_template_id")
    return result.template


# ---------------------------------------------------------------- an organization's status

@dataclass(frozen=True)
class KindStatus:
    kind: str
    version: AgreementVersion | None  # the current version; None: nothing of this kind in force
    acceptance: AgreementAcceptance | None  # the latest acceptance of the current version
    last_acceptance: AgreementAcceptance | None  # the latest acceptance of any version of this kind

    @property
    def label(self) -> str:
        return kind_label(self.kind)

    @property
    def provided(self) -> bool:
        """"Fornecido": the current version was accepted or attested."""
        return self.acceptance is not None

    @property
    def pending(self) -> bool:
        """A current version exists and was not accepted: purchases wait for it."""
        return self.version is not None and self.acceptance is None


def _statuses(organization_ids: list[int], today: date) -> dict[int, list[KindStatus]]:
    current = current_versions(today)
    latest: dict[tuple[int, int], AgreementAcceptance] = {}
    last_of_kind: dict[tuple[int, str], AgreementAcceptance] = {}
    if organization_ids:
        rows = db.session.scalars(
            select(AgreementAcceptance).where(AgreementAcceptance.organization_id.in_(organization_ids))
            .options(selectinload(AgreementAcceptance.version)).order_by(AgreementAcceptance.id.desc())
        )
        for acceptance in rows:
            latest.setdefault((acceptance.organization_id, acceptance.version_id), acceptance)
            last_of_kind.setdefault((acceptance.organization_id, acceptance.version.kind), acceptance)
    result = {}
    for organization_id in organization_ids:
        statuses = []
        for kind in KIND_ORDER:
            version = current.get(str(kind))
            statuses.append(KindStatus(
                kind=str(kind), version=version,
                acceptance=latest.get((organization_id, version.id)) if version is not None else None,
                last_acceptance=last_of_kind.get((organization_id, str(kind))),
            ))
        result[organization_id] = statuses
    return result


def organization_status(organization: Organization, today: date) -> list[KindStatus]:
    """Each kind (MCA first) with its current version and whether the organization accepted it."""
    return _statuses([organization.id], today)[organization.id]


def pending_versions(organization: Organization, today: date) -> list[AgreementVersion]:
    """The current versions the organization has not accepted yet (what blocks purchases)."""
    return [s.version for s in organization_status(organization, today) if s.pending]


def acceptance_history(organization: Organization) -> list[AgreementAcceptance]:
    """Every acceptance and attestation of the organization, newest first, with who recorded it."""
    return list(db.session.scalars(
        select(AgreementAcceptance).where(AgreementAcceptance.organization_id == organization.id)
        .options(selectinload(AgreementAcceptance.version)).order_by(AgreementAcceptance.id.desc())
    ))


def active_masters(organization: Organization) -> list[User]:
    """The organization's active Masters, the oldest seat first (the first is the primary contact)."""
    return list(db.session.scalars(
        select(User).join(Membership, Membership.user_id == User.id)
        .join(MembershipRole, MembershipRole.membership_id == Membership.id)
        .where(Membership.organization_id == organization.id, Membership.active.is_(True),
               Membership.accepted_at.is_not(None), User.active.is_(True), MembershipRole.role == Role.MASTER)
        .order_by(Membership.id)
    ))


def primary_contact(organization: Organization) -> User | None:
    masters = active_masters(organization)
    return masters[0] if masters else None


def _titles(versions: list[AgreementVersion]) -> str:
    return ", ".join(f"“{v.title}”" for v in versions)


def pending_agreement(organization_id: ColumnElement) -> Exists:
    """EXISTS a current agreement version the organization `organization_id` (a bound parameter, or a membership's
    column: the navigation asks on every page a Master opens) has not accepted, on bound parameter `today`."""
    version, newer = AgreementVersion, aliased(AgreementVersion)
    today = bindparam("today", type_=Date)
    return exists(select(version.id).where(
        version.effective_from <= today,
        ~exists().where(newer.kind == version.kind, newer.effective_from <= today,
                        newer.effective_from > version.effective_from),
        # Correlated to every enclosing statement, however deep, not only the one just around it.
        ~exists(select(AgreementAcceptance.id).where(AgreementAcceptance.version_id == version.id,
                                                     AgreementAcceptance.organization_id == organization_id)
                .correlate_except(AgreementAcceptance)),
    ))


# Built once (bound parameters `organization_id`, `today`): building it costs several times what running it does.
PENDING_AGREEMENT = pending_agreement(bindparam("organization_id", type_=Integer))
_HAS_PENDING_AGREEMENT = select(PENDING_AGREEMENT)


def has_pending_agreement(organization: Organization, today: date) -> bool:
    """`bool(pending_versions(...))` in one query."""
    return bool(db.session.scalar(_HAS_PENDING_AGREEMENT, {"organization_id": organization.id, "today": today}))


def ensure_agreement_accepted(organization: Organization, actor: Actor | None = None) -> None:
    """Refuse a purchase or an increase while a current agreement is neither accepted nor attested.

    The message tells a Master how to accept; anyone else, who can (the Masters by name).
    """
    missing = pending_versions(organization, clock.today())
    if not missing:
        return
    user = actor.user if actor is not None else None
    if user is not None and any(m.id == user.id for m in active_masters(organization)):
        raise ServiceError(_(
            "Para comprar ou aumentar licenças, aceite antes %(titles)s. Abra “Contrato” no menu (%(path)s), "
            "leia e marque “Li e aceito”. As licenças que vocês já têm continuam funcionando.",
            titles=_titles(missing), path=CONTRACT_PATH))
    names = ", ".join(m.name for m in active_masters(organization)) or _("um Master da organização")
    raise ServiceError(_(
        "Compras e aumentos de licenças estão bloqueados até que um Master da organização aceite %(titles)s. "
        "Quem pode aceitar: %(names)s. As licenças que vocês já têm continuam funcionando.",
        titles=_titles(missing), names=names))


# ---------------------------------------------------------------- accepting and attesting

def split_name(full_name: str) -> tuple[str, str]:
    """"Marina Master da Silva" → ("Marina", "Master da Silva"); Partner Center wants both parts."""
    parts = (full_name or "").split()
    if len(parts) < 2:
        raise ServiceError(_("Para aceitar, seu nome completo (nome e sobrenome) precisa estar em “Minha conta”."))
    return parts[0][:MAX_NAME], " ".join(parts[1:])[:MAX_NAME]


def clean_phone(phone: str | None) -> str:
    value = " ".join((phone or "").split())
    if value and not _PHONE.match(value):
        raise ServiceError(_("Informe o telefone com DDD, só com números, espaços, parênteses, + e -."),
                           field="phone")
    return value


def _lock_organization(organization: Organization) -> None:
    """One acceptance at a time per organization (two Masters, or a double click, record it once)."""
    db.session.execute(select(Organization.id).where(Organization.id == organization.id).with_for_update())


def _provider_status_for(version: AgreementVersion) -> ProviderStatus:
    return ProviderStatus.PENDING if version.kind == AgreementKind.MICROSOFT else ProviderStatus.NOT_NEEDED


def _acceptance_facts(acceptance: AgreementAcceptance, version: AgreementVersion) -> dict:
    return {"version_id": version.id, "kind": version.kind, "title": version.title,
            "effective_from": version.effective_from.isoformat(), "method": acceptance.method,
            "first_name": acceptance.first_name, "last_name": acceptance.last_name, "email": acceptance.email,
            "phone": acceptance.phone, "accepted_on": acceptance.accepted_on.isoformat(),
            "provider_status": acceptance.provider_status}


def _queue_provider(acceptance: AgreementAcceptance) -> None:
    if acceptance.provider_status == ProviderStatus.PENDING:

        jobs.enqueue("agreements.send_agreement_to_provider", acceptance.id)


def accept(*, organization: Organization, membership: Membership, version_ids: list[int], phone: str | None,
           actor: Actor) -> list[AgreementAcceptance]:
    """A Master accepts the current versions named in `version_ids`; commits.

    Versions the organization already accepted (another Master, a second click, staff) are skipped: the
    result lists only the acceptances recorded now, possibly none.
    """
    user = actor.user
    if (user is None or membership.organization_id != organization.id or membership.user_id != user.id
            or not membership.is_usable or Permission.AGREEMENT_ACCEPT not in permissions_for(membership.roles)):
        raise PermissionDenied(_("Só um Master da organização aceita o contrato."))
    chosen = {int(v) for v in version_ids}
    if not chosen:
        raise ServiceError(_("Marque “Li e aceito” no contrato que você aceita."), field="versions")
    phone = clean_phone(phone)
    first_name, last_name = split_name(user.name)
    _lock_organization(organization)
    today, now = clock.today(), clock.now()
    statuses = organization_status(organization, today)
    current_ids = {s.version.id for s in statuses if s.version is not None}
    if chosen - current_ids:
        raise ServiceError(_("Este contrato não é mais a versão vigente. Recarregue a página e leia a versão atual."),
                           field="versions")
    created = []
    for status in statuses:
        if status.version is None or status.version.id not in chosen or status.provided:
            continue
        version = status.version
        acceptance = AgreementAcceptance(
            organization_id=organization.id, version_id=version.id, method=AcceptanceMethod.ACCEPTED,
            first_name=first_name, last_name=last_name, email=user.email, phone=phone, accepted_on=today,
            accepted_at=now, ip=actor.ip, recorded_by_id=user.id, provider_status=_provider_status_for(version),
        )
        db.session.add(acceptance)
        db.session.flush()
        record(AuditTag.AGREEMENT_ACCEPTED, actor=actor, organization_id=organization.id,
               subject=f"agreement_acceptance:{acceptance.id}", after={**_acceptance_facts(acceptance, version),
                                                                       "ip": actor.ip})
        _queue_provider(acceptance)
        created.append(acceptance)
    if created:
        agreements_recorded.send(organization)
    db.session.commit()
    return created


def attestable_versions(today: date) -> list[AgreementVersion]:
    """Versions staff may attest: every one already in force (the current ones first)."""
    current = current_versions(today)
    rest = [v for v in list_versions() if v.effective_from <= today and v not in current.values()]
    return list(current.values()) + rest


def attest(*, organization: Organization, version_id: int | None, first_name: str, last_name: str, email: str,
           phone: str | None, accepted_on: date | None, actor: Actor) -> AgreementAcceptance:
    """Staff comercial attests that the customer accepted `version_id` on `accepted_on`; commits.

    The same attestation again (same version, contact and date) returns the first one unchanged.
    """
    _require_staff(actor, StaffPermission.AGREEMENTS_ATTEST)
    today = clock.today()
    version = db.session.get(AgreementVersion, version_id) if version_id else None
    if version is None:
        raise ServiceError(_("Escolha a versão do contrato."), field="version_id")
    if version.effective_from > today:
        raise ServiceError(_("Esta versão só entra em vigor em %(day)s: ainda não pode ter sido aceita.",
                             day=format_date(version.effective_from)), field="version_id")
    fields = {"first_name": (first_name or "").strip(), "last_name": (last_name or "").strip()}
    for name, value in fields.items():
        if not value:
            raise ServiceError(_("Preencha este campo."), field=name)
        if len(value) > MAX_NAME:
            raise ServiceError(_("Use no máximo %(max)d caracteres.", max=MAX_NAME), field=name)
    email = (email or "").strip().lower()
    if not _EMAIL.match(email) or len(email) > MAX_EMAIL:
        raise ServiceError(_("Informe um e-mail válido."), field="email")
    phone = clean_phone(phone)
    if accepted_on is None:
        raise ServiceError(_("Informe a data do aceite."), field="accepted_on")
    if accepted_on > today:
        raise ServiceError(_("A data do aceite não pode estar no futuro: use hoje (%(today)s) ou uma data anterior.",
                             today=format_date(today)), field="accepted_on")
    if accepted_on < version.effective_from:
        raise ServiceError(_(
            "A data do aceite não pode ser anterior ao início da vigência desta versão (%(day)s). Se o cliente "
            "aceitou antes, escolha a versão que estava em vigor naquela data.",
            day=format_date(version.effective_from)), field="accepted_on")
    _lock_organization(organization)
    same = db.session.scalar(
        select(AgreementAcceptance).where(
            AgreementAcceptance.organization_id == organization.id, AgreementAcceptance.version_id == version.id,
            AgreementAcceptance.method == AcceptanceMethod.ATTESTED, AgreementAcceptance.email == email,
            AgreementAcceptance.first_name == fields["first_name"],
            AgreementAcceptance.last_name == fields["last_name"], AgreementAcceptance.phone == phone,
            AgreementAcceptance.accepted_on == accepted_on)
        .order_by(AgreementAcceptance.id).limit(1)
    )
    if same is not None:
        db.session.rollback()
        return same
    acceptance = AgreementAcceptance(
        organization_id=organization.id, version_id=version.id, method=AcceptanceMethod.ATTESTED,
        first_name=fields["first_name"], last_name=fields["last_name"], email=email, phone=phone,
        accepted_on=accepted_on, accepted_at=clock.now(), ip=actor.ip, recorded_by_id=actor.user_id,
        provider_status=_provider_status_for(version),
    )
    db.session.add(acceptance)
    db.session.flush()
    record(AuditTag.AGREEMENT_ATTESTED, actor=actor, organization_id=organization.id,
           subject=f"agreement_acceptance:{acceptance.id}", after=_acceptance_facts(acceptance, version))

    jobs.enqueue("agreements.notify_attestation_contact", acceptance.id)
    _queue_provider(acceptance)
    agreements_recorded.send(organization)
    db.session.commit()
    return acceptance


def get_acceptance(acceptance_id: int) -> AgreementAcceptance:
    acceptance = db.session.get(AgreementAcceptance, acceptance_id)
    if acceptance is None:
        raise NotFound(_("Aceite não encontrado."))
    return acceptance


def fresh_acceptance(acceptance_id: int) -> AgreementAcceptance:
    """The acceptance as the database has it now (after a job that ran inline or elsewhere changed it)."""
    db.session.expire_all()
    return get_acceptance(acceptance_id)


def resend_to_provider(acceptance: AgreementAcceptance, *, actor: Actor) -> None:
    """Staff sends a failed (or stuck) MCA acceptance to Partner Center again, e.g. once the tenant is set."""
    _require_staff(actor, StaffPermission.AGREEMENTS_ATTEST)
    db.session.refresh(acceptance, with_for_update=True)
    if acceptance.version.kind != AgreementKind.MICROSOFT:
        raise ServiceError(_("Só o Contrato de Cliente Microsoft é enviado à Microsoft."))
    if acceptance.provider_status == ProviderStatus.DONE:
        raise ServiceError(_("Este aceite já está registrado na Microsoft."))
    before = {"provider_status": acceptance.provider_status, "provider_error": acceptance.provider_error}
    acceptance.provider_status = ProviderStatus.PENDING
    acceptance.provider_error = None
    record(AuditTag.AGREEMENT_SENT_TO_PROVIDER, actor=actor, organization_id=acceptance.organization_id,
           subject=f"agreement_acceptance:{acceptance.id}", before=before,
           after={"provider_status": ProviderStatus.PENDING, "resent_by_staff": True})
    _queue_provider(acceptance)
    db.session.commit()


# ---------------------------------------------------------------- Partner Center (the job's work)

def correlation_id(acceptance: AgreementAcceptance) -> str:
    """The same MS-CorrelationId on every try of one acceptance."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"portal:agreement-acceptance:{acceptance.id}"))


def _provider_outcome(acceptance: AgreementAcceptance, status: ProviderStatus, error: str | None,
                      after: dict) -> str:
    acceptance.provider_status = status
    acceptance.provider_error = error
    record(AuditTag.AGREEMENT_SENT_TO_PROVIDER, actor=Actor.system("agreements"),
           organization_id=acceptance.organization_id, subject=f"agreement_acceptance:{acceptance.id}",
           after={"provider_status": status, "provider_error": error, **after})
    db.session.commit()
    return str(status)


def send_to_provider(acceptance_id: int, *, provisioner: LicenseProvisioner, final_attempt: bool) -> str:
    """Confirm a pending MCA acceptance at Partner Center. Returns "done", "failed", "retry" (a retryable
    refusal before the last try: the error is kept and the status stays pending) or "skipped"."""
    acceptance = db.session.scalar(
        select(AgreementAcceptance).where(AgreementAcceptance.id == acceptance_id).with_for_update())
    if acceptance is None or acceptance.provider_status != ProviderStatus.PENDING:
        db.session.rollback()
        return "skipped"
    organization = db.session.get(Organization, acceptance.organization_id)
    if not organization.microsoft_tenant_id:
        return _provider_outcome(acceptance, ProviderStatus.FAILED, _(
            "A organização não tem tenant Microsoft cadastrado: cadastre o tenant na página da organização e "
            "reenvie o aceite."), {})
    template_id = acceptance.version.provider_template_id
    error = None
    if not template_id:
        template = provisioner.agreement_template()
        if template.outcome is Outcome.DONE and template.template is not None:
            template_id = template.template.template_id
        else:
            error = template.error
    result = None
    if template_id:
        result = provisioner.attest_agreement(AgreementAttestation(
            customer_id=organization.microsoft_tenant_id, template_id=template_id,
            first_name=acceptance.first_name, last_name=acceptance.last_name, email=acceptance.email,
            phone=acceptance.phone, date_agreed=acceptance.accepted_on, correlation_id=correlation_id(acceptance),
        ))
        error = result.error
        if result.outcome is Outcome.DONE or (error is not None and error.code == DUPLICATE_AT_PROVIDER):
            already_there = error is not None or str(result.raw.get("code", "")) == DUPLICATE_AT_PROVIDER
            return _provider_outcome(acceptance, ProviderStatus.DONE, None, {
                "template_id": template_id, "tenant_id": organization.microsoft_tenant_id,
                "provider_request_id": result.provider_request_id, "already_there": already_there})
    message = f"{error.code}: {error.message}" if error is not None else _("A Microsoft não respondeu.")
    if error is not None and error.retryable and not final_attempt:
        acceptance.provider_error = message  # still pending: the next try may get through
        db.session.commit()
        return "retry"
    return _provider_outcome(acceptance, ProviderStatus.FAILED, message, {"template_id": template_id})


# ---------------------------------------------------------------- the customer's primary contact

def _language(user: User | None) -> str:
    return (user.language if user is not None and user.language else None) or current_app.config[
        "BABEL_DEFAULT_LOCALE"]


def notify_attestation(acceptance_id: int) -> bool:
    """E-mail the customer's primary contact (first active Master; else the attested e-mail) about an
    attestation, once. Returns whether a message was queued now."""

    acceptance = db.session.scalar(
        select(AgreementAcceptance).where(AgreementAcceptance.id == acceptance_id).with_for_update())
    if (acceptance is None or acceptance.method != AcceptanceMethod.ATTESTED
            or acceptance.contact_notified_at is not None):
        db.session.rollback()
        return False
    organization = db.session.get(Organization, acceptance.organization_id)
    contact = primary_contact(organization)
    version = acceptance.version
    base_url = current_app.config["BASE_URL"].rstrip("/")
    queue_email(
        "agreement_attested",
        to=[contact.email if contact is not None else acceptance.email],
        subject_fn=lambda: _("Registramos o aceite do contrato de %(org)s", org=organization.display_name),
        context={"acceptance": acceptance, "version": version, "organization": organization, "contact": contact,
                 "kind_label": AGREEMENT_KIND_LABELS[AgreementKind(version.kind)],
                 "url": base_url + CONTRACT_PATH},
        language=_language(contact),
        organization_id=organization.id,
    )
    acceptance.contact_notified_at = clock.now()
    db.session.commit()
    return True


def overdue_notices(now: datetime) -> list[int]:
    """Attestations whose contact was not e-mailed within SWEEP_GRACE (the job was lost or failed)."""
    return list(db.session.scalars(
        select(AgreementAcceptance.id).where(
            AgreementAcceptance.method == AcceptanceMethod.ATTESTED,
            AgreementAcceptance.contact_notified_at.is_(None),
            AgreementAcceptance.accepted_at <= now - SWEEP_GRACE)
        .order_by(AgreementAcceptance.id)
    ))


def stalled_provider_sends(now: datetime) -> list[int]:
    """MCA acceptances still pending and never tried (no error yet) after SWEEP_GRACE: the job was lost."""
    return list(db.session.scalars(
        select(AgreementAcceptance.id).where(
            AgreementAcceptance.provider_status == ProviderStatus.PENDING,
            AgreementAcceptance.provider_error.is_(None),
            AgreementAcceptance.accepted_at <= now - SWEEP_GRACE)
        .order_by(AgreementAcceptance.id)
    ))


# ---------------------------------------------------------------- the staff list

class StatusFilter(StrEnum):
    PROVIDED = "fornecido"
    MISSING = "nao_fornecido"


@dataclass(frozen=True)
class OrganizationRow:
    organization: Organization
    statuses: list[KindStatus]


def search_organizations(*, query: str = "", kind: str | None = None, status: str | None = None, page: int = 1,
                         per_page: int = 50, today: date) -> tuple[list[OrganizationRow], bool]:
    """Organizations with their status per kind, filtered; (rows of the page, whether there is a next page).

    `kind` narrows the status filter to one kind (default: every kind in force); `status` "fornecido" keeps
    organizations that accepted every one of them, "nao_fornecido" those missing at least one.
    """
    current = current_versions(today)
    versions = [current[kind]] if kind in current else ([] if kind else list(current.values()))
    statement = select(Organization).order_by(Organization.legal_name, Organization.id)
    query = (query or "").strip()
    if query:
        statement = statement.where(Organization.matching(query))

    def provided(version: AgreementVersion):
        return exists().where(AgreementAcceptance.organization_id == Organization.id,
                              AgreementAcceptance.version_id == version.id)

    if status in (StatusFilter.PROVIDED, StatusFilter.MISSING):
        if not versions:
            statement = statement.where(false())
        elif status == StatusFilter.PROVIDED:
            statement = statement.where(and_(*[provided(v) for v in versions]))
        else:
            statement = statement.where(or_(*[not_(provided(v)) for v in versions]))
    rows = list(db.session.scalars(statement.limit(per_page + 1).offset((page - 1) * per_page)))
    page_rows = rows[:per_page]
    statuses = _statuses([o.id for o in page_rows], today)
    return [OrganizationRow(o, statuses[o.id]) for o in page_rows], len(rows) > per_page
