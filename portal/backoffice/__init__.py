"""The staff's door: the backoffice blueprint. Each module here shows one area to the staff and calls that
area's service; the areas themselves (models, rules, jobs) live in their own rooms."""

from flask import Blueprint, current_app, request, url_for

bp = Blueprint("backoffice", __name__, url_prefix="/backoffice")

# The staff navigation's links (backoffice/_nav.html): routes without arguments, the same on every page.
NAV_ENDPOINTS = ("index", "organizations", "users", "orders", "catalog", "invoices", "audit_cancellations",
                 "agreements", "tickets", "offers", "deals", "onboarding")


@bp.app_template_global("backoffice_nav_urls")
def nav_urls() -> dict[str, str]:
    """The navigation's URLs by endpoint name ("invoices" → "/backoffice/faturas"), built with `url_for` once per
    application and script root (SCRIPT_NAME), not ten times per staff page."""
    kept = current_app.extensions.setdefault("backoffice_nav_urls", {})
    urls = kept.get(request.script_root)
    if urls is None:
        urls = kept[request.script_root] = {name: url_for(f"backoffice.{name}") for name in NAV_ENDPOINTS}
    return urls
