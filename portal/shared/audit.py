"""The audit trail: append-only, hash-chained events written in the same transaction as the action.

Each event stores the hash of the one before it, so editing or deleting any row breaks the chain
at that row, which `verify()` (and `flask audit verify`) names. On PostgreSQL a trigger also refuses
UPDATE, DELETE and TRUNCATE on the table. Appends are serialised through the single-row
`audit_chain_head` table: the UPDATE on it takes a row lock (PostgreSQL) or the write lock (SQLite)
before the previous hash is read, so concurrent writers never fork the chain.
"""

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import SimpleNamespace
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, Integer, String, insert, select, update
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.shared import clock
from portal.shared.dbtypes import UTCDateTime

GENESIS_HASH = "0" * 64


class AuditTag(StrEnum):
    """Every tag is `area:subject:action`; grep for the constant to find who writes it."""

    LOGIN_SUCCEEDED = "accounts:login:succeeded"
    LOGIN_FAILED = "accounts:login:failed"
    LOGOUT = "accounts:login:logout"
    SESSIONS_ENDED = "accounts:session:ended_all"
    TWO_FACTOR_FAILED = "accounts:two_factor:failed"
    TWO_FACTOR_ENABLED = "accounts:two_factor:enabled"
    TWO_FACTOR_DISABLED = "accounts:two_factor:disabled"
    RECOVERY_CODE_USED = "accounts:two_factor:recovery_code_used"
    RECOVERY_CODES_REGENERATED = "accounts:two_factor:recovery_codes_regenerated"
    PASSWORD_RESET_REQUESTED = "accounts:password:reset_requested"  # noqa: S105 - a tag, not a secret
    PASSWORD_RESET_THROTTLED = "accounts:password:reset_throttled"  # noqa: S105 - a tag, not a secret
    PASSWORD_RESET = "accounts:password:reset"  # noqa: S105
    PASSWORD_CHANGED = "accounts:password:changed"  # noqa: S105
    PROFILE_UPDATED = "accounts:profile:updated"
    INVITATION_SENT = "accounts:invitation:sent"
    INVITATION_RESENT = "accounts:invitation:resent"
    INVITATION_ACCEPTED = "accounts:invitation:accepted"
    ROLES_CHANGED = "accounts:membership:roles_changed"
    MEMBERSHIP_DEACTIVATED = "accounts:membership:deactivated"
    MEMBERSHIP_REACTIVATED = "accounts:membership:reactivated"
    ORGANIZATION_CREATED = "accounts:organization:created"
    ORGANIZATION_SECURITY_CHANGED = "accounts:organization:security_changed"
    ORGANIZATION_TENANT_CHANGED = "accounts:organization:tenant_changed"
    ORGANIZATION_CITY_CODE_CHANGED = "accounts:organization:city_code_changed"
    STAFF_USER_CREATED = "accounts:staff:created"
    CATALOG_FAMILY_CREATED = "catalog:family:created"
    CATALOG_FAMILY_UPDATED = "catalog:family:updated"
    CATALOG_PRODUCT_CREATED = "catalog:product:created"
    CATALOG_PRODUCT_UPDATED = "catalog:product:updated"
    CATALOG_PRICE_ADDED = "catalog:price:added"
    QUOTE_CONFIRMED = "subscriptions:quote:confirmed"
    QUANTITY_INCREASED = "subscriptions:quantity:increased"
    QUANTITY_DECREASED = "subscriptions:quantity:decreased"
    QUANTITY_DECREASE_SCHEDULED = "subscriptions:quantity:decrease_scheduled"
    SUBSCRIPTION_PURCHASED = "subscriptions:subscription:purchased"
    SUBSCRIPTION_RENEWED = "subscriptions:subscription:renewed"
    SUBSCRIPTION_REFERENCE_CHANGED = "subscriptions:subscription:purchase_order_changed"  # PO / cost centre
    ORDER_CREATED = "subscriptions:order:created"
    ORDER_SENT = "subscriptions:order:sent"
    ORDER_DONE = "subscriptions:order:done"
    ORDER_RETRY_SCHEDULED = "subscriptions:order:retry_scheduled"
    ORDER_FAILED = "subscriptions:order:failed"
    ORDER_SUPERSEDED = "subscriptions:order:superseded"  # withdrawn unsent: a newer order of its kind replaces it
    ORDER_RETRIED_BY_STAFF = "subscriptions:order:retried_by_staff"
    ORDER_COMPLETED_BY_STAFF = "subscriptions:order:completed_by_staff"
    CANCELLATION_REQUESTED = "cancellations:request:created"
    CANCELLATION_PASSWORD_REFUSED = "cancellations:password:refused"  # noqa: S105 - a tag, not a secret
    RESCISSION_REQUESTED = "cancellations:rescission:requested"
    RESCISSION_WITHDRAWN = "cancellations:rescission:withdrawn"
    ORGANIZATION_CLOSED = "cancellations:organization:closed"
    INVOICE_ISSUED = "billing:invoice:issued"
    INVOICE_CANCELLED = "billing:invoice:cancelled"
    INVOICE_REISSUED = "billing:invoice:reissued"
    INVOICE_DRAFT_LINE_EDITED = "billing:draft:line_edited"  # review before issuing: finance corrected a line
    INVOICE_DRAFT_DISCOUNTED = "billing:draft:discounted"  # a one-off discount (with its reason) on a draft
    INVOICE_DRAFT_APPROVED = "billing:draft:approved"  # the draft became the invoice (issued: INVOICE_ISSUED)
    CREDIT_NOTE_ISSUED = "billing:credit_note:issued"
    INVOICE_DOCUMENTS_GENERATED = "billing:invoice:documents_generated"
    INVOICE_EMAILED = "billing:invoice:emailed"
    INVOICE_UNDELIVERED = "billing:invoice:undelivered"  # nobody to e-mail it to (sent once someone is)
    SECOND_COPY_ISSUED = "billing:boleto:second_copy_issued"
    FISCAL_DOCUMENT_ISSUED = "billing:fiscal_document:issued"
    FISCAL_DOCUMENT_UPLOADED = "billing:fiscal_document:uploaded"
    FISCAL_DOCUMENT_CANCELLED = "billing:fiscal_document:cancelled"
    PAYMENT_RECORDED = "billing:payment:recorded"
    INVOICE_PAID = "billing:invoice:paid"
    PAYMENT_REVERSED = "billing:payment:reversed"  # a Pix devolução: part or all of a payment given back
    REMESSA_GENERATED = "billing:remessa:generated"
    RETORNO_IMPORTED = "billing:retorno:imported"
    BOLETO_REGISTERED = "billing:boleto:registered"
    BILLING_EXCEPTION_RESOLVED = "billing:exception:resolved"  # finance closed a reconciliation exception
    BILLING_CONTACT_ADDED = "billing:contact:added"
    BILLING_CONTACT_REMOVED = "billing:contact:removed"
    ACCOUNTANT_CHANGED = "billing:accountant:changed"  # the accountant's e-mail and day set, changed or removed
    ACCOUNTANT_PACK_SENT = "billing:accountant_pack:sent"  # a month's pack e-mailed to the accountant
    DUNNING_SCHEDULE_CHANGED = "billing:dunning_schedule:changed"  # a step added, changed or removed (finance)
    DUNNING_RECIPIENTS_CHANGED = "billing:dunning_recipients:changed"  # who of the organization gets reminders
    ORGANIZATION_DELINQUENT = "billing:organization:delinquent"
    ORGANIZATION_GOOD_STANDING = "billing:organization:good_standing"
    AGREEMENT_PUBLISHED = "agreements:version:published"
    AGREEMENT_ACCEPTED = "agreements:acceptance:accepted"
    AGREEMENT_ATTESTED = "agreements:acceptance:attested"
    AGREEMENT_SENT_TO_PROVIDER = "agreements:acceptance:sent_to_provider"
    TICKET_OPENED = "support:ticket:opened"
    TICKET_REPLIED = "support:ticket:replied"
    TICKET_NOTE_ADDED = "support:ticket:note_added"
    TICKET_STATUS_CHANGED = "support:ticket:status_changed"
    TICKET_ASSIGNED = "support:ticket:assigned"
    OPPORTUNITY_CREATED = "onboarding:opportunity:created"
    OPPORTUNITY_UPDATED = "onboarding:opportunity:updated"
    OPPORTUNITY_STAGE_CHANGED = "onboarding:opportunity:stage_changed"
    OPPORTUNITY_APPROVED = "onboarding:opportunity:approved"
    CONTRACT_SENT_FOR_SIGNATURE = "onboarding:contract:sent_for_signature"
    CONTRACT_SIGNED = "onboarding:contract:signed"
    HANDOVER_POSTED = "onboarding:handover:posted"
    IMPLANTATION_DONE = "onboarding:implantation:done"
    OFFER_CREATED = "offers:offer:created"
    OFFER_SENT = "offers:offer:sent"
    OFFER_ACCEPTED = "offers:offer:accepted"
    OFFER_CANCELLED = "offers:offer:cancelled"
    OFFER_EXPIRED = "offers:offer:expired"
    DEAL_CREATED = "cosell:deal:created"
    DEAL_UPDATED = "cosell:deal:updated"
    DEAL_STAGE_CHANGED = "cosell:deal:stage_changed"


class AuditEvent(db.Model):
    __tablename__ = "audit_events"

    # Position in the chain, 1, 2, 3 … without gaps (assigned from audit_chain_head.length).
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    tag: Mapped[str] = mapped_column(String(80), index=True)
    # Who: a user id (None for the system or an anonymous visitor) and a label kept even if the user changes.
    actor_id: Mapped[int | None] = mapped_column(Integer, index=True)
    actor_label: Mapped[str] = mapped_column(String(254))
    organization_id: Mapped[int | None] = mapped_column(Integer, index=True)
    subject: Mapped[str | None] = mapped_column(String(120))  # e.g. "membership:12"
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    before: Mapped[Any] = mapped_column(JSON, nullable=True)
    after: Mapped[Any] = mapped_column(JSON, nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)

    def canonical(self) -> bytes:
        """The bytes the hash covers: every field but the hash itself."""
        payload = {
            "seq": self.seq,
            "created_at": self.created_at.isoformat(),
            "tag": self.tag,
            "actor_id": self.actor_id,
            "actor_label": self.actor_label,
            "organization_id": self.organization_id,
            "subject": self.subject,
            "ip": self.ip,
            "user_agent": self.user_agent,
            "before": self.before,
            "after": self.after,
            "prev_hash": self.prev_hash,
        }
        return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    def compute_hash(self) -> str:
        return hashlib.sha256(self.canonical()).hexdigest()


class AuditChainHead(db.Model):
    """One row (id=1): the chain's length and last hash; the lock every append takes."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    length: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))


@dataclass(frozen=True)
class Actor:
    """Who does something, and from where. Views build it from the request; jobs use `Actor.system`."""

    user: Any = None  # a portal.accounts.models.User, or None
    label: str = ""
    ip: str | None = None
    user_agent: str | None = None

    @property
    def user_id(self) -> int | None:
        return self.user.id if self.user is not None else None

    @classmethod
    def for_user(cls, user: Any, ip: str | None = None, user_agent: str | None = None) -> "Actor":
        return cls(user=user, label=user.email, ip=ip, user_agent=(user_agent or "")[:300] or None)

    @classmethod
    def anonymous(cls, ip: str | None = None, user_agent: str | None = None) -> "Actor":
        return cls(user=None, label="anonymous", ip=ip, user_agent=(user_agent or "")[:300] or None)

    @classmethod
    def system(cls, name: str) -> "Actor":
        return cls(user=None, label=f"system:{name}")


def _jsonable(value: Any) -> Any:
    """Round-trip through JSON so what is stored is exactly what was hashed."""
    if value is None:
        return None
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


def record(
    tag: AuditTag,
    *,
    actor: Actor,
    organization_id: int | None = None,
    subject: str | None = None,
    before: Any = None,
    after: Any = None,
) -> AuditEvent:
    """Append an event to the chain in the current transaction (it commits or rolls back with the action)."""
    session = db.session
    session.execute(update(AuditChainHead).where(AuditChainHead.id == 1).values(length=AuditChainHead.length + 1))
    length, prev_hash = session.execute(
        select(AuditChainHead.length, AuditChainHead.last_hash).where(AuditChainHead.id == 1)
    ).one()
    event = AuditEvent(
        seq=length,
        created_at=clock.now(),
        tag=str(tag),
        actor_id=actor.user_id,
        actor_label=actor.label[:254],
        organization_id=organization_id,
        subject=subject,
        ip=actor.ip,
        user_agent=actor.user_agent,
        before=_jsonable(before),
        after=_jsonable(after),
        prev_hash=prev_hash,
    )
    event.hash = event.compute_hash()
    session.add(event)
    session.execute(update(AuditChainHead).where(AuditChainHead.id == 1).values(last_hash=event.hash))
    session.flush([event])
    return event


@dataclass(frozen=True)
class NewEvent:
    """One event for `record_many`: what `record()` takes besides the actor."""

    tag: AuditTag
    organization_id: int | None = None
    subject: str | None = None
    before: Any = None
    after: Any = None


def record_many(events: Sequence[NewEvent], *, actor: Actor) -> list[dict[str, Any]]:
    """Append several events by `actor` in the current transaction, as that many `record()` calls would.

    The same chain, canonical form and hashes (computed here, before the rows are written), for four
    statements whatever the number of events: the head update that reserves the seqs and takes the head's
    lock (as record() does), the read of the previous hash, one INSERT for all the rows (an executemany:
    pipelined in one round trip on PostgreSQL), the update of the last hash. The events share one
    `created_at`. Returns the rows written, in chain order.
    """
    if not events:
        return []
    session = db.session
    session.execute(update(AuditChainHead).where(AuditChainHead.id == 1)
                    .values(length=AuditChainHead.length + len(events)))
    length, prev_hash = session.execute(
        select(AuditChainHead.length, AuditChainHead.last_hash).where(AuditChainHead.id == 1)
    ).one()
    created_at = clock.now()
    rows = []
    for seq, event in enumerate(events, start=length - len(events) + 1):
        row = {
            "seq": seq,
            "created_at": created_at,
            "tag": str(event.tag),
            "actor_id": actor.user_id,
            "actor_label": actor.label[:254],
            "organization_id": event.organization_id,
            "subject": event.subject,
            "ip": actor.ip,
            "user_agent": actor.user_agent,
            "before": _jsonable(event.before),
            "after": _jsonable(event.after),
            "prev_hash": prev_hash,
        }
        # AuditEvent.canonical reads only these attributes: the very bytes record() hashes, no ORM object.
        row["hash"] = prev_hash = hashlib.sha256(AuditEvent.canonical(SimpleNamespace(**row))).hexdigest()
        rows.append(row)
    session.execute(insert(AuditEvent.__table__), rows)
    session.execute(update(AuditChainHead).where(AuditChainHead.id == 1).values(last_hash=prev_hash))
    return rows


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    broken_seq: int | None = None
    reason: str = ""


def verify(batch: int = 1000) -> VerifyResult:
    """Walk the whole chain; report the first row whose content, link or position is wrong."""
    expected_seq, prev_hash, checked = 1, GENESIS_HASH, 0
    statement = select(AuditEvent).order_by(AuditEvent.seq).execution_options(yield_per=batch)
    # A server-side cursor on PostgreSQL: closed by the `with` even when we stop at a broken row.
    with db.session.execute(statement) as rows:
        for event in rows.scalars():
            if event.seq != expected_seq:
                return VerifyResult(False, checked, expected_seq, f"event {expected_seq} is missing")
            if event.prev_hash != prev_hash:
                return VerifyResult(False, checked, event.seq, "link to the previous event does not match")
            if event.compute_hash() != event.hash:
                return VerifyResult(False, checked, event.seq, "content does not match its hash")
            prev_hash, expected_seq, checked = event.hash, expected_seq + 1, checked + 1
    length, last_hash = db.session.execute(
        select(AuditChainHead.length, AuditChainHead.last_hash).where(AuditChainHead.id == 1)
    ).one()
    if length != checked or last_hash != prev_hash:
        return VerifyResult(False, checked, checked + 1, "events after the last one were removed")
    return VerifyResult(True, checked)


# What each tag means to a person reading the history (Histórico, Trilha de auditoria).
AUDIT_TAG_LABELS: dict[str, Any] = {
    AuditTag.LOGIN_SUCCEEDED: _l("Entrada no portal"),
    AuditTag.LOGIN_FAILED: _l("Tentativa de entrada recusada"),
    AuditTag.LOGOUT: _l("Saída do portal"),
    AuditTag.SESSIONS_ENDED: _l("Sessões encerradas em todos os dispositivos"),
    AuditTag.TWO_FACTOR_FAILED: _l("Código de verificação recusado"),
    AuditTag.TWO_FACTOR_ENABLED: _l("Verificação em duas etapas ativada"),
    AuditTag.TWO_FACTOR_DISABLED: _l("Verificação em duas etapas desativada"),
    AuditTag.RECOVERY_CODE_USED: _l("Código de recuperação usado"),
    AuditTag.RECOVERY_CODES_REGENERATED: _l("Novos códigos de recuperação gerados"),
    AuditTag.PASSWORD_RESET_REQUESTED: _l("Redefinição de senha solicitada"),
    AuditTag.PASSWORD_RESET_THROTTLED: _l("Redefinição de senha não enviada: limite por hora atingido"),
    AuditTag.PASSWORD_RESET: _l("Senha redefinida"),
    AuditTag.PASSWORD_CHANGED: _l("Senha alterada"),
    AuditTag.PROFILE_UPDATED: _l("Dados pessoais alterados"),
    AuditTag.INVITATION_SENT: _l("Convite enviado"),
    AuditTag.INVITATION_RESENT: _l("Convite reenviado"),
    AuditTag.INVITATION_ACCEPTED: _l("Convite aceito"),
    AuditTag.ROLES_CHANGED: _l("Papéis alterados"),
    AuditTag.MEMBERSHIP_DEACTIVATED: _l("Usuário desativado"),
    AuditTag.MEMBERSHIP_REACTIVATED: _l("Usuário reativado"),
    AuditTag.ORGANIZATION_CREATED: _l("Organização criada"),
    AuditTag.ORGANIZATION_SECURITY_CHANGED: _l("Segurança da organização alterada"),
    AuditTag.ORGANIZATION_TENANT_CHANGED: _l("Tenant Microsoft da organização alterado"),
    AuditTag.ORGANIZATION_CITY_CODE_CHANGED: _l("Código IBGE do município da organização alterado"),
    AuditTag.STAFF_USER_CREATED: _l("Usuário da equipe criado"),
    AuditTag.CATALOG_FAMILY_CREATED: _l("Família de produtos criada"),
    AuditTag.CATALOG_FAMILY_UPDATED: _l("Família de produtos alterada"),
    AuditTag.CATALOG_PRODUCT_CREATED: _l("Produto criado"),
    AuditTag.CATALOG_PRODUCT_UPDATED: _l("Produto alterado"),
    AuditTag.CATALOG_PRICE_ADDED: _l("Novo preço de produto"),
    AuditTag.QUOTE_CONFIRMED: _l("Orçamento confirmado"),
    AuditTag.QUANTITY_INCREASED: _l("Quantidade de licenças aumentada"),
    AuditTag.QUANTITY_DECREASED: _l("Quantidade de licenças reduzida"),
    AuditTag.QUANTITY_DECREASE_SCHEDULED: _l("Redução de licenças agendada para o fim do termo"),
    AuditTag.SUBSCRIPTION_PURCHASED: _l("Novo produto contratado"),
    AuditTag.SUBSCRIPTION_RENEWED: _l("Assinatura renovada"),
    AuditTag.SUBSCRIPTION_REFERENCE_CHANGED: _l("Pedido de compra ou centro de custo alterado"),
    AuditTag.ORDER_CREATED: _l("Pedido criado"),
    AuditTag.ORDER_SENT: _l("Pedido enviado ao fornecedor"),
    AuditTag.ORDER_DONE: _l("Pedido concluído"),
    AuditTag.ORDER_RETRY_SCHEDULED: _l("Nova tentativa de pedido agendada"),
    AuditTag.ORDER_FAILED: _l("Pedido falhou"),
    AuditTag.ORDER_SUPERSEDED: _l("Pedido substituído por um mais recente"),
    AuditTag.ORDER_RETRIED_BY_STAFF: _l("Pedido reenviado pela equipe"),
    AuditTag.ORDER_COMPLETED_BY_STAFF: _l("Pedido concluído pela equipe"),
    AuditTag.CANCELLATION_REQUESTED: _l("Cancelamento solicitado"),
    AuditTag.CANCELLATION_PASSWORD_REFUSED: _l("Senha recusada ao confirmar cancelamento ou rescisão"),
    AuditTag.RESCISSION_REQUESTED: _l("Rescisão de contrato solicitada"),
    AuditTag.RESCISSION_WITHDRAWN: _l("Rescisão de contrato retirada"),
    AuditTag.ORGANIZATION_CLOSED: _l("Contrato encerrado"),
    AuditTag.INVOICE_ISSUED: _l("Fatura emitida"),
    AuditTag.INVOICE_CANCELLED: _l("Fatura cancelada"),
    AuditTag.INVOICE_REISSUED: _l("Fatura reemitida"),
    AuditTag.INVOICE_DRAFT_LINE_EDITED: _l("Linha de rascunho de fatura corrigida"),
    AuditTag.INVOICE_DRAFT_DISCOUNTED: _l("Desconto em rascunho de fatura"),
    AuditTag.INVOICE_DRAFT_APPROVED: _l("Rascunho de fatura aprovado"),
    AuditTag.CREDIT_NOTE_ISSUED: _l("Nota de crédito emitida"),
    AuditTag.INVOICE_DOCUMENTS_GENERATED: _l("Documentos da fatura gerados"),
    AuditTag.INVOICE_EMAILED: _l("Fatura enviada por e-mail"),
    AuditTag.INVOICE_UNDELIVERED: _l("Fatura não enviada: sem destinatário"),
    AuditTag.SECOND_COPY_ISSUED: _l("2ª via de boleto emitida"),
    AuditTag.FISCAL_DOCUMENT_ISSUED: _l("Nota fiscal emitida"),
    AuditTag.FISCAL_DOCUMENT_UPLOADED: _l("Nota fiscal enviada pela equipe"),
    AuditTag.FISCAL_DOCUMENT_CANCELLED: _l("Nota fiscal cancelada"),
    AuditTag.PAYMENT_RECORDED: _l("Pagamento registrado"),
    AuditTag.REMESSA_GENERATED: _l("Arquivo de remessa gerado para o banco"),
    AuditTag.RETORNO_IMPORTED: _l("Arquivo de retorno do banco importado"),
    AuditTag.BOLETO_REGISTERED: _l("Boleto registrado no banco"),
    AuditTag.BILLING_EXCEPTION_RESOLVED: _l("Pendência da conciliação resolvida"),
    AuditTag.INVOICE_PAID: _l("Fatura paga"),
    AuditTag.PAYMENT_REVERSED: _l("Pagamento devolvido"),
    AuditTag.BILLING_CONTACT_ADDED: _l("E-mail de cobrança adicionado"),
    AuditTag.BILLING_CONTACT_REMOVED: _l("E-mail de cobrança removido"),
    AuditTag.ACCOUNTANT_CHANGED: _l("E-mail do contador alterado"),
    AuditTag.ACCOUNTANT_PACK_SENT: _l("Pacote do contador enviado"),
    AuditTag.DUNNING_SCHEDULE_CHANGED: _l("Régua de cobrança alterada"),
    AuditTag.DUNNING_RECIPIENTS_CHANGED: _l("Destinatários dos lembretes de vencimento alterados"),
    AuditTag.ORGANIZATION_DELINQUENT: _l("Organização inadimplente"),
    AuditTag.ORGANIZATION_GOOD_STANDING: _l("Organização em dia"),
    AuditTag.AGREEMENT_PUBLISHED: _l("Versão de contrato publicada"),
    AuditTag.AGREEMENT_ACCEPTED: _l("Contrato aceito no portal"),
    AuditTag.AGREEMENT_ATTESTED: _l("Aceite de contrato atestado pela equipe"),
    AuditTag.AGREEMENT_SENT_TO_PROVIDER: _l("Aceite de contrato enviado à Microsoft"),
    AuditTag.TICKET_OPENED: _l("Chamado aberto"),
    AuditTag.TICKET_REPLIED: _l("Chamado respondido"),
    AuditTag.TICKET_NOTE_ADDED: _l("Nota interna em chamado"),
    AuditTag.TICKET_STATUS_CHANGED: _l("Situação de chamado alterada"),
    AuditTag.TICKET_ASSIGNED: _l("Chamado atribuído"),
    AuditTag.OPPORTUNITY_CREATED: _l("Oportunidade criada"),
    AuditTag.OPPORTUNITY_UPDATED: _l("Oportunidade alterada"),
    AuditTag.OPPORTUNITY_STAGE_CHANGED: _l("Oportunidade mudou de etapa"),
    AuditTag.OPPORTUNITY_APPROVED: _l("Oportunidade aprovada pelo financeiro"),
    AuditTag.CONTRACT_SENT_FOR_SIGNATURE: _l("Contrato enviado para assinatura"),
    AuditTag.CONTRACT_SIGNED: _l("Contrato assinado"),
    AuditTag.HANDOVER_POSTED: _l("Card de passagem publicado"),
    AuditTag.IMPLANTATION_DONE: _l("Implantação concluída"),
    AuditTag.OFFER_CREATED: _l("Oferta de compra criada"),
    AuditTag.OFFER_SENT: _l("Oferta de compra enviada"),
    AuditTag.OFFER_ACCEPTED: _l("Oferta de compra aceita"),
    AuditTag.OFFER_CANCELLED: _l("Oferta de compra cancelada"),
    AuditTag.OFFER_EXPIRED: _l("Oferta de compra expirada"),
    AuditTag.DEAL_CREATED: _l("Negócio de venda conjunta criado"),
    AuditTag.DEAL_UPDATED: _l("Negócio de venda conjunta alterado"),
    AuditTag.DEAL_STAGE_CHANGED: _l("Negócio de venda conjunta mudou de etapa"),
}
