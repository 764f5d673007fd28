"""Backoffice pages: the staff home, organizations (list, detail, create) and users."""

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from portal.accounts import service as accounts
from portal.accounts.context import current_actor
from portal.accounts.forms import CityCodeForm, OrganizationForm, TenantForm
from portal.accounts.models import Membership, User
from portal.accounts.roles import ROLE_LABELS, ROLE_ORDER, STAFF_ROLE_LABELS, StaffPermission
from portal.backoffice import bp
from portal.shared.errors import ServiceError
from portal.shared.forms import show_error
from portal.shared.links import absolute_url
from portal.shared.paging import requested_page
from portal.shared.permissions import staff_requires

PER_PAGE = 50


def _page() -> int:
    return requested_page()


@bp.get("/")
@staff_requires(StaffPermission.BACKOFFICE_ACCESS)
def index():
    counts = accounts.staff_home_counts()
    return render_template("backoffice/index.html", counts=counts)


@bp.get("/organizacoes")
@staff_requires(StaffPermission.ORGANIZATIONS_READ)
def organizations():
    query = (request.args.get("q") or "").strip()
    page = _page()
    rows = accounts.search_organizations(query, page=page, per_page=PER_PAGE)
    return render_template("backoffice/organizations.html", organizations=rows[:PER_PAGE], query=query,
                           page=page, has_next=len(rows) > PER_PAGE)


@bp.get("/organizacoes/<int:organization_id>")
@staff_requires(StaffPermission.ORGANIZATIONS_READ)
def organization(organization_id: int):
    org = accounts.get_organization(organization_id)
    if org is None:
        abort(404)
    memberships = accounts.organization_memberships(org.id)
    return render_template("backoffice/organization.html", org=org, memberships=memberships,
                           role_labels=ROLE_LABELS, role_order=ROLE_ORDER,
                           tenant_form=TenantForm(tenant_id=org.microsoft_tenant_id or ""),
                           city_form=CityCodeForm(city_code=org.city_code or ""))


@bp.post("/organizacoes/<int:organization_id>/municipio")
@staff_requires(StaffPermission.BILLING_MANAGE)
def organization_city_code(organization_id: int):
    """The customer's IBGE city code (the NFS-e's cMun): finance corrects it when a note is refused for it."""
    org = accounts.get_organization(organization_id)
    if org is None:
        abort(404)
    form = CityCodeForm()
    if form.validate_on_submit():
        try:
            accounts.set_city_code(org, form.city_code.data or "", actor=current_actor())
        except ServiceError as error:
            show_error(form, error)
        else:
            flash(_("Código IBGE do município salvo."), "success")
            return redirect(url_for("backoffice.organization", organization_id=org.id))
    memberships = accounts.organization_memberships(org.id, invitations=False)
    return render_template("backoffice/organization.html", org=org, memberships=memberships,
                           role_labels=ROLE_LABELS, role_order=ROLE_ORDER,
                           tenant_form=TenantForm(tenant_id=org.microsoft_tenant_id or ""), city_form=form), 422


@bp.post("/organizacoes/<int:organization_id>/tenant")
@staff_requires(StaffPermission.ORGANIZATIONS_MANAGE)
def organization_tenant(organization_id: int):
    org = accounts.get_organization(organization_id)
    if org is None:
        abort(404)
    form = TenantForm()
    if form.validate_on_submit():
        try:
            accounts.set_microsoft_tenant(org, form.tenant_id.data or "", actor=current_actor())
        except ServiceError as error:
            form.tenant_id.errors = [*form.tenant_id.errors, error.message]
        else:
            flash(_("Tenant Microsoft salvo."), "success")
            return redirect(url_for("backoffice.organization", organization_id=org.id))
    memberships = accounts.organization_memberships(org.id, invitations=False)
    return render_template("backoffice/organization.html", org=org, memberships=memberships,
                           role_labels=ROLE_LABELS, role_order=ROLE_ORDER, tenant_form=form,
                           city_form=CityCodeForm(city_code=org.city_code or "")), 422


@bp.route("/organizacoes/nova", methods=["GET", "POST"])
@staff_requires(StaffPermission.ORGANIZATIONS_MANAGE)
def create_organization():
    form = OrganizationForm()
    if form.validate_on_submit():
        data = accounts.OrganizationData(
            legal_name=form.legal_name.data, trade_name=form.trade_name.data, cnpj=form.cnpj.data,
            street=form.street.data, number=form.number.data, complement=form.complement.data or "",
            district=form.district.data, city=form.city.data, state=form.state.data,
            postal_code=form.postal_code.data, billing_day=form.billing_day.data,
        )
        try:
            org = accounts.create_organization(
                data, master_email=form.master_email.data, master_name=form.master_name.data,
                actor=current_actor(),
                url_for_token=lambda t: absolute_url("accounts.accept_invitation", token=t),
            )
        except ServiceError as error:
            show_error(form, error)
        else:
            flash(_("Organização criada; convite enviado para %(email)s.", email=form.master_email.data), "success")
            return redirect(url_for("backoffice.organization", organization_id=org.id))
    return render_template("backoffice/organization_form.html", form=form), 200 if request.method == "GET" else 422


def membership_state(membership: Membership) -> str:
    """"deactivated", "pending" (invitation not accepted yet) or "active": a seat as the customer's Usuários
    page shows it."""
    if not membership.active:
        return "deactivated"
    return "pending" if membership.accepted_at is None else "active"


def user_state(user: User) -> str:
    """A user's situation on the staff list: deactivated when the account is, or when every seat is; else active
    when a seat gives access; else pending (only invitations not accepted yet)."""
    if not user.active:
        return "deactivated"
    if user.is_staff:
        return "active"
    states = {membership_state(m) for m in user.memberships}
    for state in ("active", "pending"):
        if state in states:
            return state
    return "deactivated"


@bp.get("/usuarios")
@staff_requires(StaffPermission.USERS_READ)
def users():
    query = (request.args.get("q") or "").strip().lower()
    page = _page()
    rows = accounts.search_users(query, page=page, per_page=PER_PAGE)
    return render_template("backoffice/users.html", users=rows[:PER_PAGE], query=query, page=page,
                           has_next=len(rows) > PER_PAGE, role_labels=ROLE_LABELS,
                           staff_role_labels=STAFF_ROLE_LABELS, user_state=user_state,
                           membership_state=membership_state)
