"""Backoffice "Contratação": the onboarding pipeline's pages (list by stage, opportunity, actions, PDFs) and the
implantação queue of handover cards. Routes live on the backoffice blueprint; each calls one service verb."""

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from portal.accounts import service as accounts
from portal.accounts.context import current_actor
from portal.accounts.roles import StaffPermission
from portal.backoffice import bp
from portal.integrations.esign import SignatureError
from portal.onboarding import service
from portal.onboarding.forms import (
    ActionForm,
    AdvanceForm,
    ImplantationDoneForm,
    ItemForm,
    LoseForm,
    OpportunityForm,
)
from portal.onboarding.models import STAGE_LABELS, STAGE_ORDER, Opportunity, Stage
from portal.shared import clock, cnpj, documents
from portal.shared.errors import NotFound, ServiceError
from portal.shared.formatting import format_money
from portal.shared.forms import show_error
from portal.shared.links import absolute_url
from portal.shared.permissions import staff_can, staff_requires
from portal.subscriptions.service import UNFINISHED_ORDER_STATUSES

HANDOVER_LABELS = {None: _l("na fila"), "posted": _l("publicado"), "failed": _l("falhou")}


def _settings() -> service.OnboardingSettings:
    return service.OnboardingSettings.from_config(current_app.config)


def _opportunity_or_404(opportunity_id: int) -> Opportunity:
    try:
        return service.get_opportunity(opportunity_id)
    except NotFound:
        abort(404)


def _data(form: OpportunityForm) -> service.OpportunityData:
    return service.OpportunityData(**{name: form[name].data for name in service.OpportunityData.__dataclass_fields__})


def _item_form(*, bound: bool = True) -> ItemForm:
    """The "add a product" form: bound to the request's data, or empty (`bound=False`) for a page showing it."""
    form = ItemForm() if bound else ItemForm(formdata=None)
    today = clock.today()
    form.product_id.choices = [("", "—")] + [
        (product.id, f"{product.name} ({product.sku}) — {format_money(product.price_on(today).unit_price_cents)}")
        for product in service.products_for_items()]
    return form


# ---------------------------------------------------------------- list

@bp.get("/contratacao")
@staff_requires(StaffPermission.PIPELINE_READ)
def onboarding():
    text = (request.args.get("q") or "").strip()[:200]
    raw_stage = request.args.get("etapa") or ""
    stage = raw_stage if raw_stage in {s.value for s in Stage} else ""
    mine = request.args.get("minhas") == "1"
    owner_id = current_user.id if mine else None
    rows = service.search(text=text, stage=stage or None, owner_id=owner_id)
    by_stage = {s: [] for s in [*STAGE_ORDER, Stage.LOST]}
    for opportunity in rows:
        by_stage[Stage(opportunity.stage)].append(opportunity)
    owners = accounts.users_by_id({o.owner_id for o in rows if o.owner_id})
    status = 422 if raw_stage and not stage else 200
    return render_template("backoffice/onboarding/list.html", by_stage=by_stage, stage_labels=STAGE_LABELS,
                           text=text, stage=stage, mine=mine, owners=owners, bad_stage=status == 422), status


@bp.route("/contratacao/nova", methods=["GET", "POST"])
@staff_requires(StaffPermission.PIPELINE_MANAGE)
def onboarding_new():
    form = OpportunityForm()
    if form.validate_on_submit():
        try:
            opportunity = service.create_opportunity(_data(form), actor=current_actor())
        except ServiceError as error:
            show_error(form, error)
        else:
            flash(_("Oportunidade criada."), "success")
            return redirect(url_for("backoffice.onboarding_opportunity", opportunity_id=opportunity.id))
    return render_template("backoffice/onboarding/new.html", form=form,
                           supported_versions=_settings().windows_server_versions), \
        200 if request.method == "GET" else 422


# ---------------------------------------------------------------- one opportunity

def _render(opportunity: Opportunity, *, form: OpportunityForm | None = None, item_form: ItemForm | None = None,
            lose_form: LoseForm | None = None, advance_form: AdvanceForm | None = None,
            done_form: ImplantationDoneForm | None = None, error: str | None = None, missing: list[str] | None = None,
            status: int = 200):
    settings = _settings()
    if form is None:
        form = OpportunityForm(obj=opportunity, formdata=None)
        form.cnpj.data = cnpj.format(opportunity.cnpj) if opportunity.cnpj else ""
    organization = accounts.get_organization(opportunity.organization_id) if opportunity.organization_id else None
    orders = service.customer_orders(organization) if organization else []
    users = accounts.users_by_id(
        {i for i in (opportunity.owner_id, opportunity.approved_by_id, opportunity.implantation_done_by_id) if i})
    return render_template(
        "backoffice/onboarding/opportunity.html", opportunity=opportunity, form=form,
        item_form=item_form or _item_form(bound=False), lose_form=lose_form or LoseForm(formdata=None),
        advance_form=advance_form or AdvanceForm(formdata=None),
        done_form=done_form or ImplantationDoneForm(formdata=None), action_form=ActionForm(),
        step=service.next_step(opportunity, settings=settings), lines=service.proposal_lines(opportunity),
        stage_labels=STAGE_LABELS, stage_order=STAGE_ORDER, error=error, missing=missing,
        backup=service.needs_backup_sizing(opportunity), settings=settings, organization=organization, orders=orders,
        unfinished=[order for order in orders if order.status in UNFINISHED_ORDER_STATUSES],
        users=users, editable=Stage(opportunity.stage) in service.EDITABLE,
        items_editable=Stage(opportunity.stage) in service.ITEMS_EDITABLE,
        losable=Stage(opportunity.stage) in service.LOSABLE, handover_labels=HANDOVER_LABELS,
        can_manage=staff_can(StaffPermission.PIPELINE_MANAGE), can_approve=staff_can(StaffPermission.PIPELINE_APPROVE),
        can_implant=staff_can(StaffPermission.IMPLANTATION_MANAGE),
    ), status


def _refused(opportunity_id: int, error: ServiceError, **forms):
    """A refused action: the page again with the reason (and, for missing data, the list), status 422."""
    service.abandon_changes()
    opportunity = _opportunity_or_404(opportunity_id)
    return _render(opportunity, error=error.message, missing=getattr(error, "missing", None), status=422, **forms)


@bp.get("/contratacao/<int:opportunity_id>")
@staff_requires(StaffPermission.PIPELINE_READ)
def onboarding_opportunity(opportunity_id: int):
    return _render(_opportunity_or_404(opportunity_id))


@bp.post("/contratacao/<int:opportunity_id>")
@staff_requires(StaffPermission.PIPELINE_MANAGE)
def onboarding_update(opportunity_id: int):
    opportunity = _opportunity_or_404(opportunity_id)
    form = OpportunityForm()
    if form.validate_on_submit():
        try:
            changed = service.update_opportunity(opportunity, _data(form), actor=current_actor())
        except ServiceError as error:
            service.abandon_changes()
            show_error(form, error)
        else:
            flash(_("Dados salvos.") if changed else _("Nada mudou."), "success" if changed else "info")
            return redirect(url_for("backoffice.onboarding_opportunity", opportunity_id=opportunity_id))
    return _render(_opportunity_or_404(opportunity_id), form=form, status=422)


@bp.post("/contratacao/<int:opportunity_id>/itens")
@staff_requires(StaffPermission.PIPELINE_MANAGE)
def onboarding_add_item(opportunity_id: int):
    opportunity = _opportunity_or_404(opportunity_id)
    form = _item_form()
    if form.validate_on_submit():
        try:
            service.set_item(opportunity, product_id=form.product_id.data, quantity=form.quantity.data,
                             actor=current_actor())
        except ServiceError as error:
            service.abandon_changes()
            show_error(form, error)
        else:
            flash(_("Produto incluído na proposta."), "success")
            return redirect(url_for("backoffice.onboarding_opportunity", opportunity_id=opportunity_id,
                                    _anchor="itens"))
    return _render(_opportunity_or_404(opportunity_id), item_form=form, status=422)


@bp.post("/contratacao/<int:opportunity_id>/itens/<int:item_id>/remover")
@staff_requires(StaffPermission.PIPELINE_MANAGE)
def onboarding_remove_item(opportunity_id: int, item_id: int):
    opportunity = _opportunity_or_404(opportunity_id)
    if not ActionForm().validate_on_submit():
        return _render(opportunity, error=_("O formulário expirou. Tente de novo."), status=422)
    try:
        service.remove_item(opportunity, item_id=item_id, actor=current_actor())
    except NotFound:
        abort(404)
    except ServiceError as error:
        return _refused(opportunity_id, error)
    flash(_("Produto retirado da proposta."), "success")
    return redirect(url_for("backoffice.onboarding_opportunity", opportunity_id=opportunity_id, _anchor="itens"))


@bp.post("/contratacao/<int:opportunity_id>/avancar")
@staff_requires(StaffPermission.PIPELINE_MANAGE)
def onboarding_advance(opportunity_id: int):
    opportunity = _opportunity_or_404(opportunity_id)
    form = AdvanceForm()
    if not form.validate_on_submit():
        return _render(opportunity, advance_form=form, error=_("Escolha a etapa seguinte."), status=422)
    try:
        service.advance(opportunity, to=form.to.data, actor=current_actor(), note=form.note.data or "",
                        settings=_settings())
    except ServiceError as error:
        return _refused(opportunity_id, error, advance_form=form)
    flash(_("Oportunidade em “%(stage)s”.", stage=service.stage_label(opportunity.stage)), "success")
    return redirect(url_for("backoffice.onboarding_opportunity", opportunity_id=opportunity_id))


@bp.post("/contratacao/<int:opportunity_id>/perder")
@staff_requires(StaffPermission.PIPELINE_MANAGE)
def onboarding_lose(opportunity_id: int):
    opportunity = _opportunity_or_404(opportunity_id)
    form = LoseForm()
    if not form.validate_on_submit():
        return _render(opportunity, lose_form=form, status=422)
    try:
        service.advance(opportunity, to=Stage.LOST, actor=current_actor(), note=form.reason.data,
                        settings=_settings())
    except ServiceError as error:
        if error.field == "reason":
            form.reason.errors = [*form.reason.errors, error.message]
        return _refused(opportunity_id, error, lose_form=form)
    flash(_("Oportunidade marcada como perdida."), "success")
    return redirect(url_for("backoffice.onboarding_opportunity", opportunity_id=opportunity_id))


@bp.post("/contratacao/<int:opportunity_id>/proposta")
@staff_requires(StaffPermission.PIPELINE_MANAGE)
def onboarding_proposal(opportunity_id: int):
    opportunity = _opportunity_or_404(opportunity_id)
    if not ActionForm().validate_on_submit():
        return _render(opportunity, error=_("O formulário expirou. Tente de novo."), status=422)
    try:
        service.generate_proposal(opportunity, actor=current_actor(), settings=_settings())
    except ServiceError as error:
        return _refused(opportunity_id, error)
    flash(_("Proposta em PDF gerada."), "success")
    return redirect(url_for("backoffice.onboarding_opportunity", opportunity_id=opportunity_id, _anchor="documentos"))


@bp.post("/contratacao/<int:opportunity_id>/enviar-contrato")
@staff_requires(StaffPermission.PIPELINE_MANAGE)
def onboarding_send_contract(opportunity_id: int):
    opportunity = _opportunity_or_404(opportunity_id)
    if not ActionForm().validate_on_submit():
        return _render(opportunity, error=_("O formulário expirou. Tente de novo."), status=422)
    try:
        service.send_contract(opportunity, actor=current_actor(), esign=current_app.extensions["esign"],
                              settings=_settings())
    except ServiceError as error:
        return _refused(opportunity_id, error)
    flash(_("Contrato enviado para assinatura de %(customer)s e de %(staff)s.", customer=opportunity.email,
            staff=current_actor().label), "success")
    return redirect(url_for("backoffice.onboarding_opportunity", opportunity_id=opportunity_id))


@bp.post("/contratacao/<int:opportunity_id>/verificar-assinatura")
@staff_requires(StaffPermission.PIPELINE_MANAGE)
def onboarding_check_signature(opportunity_id: int):
    """Ask the e-signature provider now (as the polling job does), for when a webhook was lost."""
    opportunity = _opportunity_or_404(opportunity_id)
    if not ActionForm().validate_on_submit() or not opportunity.signature_document_id:
        return _render(opportunity, error=_("Não há contrato enviado para assinatura."), status=422)
    try:
        outcome = service.complete_signature(opportunity.signature_document_id, esign=current_app.extensions["esign"],
                                             actor=current_actor())
    except SignatureError as error:
        service.abandon_changes()
        return _render(_opportunity_or_404(opportunity_id), status=422,
                       error=_("O serviço de assinatura eletrônica não respondeu: %(error)s", error=str(error)))
    flash(*_signature_outcome_message(outcome))
    return redirect(url_for("backoffice.onboarding_opportunity", opportunity_id=opportunity_id))


def _signature_outcome_message(outcome: str) -> tuple[str, str]:
    """What a signature check's outcome (service.handle_signature_event) means, and the flash category: the outcome
    itself is a code, never shown."""
    messages = {
        "signed": (_("Contrato assinado por todos: a oportunidade está em “Contrato assinado”."), "success"),
        "already": (_("A assinatura já tinha sido registrada."), "info"),
        "pending": (_("Ainda faltam assinaturas."), "info"),
        "rejected": (_("Um dos signatários recusou o contrato. Veja no serviço de assinatura."), "warning"),
    }
    return messages.get(outcome, (_("Nada a fazer."), "info"))


@bp.post("/contratacao/<int:opportunity_id>/simular-assinatura")
@staff_requires(StaffPermission.PIPELINE_MANAGE)
def onboarding_simulate_signature(opportunity_id: int):
    """ESIGN_BACKEND=simulator only: everybody signs, and the simulator's webhook call is handled as a real one."""
    opportunity = _opportunity_or_404(opportunity_id)
    if not ActionForm().validate_on_submit():
        return _render(opportunity, error=_("O formulário expirou. Tente de novo."), status=422)
    try:
        outcome = service.simulate_signature(opportunity, esign=current_app.extensions["esign"],
                                             actor=current_actor())
    except ServiceError as error:
        return _refused(opportunity_id, error)
    message, category = _signature_outcome_message(outcome)
    flash(_("Assinatura simulada: %(result)s", result=message), category)
    return redirect(url_for("backoffice.onboarding_opportunity", opportunity_id=opportunity_id))


@bp.post("/contratacao/<int:opportunity_id>/aprovar")
@staff_requires(StaffPermission.PIPELINE_APPROVE)
def onboarding_approve(opportunity_id: int):
    opportunity = _opportunity_or_404(opportunity_id)
    if not ActionForm().validate_on_submit():
        return _render(opportunity, error=_("O formulário expirou. Tente de novo."), status=422)
    try:
        organization = service.approve(
            opportunity, actor=current_actor(), settings=_settings(),
            url_for_token=lambda t: absolute_url("accounts.accept_invitation", token=t),
            provisioner=current_app.extensions["provisioner"])
    except ServiceError as error:
        return _refused(opportunity_id, error)
    flash(_("Aprovada: organização %(name)s criada, convite enviado para %(email)s e licenças pedidas.",
            name=organization.legal_name, email=opportunity.email), "success")
    if any(order.waiting_for_agreement for order in service.customer_orders(organization)):
        flash(_("Os produtos Microsoft aguardam o aceite do contrato pelo Master do cliente: os pedidos seguem "
                "sozinhos depois do aceite."), "info")
    return redirect(url_for("backoffice.onboarding_opportunity", opportunity_id=opportunity_id))


@bp.post("/contratacao/<int:opportunity_id>/publicar-card")
@staff_requires(StaffPermission.PIPELINE_MANAGE)
def onboarding_post_card(opportunity_id: int):
    opportunity = _opportunity_or_404(opportunity_id)
    if not ActionForm().validate_on_submit():
        return _render(opportunity, error=_("O formulário expirou. Tente de novo."), status=422)
    try:
        service.request_handover_again(opportunity, actor=current_actor())
    except ServiceError as error:
        return _refused(opportunity_id, error)
    service.forget_loaded()  # the job ran (inline) or is queued: show what it left
    opportunity = _opportunity_or_404(opportunity_id)
    if opportunity.handover_status == "posted":
        flash(_("Card de passagem publicado no Teams."), "success")
    elif opportunity.handover_status == "failed":
        flash(_("O Teams recusou o card: %(error)s", error=opportunity.handover_error), "danger")
    else:
        flash(_("Publicação do card pedida."), "info")
    return redirect(url_for("backoffice.onboarding_opportunity", opportunity_id=opportunity_id))


@bp.post("/contratacao/<int:opportunity_id>/implantacao-concluida")
@staff_requires(StaffPermission.IMPLANTATION_MANAGE)
def onboarding_implantation_done(opportunity_id: int):
    opportunity = _opportunity_or_404(opportunity_id)
    form = ImplantationDoneForm()
    if not form.validate_on_submit():
        return _render(opportunity, done_form=form, status=422)
    try:
        service.mark_implantation_done(opportunity, actor=current_actor(), note=form.note.data or "")
    except ServiceError as error:
        return _refused(opportunity_id, error, done_form=form)
    flash(_("Implantação concluída: o cliente está ativo."), "success")
    if request.form.get("voltar") == "fila":
        return redirect(url_for("backoffice.onboarding_implantation"))
    return redirect(url_for("backoffice.onboarding_opportunity", opportunity_id=opportunity_id))


# ---------------------------------------------------------------- PDFs

def _pdf(digest: str | None, filename: str) -> Response:
    if not digest:
        abort(404)
    try:
        return documents.send(digest, filename, inline=True)
    except NotFound:
        abort(404)


@bp.get("/contratacao/<int:opportunity_id>/proposta.pdf")
@staff_requires(StaffPermission.PIPELINE_READ)
def onboarding_proposal_pdf(opportunity_id: int):
    opportunity = _opportunity_or_404(opportunity_id)
    return _pdf(opportunity.proposal_pdf_sha256, f"proposta-{opportunity_id}.pdf")


@bp.get("/contratacao/<int:opportunity_id>/contrato.pdf")
@staff_requires(StaffPermission.PIPELINE_READ)
def onboarding_contract_pdf(opportunity_id: int):
    opportunity = _opportunity_or_404(opportunity_id)
    return _pdf(opportunity.contract_pdf_sha256, f"contrato-{opportunity_id}.pdf")


@bp.get("/contratacao/<int:opportunity_id>/contrato-assinado.pdf")
@staff_requires(StaffPermission.PIPELINE_READ)
def onboarding_signed_pdf(opportunity_id: int):
    opportunity = _opportunity_or_404(opportunity_id)
    return _pdf(opportunity.signed_pdf_sha256, f"contrato-assinado-{opportunity_id}.pdf")


# ---------------------------------------------------------------- implantação queue

@bp.get("/contratacao/implantacao")
@staff_requires(StaffPermission.PIPELINE_READ)
def onboarding_implantation():
    """The handover cards of approved customers: waiting for the Teams card, or for support's implantação."""
    rows = service.implantation_queue()
    contract_urls = {o.id: url_for("backoffice.onboarding_signed_pdf", opportunity_id=o.id) for o in rows}
    with_cards = [(o, service.handover_card(o, contract_url=contract_urls[o.id])) for o in rows]
    return render_template("backoffice/onboarding/implantation.html", rows=with_cards, done_form=ImplantationDoneForm(),
                           action_form=ActionForm(), handover_labels=HANDOVER_LABELS,
                           can_implant=staff_can(StaffPermission.IMPLANTATION_MANAGE),
                           can_manage=staff_can(StaffPermission.PIPELINE_MANAGE))
