"""What an audit event is about, in words: an event's subject is "kind:id" ("fiscal_document" is a code, not a word
people read); the trail shows "Nota fiscal nº 5" and links to it where the backoffice can show it."""

import functools

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from portal.shared.formatting import current_locale_name

SUBJECT_KIND_LABELS = {
    "agreement_acceptance": _l("Aceite de contrato"),
    "api_token": _l("Token de API"),
    "agreement_version": _l("Versão de contrato"),
    "billing_contact": _l("Contato de cobrança"),
    "boleto": _l("Boleto"),
    "cancellation": _l("Cancelamento"),
    "data": _l("Dados"),
    "deal": _l("Negócio de venda conjunta"),
    "fiscal_document": _l("Nota fiscal"),
    "invoice": _l("Fatura"),
    "membership": _l("Vínculo de usuário"),
    "offer": _l("Oferta de compra"),
    "opportunity": _l("Oportunidade"),
    "order": _l("Pedido"),
    "organization": _l("Organização"),
    "product": _l("Produto"),
    "product_family": _l("Família de produtos"),
    "quote": _l("Cotação"),
    "subscription": _l("Assinatura"),
    "system": _l("Sistema"),
    "ticket": _l("Chamado"),
    "user": _l("Usuário"),
    "webhook": _l("Notificação recebida"),
}


@functools.lru_cache(maxsize=8)
def _words(locale: str) -> dict:
    """The words below in `locale` (the current one: the argument only keys the cache), translated once per
    language: the audit trail shows 50 events a page, each with a subject and an actor."""
    return {"kinds": {kind: str(label) for kind, label in SUBJECT_KIND_LABELS.items()},
            "systems": {name: str(label) for name, label in SYSTEM_ACTOR_LABELS.items()},
            "numbered": _("%(kind)s nº %(id)s"), "other": _("Outro registro"), "anonymous": _("Anônimo"),
            "system": _("Sistema")}


def subject_label(subject: str | None) -> str:
    """"invoice:12" → "Fatura nº 12"; a kind or an identifier that is not a number reads as the kind alone (the raw
    subject stays in the event's technical detail); no subject → "—"."""
    if not subject:
        return "—"
    words = _words(current_locale_name())
    kind, _sep, identifier = subject.partition(":")
    label = words["kinds"].get(kind)
    if label is None:
        return words["other"]
    if identifier.isdigit():
        return words["numbered"] % {"kind": label, "id": identifier}
    return label


# Who acted when no person did: the part after "system:" in an actor's label (Actor.system), in words.
SYSTEM_ACTOR_LABELS = {
    "agreements": _l("Sistema (contratos)"),
    "billing": _l("Sistema (faturamento)"),
    "cli": _l("Sistema (linha de comando)"),
    "cosell": _l("Sistema (venda conjunta)"),
    "demo": _l("Sistema (dados de demonstração)"),
    "offers": _l("Sistema (ofertas)"),
    "onboarding": _l("Sistema (contratação)"),
    "provisioning": _l("Sistema (pedidos ao fornecedor)"),
    "renewals": _l("Sistema (renovações)"),
    "rescissions": _l("Sistema (rescisões)"),
    "webhook": _l("Sistema (notificação recebida)"),
}


def actor_label(label: str | None) -> str:
    """An audit event's stored actor label as staff read it: a person's e-mail as it is; "anonymous" → "Anônimo";
    "system:billing" (or "system:webhook:stripe") → "Sistema (faturamento)"; an unknown system → "Sistema"."""
    if not label:
        return "—"
    if label == "anonymous":
        return _words(current_locale_name())["anonymous"]
    kind, sep, name = label.partition(":")
    if kind != "system" or not sep:
        return label
    words = _words(current_locale_name())
    return words["systems"].get(name.partition(":")[0], words["system"])
