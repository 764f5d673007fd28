"""What an order's steps and failures mean, in the reader's language (issue 13, point 9).

`orders.py` writes each step's technical note in English and the provider's error code as it came (the order's
log is append-only and is also the support team's trail with Microsoft); people read the labels below instead.
One place for the vocabulary: the staff order pages and the audit pages use these, never the raw note or code.
"""

import re
from collections.abc import Callable
from datetime import datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from portal.integrations import partner_center as pc
from portal.shared.formatting import format_datetime

# The provider's (or the portal's own) error codes that a person may need to act on; any other code reads as
# "the provider refused", with the provider's own words kept in the technical detail.
ERROR_LABELS = {
    "no_tenant": _l("A organização não tem o tenant Microsoft cadastrado: informe-o na organização e reenvie."),
    "network": _l("Falha de rede ao falar com o Partner Center."),
    "token": _l("O Partner Center recusou a autenticação do portal."),
    "invalid_response": _l("O Partner Center deu uma resposta inesperada."),
    "invalid_operation_url": _l("O Partner Center devolveu um endereço de acompanhamento inválido."),
    "unknown_operation": _l("O Partner Center não reconhece a operação em andamento."),
    "invalid_subscription": _l("A assinatura não foi encontrada ou não é válida no Partner Center."),
    "simulated": _l("Falha simulada pelo simulador do Partner Center."),
    "unknown": _l("O provedor não informou o motivo da falha."),
    pc.SUBSCRIPTION_DELETED: _l("A assinatura foi cancelada no Partner Center e não pode mais ser alterada."),
    pc.ETAG_NO_LONGER_VALID: _l("A assinatura mudou no Partner Center durante a alteração."),
    pc.QUANTITY_OUT_OF_RANGE: _l("Quantidade fora do limite aceito pelo Partner Center."),
    pc.QUANTITY_CANNOT_BE_DECREASED: _l(
        "O Partner Center não permite reduzir a quantidade fora da janela de cancelamento."),
    pc.PENDING_OPERATION: _l("Outra alteração desta assinatura ainda está em andamento no Partner Center."),
    pc.SUBSCRIPTION_NOT_FOUND: _l("A assinatura não foi encontrada no Partner Center."),
    pc.INVALID_OFFER_ID: _l("O produto (oferta) não existe no catálogo do Partner Center."),
}


def error_label(code: str | None) -> str:
    """An order's failure cause as a sentence; the code itself is never shown."""
    if not code:
        return ""
    label = ERROR_LABELS.get(code)
    return str(label) if label is not None else _("O provedor recusou o pedido.")


def _when(iso: str) -> str:
    try:
        return format_datetime(datetime.fromisoformat(iso))
    except ValueError:
        return iso


# Each note orders.py / service.py writes (by its shape) → the sentence people read. The groups are the note's
# variable parts: an attempt number, an error code, an ISO time, a person's name, a staff note.
_STEPS: tuple[tuple[re.Pattern, Callable[[re.Match], str]], ...] = (
    (re.compile(r"order created"), lambda m: _("Pedido criado.")),
    (re.compile(r"done"), lambda m: _("Concluído pelo provedor.")),
    (re.compile(r"attempt (\d+) failed \(([^)]*)\): .*; retrying at (\S+)", re.DOTALL),
     lambda m: _("Tentativa %(num)s falhou: %(cause)s Nova tentativa em %(when)s.", num=m[1], cause=error_label(m[2]),
                 when=_when(m[3]))),
    (re.compile(r"failed \(([^)]*)\): .*", re.DOTALL), lambda m: _("Falhou: %(cause)s", cause=error_label(m[1]))),
    (re.compile(r"waiting for the subscription's earlier order"),
     lambda m: _("Aguardando o pedido anterior desta assinatura.")),
    (re.compile(r"waiting for the subscription's purchase to complete"),
     lambda m: _("Aguardando a conclusão da compra desta assinatura.")),
    (re.compile(r"handed to the staff implantação queue"), lambda m: _("Enviado à fila de implantação da equipe.")),
    (re.compile(r"accepted by the provider \(202\); polling"),
     lambda m: _("Aceito pelo provedor; o portal acompanha o andamento.")),
    (re.compile(r"still in progress at the provider"), lambda m: _("Ainda em andamento no provedor.")),
    (re.compile(r"retried by (.+)", re.DOTALL), lambda m: _("Reenviado por %(who)s.", who=m[1])),
    (re.compile(r"completed by (.+?): (.*)", re.DOTALL),
     lambda m: _("Concluído manualmente por %(who)s: %(note)s", who=m[1], note=m[2])),
    (re.compile(r"withdrawn with the rescission by (.+)", re.DOTALL),
     lambda m: _("Retirado com a rescisão, por %(who)s.", who=m[1])),
    (re.compile(r"customer agreement accepted: sending the order"),
     lambda m: _("Contrato aceito pelo cliente: o pedido segue para o provedor.")),
    (re.compile(r"waiting for the subscription's earlier order of the same kind, in progress at the provider"),
     lambda m: _("Aguardando o pedido anterior do mesmo tipo, em andamento no provedor.")),
    (re.compile(r"superseded by order (\d+) .*; not sent", re.DOTALL),
     lambda m: _("Substituído pelo pedido nº %(number)s, mais recente; não foi enviado.", number=m[1])),
)


def step_text(message: str) -> str | None:
    """The sentence for an order step's technical note; None for a note this vocabulary does not know (the page
    then offers the note only as technical detail)."""
    for pattern, text in _STEPS:
        match = pattern.fullmatch(message or "")
        if match:
            return text(match)
    return None


TEMPLATE_GLOBALS = {"order_error_label": error_label, "order_step_text": step_text}
