"""Co-sell input: the referral form (outbound deal, inbound registration, edit), the action forms and the list's
filters. The forms only read values; the rules (what each deal type requires) live in the service."""

import re
from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    FieldList,
    Form,
    FormField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)

from portal.cosell import service
from portal.cosell.models import DEAL_STAGE_LABELS, DEAL_TYPE_LABELS, Deal, DealStage, DealType
from portal.shared.filters import ListFilters
from portal.shared.money import parse_brl

TEAM_ROWS = 3  # empty rows offered on a new deal
SOLUTION_ROWS = 3
# Without a comma, dots may only separate thousands: 1.234.567 (and a plain 1234567).
_THOUSANDS = re.compile(r"^-?\d{1,3}(\.\d{3})+$|^-?\d+$")


class _DateField(DateField):
    """A date typed as 31/12/2026 or sent by a date input (2026-12-31); blank is no date (the service says so)."""

    def process_formdata(self, valuelist):
        if valuelist and not "".join(valuelist).strip():
            self.data = None
            return
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(_("Data inválida: use dd/mm/aaaa.")) from None


class TeamMemberForm(Form):
    name = StringField(_l("Nome"))
    phone = StringField(_l("Telefone"))
    email = StringField(_l("E-mail"))


class SolutionForm(Form):
    name = StringField(_l("Solução"))
    ip_cosell_ready = BooleanField(_l("Pronta para co-sell de IP"))


def _choices(labels: dict, blank=None) -> list[SelectChoice]:
    return ([SelectChoice("", blank)] if blank is not None else []) + [SelectChoice(str(k), v)
                                                                       for k, v in labels.items()]


class DealForm(FlaskForm):
    """Partner Center's referral form. Choices are filled per direction by `deal_form`."""

    deal_type = SelectField(_l("Tipo do negócio"), validate_choice=False)
    name = StringField(_l("Nome do negócio"))
    location = SelectField(_l("Localização"), validate_choice=False,
                           description=_l("Escopo de localização do programa de parceiros; não muda depois."))
    customer_name = StringField(_l("Cliente"))
    customer_location = StringField(_l("Localização do cliente"), description=_l("Cidade e estado, ou país."))
    account_managed_by_microsoft = BooleanField(
        _l("Conta gerenciada pela Microsoft"),
        description=_l("O cliente está na aba “Microsoft Managed” do Partner Center."))
    customer_contact_name = StringField(_l("Contato no cliente (opcional)"))
    customer_contact_phone = StringField(_l("Telefone do contato"))
    customer_contact_email = StringField(_l("E-mail do contato"))
    estimated_value = StringField(_l("Valor estimado"), description=_l("Como 1.234,56, em qualquer moeda."))
    currency = SelectField(_l("Moeda"), validate_choice=False, choices=[SelectChoice(c, c) for c in service.CURRENCIES])
    estimated_close_date = _DateField(_l("Data prevista de fechamento"), format=["%Y-%m-%d", "%d/%m/%Y"])
    crm_id = StringField(_l("ID no CRM (opcional)"))
    campaign_id = StringField(_l("ID da campanha de marketing (opcional)"))
    partner_role = SelectField(_l("Função do parceiro"), validate_choice=False,
                               choices=_choices(service.PARTNER_ROLES, blank=_l("— escolha —")),
                               description=_l("Obrigatória em co-sell de serviços; não se aplica a co-sell de IP."))
    solution_area = SelectField(_l("Área da solução"), validate_choice=False,
                                choices=_choices(service.SOLUTION_AREAS, blank=_l("— escolha —")),
                                description=_l("Obrigatória em co-sell de serviços."))
    solution_play = StringField(_l("Solution play"), description=_l("Obrigatório em co-sell de serviços."))
    notes = TextAreaField(_l("Anotações"), description=_l(
        "O problema de negócio do cliente e a ajuda específica que se espera da Microsoft."))
    marketplace_intent = SelectField(_l("Intenção de comprar pelo marketplace (co-sell de IP)"),
                                     validate_choice=False, choices=_choices(service.MARKETPLACE_INTENTS),
                                     default="undecided")
    microsoft_accepted = BooleanField(_l("Os vendedores da Microsoft aceitaram o negócio (co-sell)"))
    team = FieldList(FormField(TeamMemberForm), min_entries=TEAM_ROWS, max_entries=service.MAX_TEAM)
    solutions = FieldList(FormField(SolutionForm), min_entries=SOLUTION_ROWS, max_entries=service.MAX_SOLUTIONS)

    section_errors: dict[str, str]


def deal_form(direction: str, *, deal: Deal | None = None, formdata=None, **defaults) -> DealForm:
    """The referral form for a new deal of `direction`, or filled with `deal` for editing."""
    if deal is not None:
        data = service._snapshot(deal)
        data["estimated_value"] = service.format_amount(deal.estimated_value_minor, "").strip()
        data["estimated_close_date"] = deal.estimated_close_date
        data["team"] = [{"name": n, "phone": p, "email": e} for n, p, e in data["team"]]
        data["solutions"] = [{"name": n, "ip_cosell_ready": r} for n, r in data["solutions"]]
        form = DealForm(formdata=formdata, data=data)
        if formdata is None:
            for entries, limit in ((form.team, service.MAX_TEAM), (form.solutions, service.MAX_SOLUTIONS)):
                if len(entries) < limit:
                    entries.append_entry()  # one empty row to add someone
    else:
        form = DealForm(formdata=formdata, **defaults) if formdata is not None else DealForm(**defaults)
    types = service.INBOUND_TYPES if direction == "inbound" else service.OUTBOUND_TYPES
    form.deal_type.choices = [SelectChoice("", _("Escolha…"))] + [SelectChoice(str(t), DEAL_TYPE_LABELS[t])
                                                                   for t in types]
    form.location.choices = _choices(service.LOCATIONS)
    form.section_errors = {}
    return form


def _amount(form: DealForm) -> int | None:
    typed = (form.estimated_value.data or "").strip()
    if not typed:
        return None
    if "," not in typed and "." in typed and not _THOUSANDS.match(typed.replace("R$", "").strip()):
        # "1234.56" typed the American way would read as 123.456,00: refuse instead of guessing.
        form.estimated_value.errors = [*form.estimated_value.errors,
                                       _("Use vírgula para os centavos e ponto para os milhares, como 1.234,56.")]
        return None
    try:
        return parse_brl(typed)
    except ValueError:
        form.estimated_value.errors = [*form.estimated_value.errors,
                                       _("Não foi possível ler o valor: use como 1.234,56.")]
        return None


def deal_data(form: DealForm) -> tuple[service.DealData, list, list]:
    """The form as DealData; blank team and solution rows are left out. Also the entries each kept row came
    from, so the service's `team-0-phone` finds its input."""
    team_entries = [e for e in form.team.entries if any((e.form[n].data or "").strip()
                                                        for n in ("name", "phone", "email"))]
    solution_entries = [e for e in form.solutions.entries if (e.form.name.data or "").strip()]
    data = service.DealData(
        deal_type=form.deal_type.data or "", name=form.name.data or "", location=form.location.data or "",
        customer_name=form.customer_name.data or "", customer_location=form.customer_location.data or "",
        customer_contact_name=form.customer_contact_name.data or "",
        customer_contact_phone=form.customer_contact_phone.data or "",
        customer_contact_email=form.customer_contact_email.data or "",
        account_managed_by_microsoft=bool(form.account_managed_by_microsoft.data),
        estimated_value_minor=_amount(form), currency=form.currency.data or "",
        estimated_close_date=form.estimated_close_date.data, crm_id=form.crm_id.data or "",
        campaign_id=form.campaign_id.data or "", partner_role=form.partner_role.data or "",
        solution_area=form.solution_area.data or "", solution_play=form.solution_play.data or "",
        notes=form.notes.data or "", marketplace_intent=form.marketplace_intent.data or "undecided",
        microsoft_accepted=bool(form.microsoft_accepted.data),
        team=[service.TeamMemberData(e.form.name.data or "", e.form.phone.data or "", e.form.email.data or "")
              for e in team_entries],
        solutions=[service.SolutionData(e.form.name.data or "", bool(e.form.ip_cosell_ready.data))
                   for e in solution_entries],
    )
    return data, team_entries, solution_entries


def show_errors(form: DealForm, errors: dict[str, str], team_entries: list, solution_entries: list) -> None:
    """Put each of the service's refusals under its input (a field that already shows an error keeps its own)."""
    for name, message in errors.items():
        target = None
        if name.startswith(("team-", "solutions-")):
            section, position, sub = name.split("-", 2)
            entries = team_entries if section == "team" else solution_entries
            if int(position) < len(entries):
                target = entries[int(position)].form[sub]
        elif name in form._fields and name not in {"team", "solutions"}:
            target = form[name]
        if target is None:
            form.section_errors[name] = message
        elif not target.errors:
            target.errors = [message]


class ActionForm(FlaskForm):
    """A button: only the CSRF token."""


class DeclineForm(FlaskForm):
    decline_reason = TextAreaField(_l("Motivo da recusa"))


class LoseForm(FlaskForm):
    lost_reason = TextAreaField(_l("Motivo da perda"))


class ErrorForm(FlaskForm):
    error_reason = TextAreaField(_l("Motivo (negócio duplicado, cliente errado, valor errado…)"))


class StageForm(FlaskForm):
    stage = SelectField(_l("Etapa"), validate_choice=False,
                        choices=[SelectChoice(str(s), DEAL_STAGE_LABELS[s]) for s in service.SALES_STAGES])


class UpgradeForm(FlaskForm):
    upgrade_type = SelectField(_l("Converter em"), validate_choice=False,
                               choices=[SelectChoice(str(t), DEAL_TYPE_LABELS[t]) for t in service.UPGRADE_TYPES])
    upgrade_partner_role = SelectField(_l("Função do parceiro (co-sell de serviços)"), validate_choice=False,
                                       choices=_choices(service.PARTNER_ROLES, blank=_l("— escolha —")))
    upgrade_solution_area = SelectField(_l("Área da solução"), validate_choice=False,
                                        choices=_choices(service.SOLUTION_AREAS, blank=_l("— escolha —")))
    upgrade_solution_play = StringField(_l("Solution play"))
    upgrade_marketplace_intent = SelectField(_l("Intenção de comprar pelo marketplace (co-sell de IP)"),
                                             validate_choice=False, choices=_choices(service.MARKETPLACE_INTENTS),
                                             default="undecided")

    # The service's field names → this form's inputs.
    FIELDS = {"deal_type": "upgrade_type", "partner_role": "upgrade_partner_role",
              "solution_area": "upgrade_solution_area", "solution_play": "upgrade_solution_play",
              "marketplace_intent": "upgrade_marketplace_intent"}


# ---------------------------------------------------------------- the list's filters

@dataclass
class DealFilters(ListFilters):
    tab: str = "entrada"
    deal_type: str | None = None
    stage: str | None = None
    query: str = ""


def parse_filters(args) -> DealFilters:
    filters = DealFilters.reading(args, "aba", "tipo", "etapa", "q")
    filters.tab = filters.choice("aba", {tab: tab for tab in service.TABS},
                                 _("Aba desconhecida: “%(value)s”. Mostrando Entrada."), lower=False) or "entrada"
    filters.deal_type = filters.choice("tipo", {t.value: t.value for t in DealType},
                                       _("Tipo não reconhecido: “%(value)s”. Este filtro foi ignorado."), lower=False)
    filters.stage = filters.choice("etapa", {s.value: s.value for s in DealStage},
                                   _("Etapa não reconhecida: “%(value)s”. Este filtro foi ignorado."), lower=False)
    filters.query = filters.text("q")
    return filters
