"""The portal's application factory (`create_app`): extensions, integrations, blueprints, CLI, error handlers.

The composition root: it imports every room (their blueprints, jobs and integrations); nothing imports it but
the entry points (wsgi.py, the job consumer's registry, migrations, tests, benches)."""

import sqlite3
from typing import Any

from flask import Flask, flash, g, has_request_context, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import refresh as refresh_locale
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.exceptions import SecurityError
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from portal import config, jobs, navigation, staff_navigation
from portal.accounts.context import load_request_context, load_user, session_expired
from portal.accounts.roles import Permission, StaffPermission
from portal.accounts.views import bp as accounts_bp
from portal.agreements.views import bp as agreements_bp
from portal.api import openapi as api_openapi
from portal.api import problems as api_problems
from portal.api import rest as api_rest
from portal.api.views import bp as api_tokens_bp
from portal.approvals.views import bp as approvals_bp
from portal.backoffice import agreements as _backoffice_agreements  # noqa: F401 - registers its routes
from portal.backoffice import audit as _backoffice_audit  # noqa: F401 - registers its routes
from portal.backoffice import bank as _backoffice_bank  # noqa: F401 - registers its routes
from portal.backoffice import billing as _backoffice_billing  # noqa: F401 - registers its routes
from portal.backoffice import billing_review as _backoffice_billing_review  # noqa: F401 - registers its routes
from portal.backoffice import bp as backoffice_bp
from portal.backoffice import catalog as _backoffice_catalog  # noqa: F401 - registers its routes
from portal.backoffice import corrections as _backoffice_corrections  # noqa: F401 - registers its routes
from portal.backoffice import cosell as _backoffice_cosell  # noqa: F401 - registers its routes
from portal.backoffice import dunning as _backoffice_dunning  # noqa: F401 - registers its routes
from portal.backoffice import fiscal as _backoffice_fiscal  # noqa: F401 - registers its routes
from portal.backoffice import offers as _backoffice_offers  # noqa: F401 - registers its routes
from portal.backoffice import onboarding as _backoffice_onboarding  # noqa: F401 - registers its routes
from portal.backoffice import orders as _backoffice_orders  # noqa: F401 - registers its routes
from portal.backoffice import organizations as _backoffice_organizations  # noqa: F401 - registers its routes
from portal.backoffice import pack as _backoffice_pack  # noqa: F401 - registers its routes
from portal.backoffice import reconciliation as _backoffice_reconciliation  # noqa: F401 - registers its routes
from portal.backoffice import tickets as _backoffice_tickets  # noqa: F401 - registers its routes
from portal.billing import bank_simulator
from portal.billing.views import bp as billing_bp
from portal.billing.webhooks import bp as webhooks_bp
from portal.budgets.views import bp as budgets_bp
from portal.cancellations.views import bp as cancellations_bp
from portal.catalog.views import bp as catalog_bp
from portal.cli import register as register_cli
from portal.entra.views import bp as entra_bp
from portal.extensions import babel, csrf, db, login_manager
from portal.health import bp as health_bp
from portal.home.views import bp as home_bp
from portal.integrations import esign, fiscal_issuers, graph, mailer, partner_center, payments, pix, teams
from portal.jobs import tasks as _tasks  # noqa: F401 - every job's name, for jobs.enqueue
from portal.licence_usage.views import bp as licence_usage_bp
from portal.observability import web as observability
from portal.offers.views import bp as offers_bp
from portal.onboarding.webhooks import bp as onboarding_webhooks_bp
from portal.shared import clock, data_versions, documents, template_gettext
from portal.shared import cnpj as cnpj_module
from portal.shared.audit import AUDIT_TAG_LABELS
from portal.shared.audit_subjects import actor_label, subject_label
from portal.shared.document_store import DocumentStoreError
from portal.shared.formatting import current_locale_name, format_date, format_datetime, format_money, format_period
from portal.shared.fragments import FragmentCache
from portal.shared.permissions import customer_can, public, staff_can
from portal.shared.templating import PortalEnvironment
from portal.shared.urls import fixed_url_builder, url_pattern
from portal.subscriptions import order_texts
from portal.subscriptions.views import bp as subscriptions_bp
from portal.support.views import bp as support_bp
from portal.webhooks.views import bp as webhook_endpoints_bp


def _select_locale() -> str:
    """The user's saved preference, else the one chosen on the page, else Portuguese."""
    if not has_request_context():  # CLI and jobs: messages in the default language
        return "pt_BR"
    if api_problems.is_api_request():  # the REST API: its Accept-Language header, never a session
        return api_problems.api_locale(request)
    if current_user and current_user.is_authenticated and current_user.language:
        return current_user.language
    return session.get("lang") or "pt_BR"


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """SQLite: foreign keys on, WAL, wait for locks instead of failing, and transactions we begin ourselves."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" listener below issues BEGIN
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA busy_timeout = 30000")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.close()


@event.listens_for(Engine, "begin")
def _sqlite_begin_immediate(connection: Any) -> None:
    # BEGIN IMMEDIATE takes the write lock up front, so a transaction that reads and then writes
    # never fails half-way with "database is locked"; writers queue on busy_timeout instead.
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")


@event.listens_for(Engine, "rollback")
def _postgresql_end_read_only_with_commit(connection: Any) -> None:
    """PostgreSQL: end a transaction that wrote nothing with COMMIT instead of ROLLBACK.

    For the database the two are the same when nothing was written (no transaction id was assigned: no row
    inserted, changed, deleted or locked), but psycopg forgets its prepared statements on every rollback, and
    every request ends with one (the session is closed). Without this, no statement would ever stay
    prepared and PostgreSQL would plan every query of every page again: about 1 ms for "Licenças", more than
    running it. A transaction that wrote, or failed, is rolled back as asked.
    """
    if connection.dialect.name != "postgresql":
        return
    driver = connection.connection.driver_connection
    if driver is None or driver.info.transaction_status.name != "INTRANS":
        return
    with driver.cursor() as cursor:
        cursor.execute("SELECT pg_current_xact_id_if_assigned() IS NULL")
        wrote_nothing = cursor.fetchone()[0]
    if wrote_nothing:
        driver.commit()  # the rollback SQLAlchemy sends next finds no transaction and keeps the statements


def create_app(overrides: dict | None = None) -> Flask:
    # Templates and static files: portal/templates, portal/static (in the package, so a wheel carries them).
    app = Flask(__name__, instance_path=str(config.INSTANCE_DIR))
    app.jinja_environment = PortalEnvironment  # `{{ … }}` escaped to plain strings (portal/shared/templating.py)
    app.config.from_mapping(config.load((overrides or {}).get("PORTAL_ENV")))
    app.config.update(overrides or {})
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        config.INSTANCE_DIR.mkdir(parents=True, exist_ok=True)

    if app.config["PROXY_FIX_X_FOR"] or app.config["PROXY_FIX_X_PROTO"]:
        # Behind the load balancer: the client's IP (rate limits, audit) from X-Forwarded-For, as many hops
        # as configured; the Host is never taken from a header (TRUSTED_HOSTS checks the real one).
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["PROXY_FIX_X_FOR"],
                                x_proto=app.config["PROXY_FIX_X_PROTO"], x_host=0, x_port=0, x_prefix=0)
    _init_extensions(app)
    _init_integrations(app)
    _register_blueprints(app)
    observability.init_app(app, jobs.current_huey)  # request id, log line, metrics: before the other hooks
    _register_request_hooks(app)
    _register_error_handlers(app)
    _register_template_helpers(app)


    register_cli(app)
    return app


def _init_extensions(app: Flask) -> None:
    db.init_app(app)
    data_versions.install()  # every session's writes renew their organizations' data versions
    csrf.init_app(app)
    babel.init_app(app, locale_selector=_select_locale)
    template_gettext.install(app)  # templates' _() and ngettext(): a catalog lookup per call
    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.session_protection = "basic"


    login_manager.login_message = _l("Entre para continuar.")
    login_manager.login_message_category = "info"


    login_manager.user_loader(load_user)


def _init_integrations(app: Flask) -> None:

    app.extensions["mailer"] = mailer.from_config(app.config)
    app.extensions["provisioner"] = partner_center.from_config(app.config)
    app.extensions["licence_usage"] = graph.from_config(app.config)

    app.extensions["payment_gateway"] = payments.from_config(app.config)
    app.extensions["pix_provider"] = pix.from_config(app.config)  # None with PIX_BACKEND=static

    app.extensions["fiscal_issuer"] = fiscal_issuers.from_config(app.config, app.instance_path)
    app.extensions["bank_simulator"] = bank_simulator.from_config(app.config)  # None with BANK_BACKEND=none

    app.extensions["esign"] = esign.from_config(app.config)
    app.extensions["teams"] = teams.from_config(app.config)
    jobs.configure_for_app(app)


class _IdConverter(IntegerConverter):
    """`<int:…>` in URLs stops at the largest id a database column holds: a bigger number matches no
    route (404) instead of overflowing the driver (500)."""

    def __init__(self, url_map, fixed_digits=0, min=None, max=2**31 - 1, signed=False) -> None:
        super().__init__(url_map, fixed_digits, min, max, signed)


def _register_blueprints(app: Flask) -> None:
    app.url_map.converters["int"] = _IdConverter


    app.register_blueprint(accounts_bp)
    app.register_blueprint(home_bp)
    app.register_blueprint(subscriptions_bp)
    app.register_blueprint(cancellations_bp)
    app.register_blueprint(catalog_bp)
    app.register_blueprint(billing_bp)
    app.register_blueprint(budgets_bp)
    app.register_blueprint(approvals_bp)
    app.register_blueprint(agreements_bp)
    app.register_blueprint(support_bp)
    app.register_blueprint(backoffice_bp)
    app.register_blueprint(offers_bp)
    app.register_blueprint(licence_usage_bp)
    app.register_blueprint(entra_bp)
    app.register_blueprint(health_bp)
    app.register_blueprint(webhooks_bp)
    app.register_blueprint(onboarding_webhooks_bp)
    app.register_blueprint(webhook_endpoints_bp)
    app.register_blueprint(api_tokens_bp)
    api_rest.init_app(app)  # the REST API (/api/v1): bearer tokens only, so no CSRF
    csrf.exempt(api_rest.bp)
    app.register_blueprint(api_openapi.bp)
    app.view_functions["static"] = public(app.view_functions["static"])

    @app.get("/favicon.ico")
    @public
    def favicon():
        """Browsers ask every site for /favicon.ico whatever the page links: a real icon, not a 404."""
        return app.send_static_file("favicon.ico")


def _register_request_hooks(app: Flask) -> None:


    @app.before_request
    def _context():
        if request.endpoint in ("static", "favicon"):
            return None
        # A Host outside TRUSTED_HOSTS: Flask answers 400 after these hooks; nothing is loaded for it meanwhile
        # (no URL can be built for such a request either).
        if isinstance(request.routing_exception, SecurityError):
            return None
        # A request run inside an already pushed app context (tests, CLI) shares its `g`;
        # it must never inherit the previous request's user or language.
        g.pop("_login_user", None)
        navigation.forget()
        staff_navigation.forget()
        refresh_locale()
        if api_problems.is_api_request():  # the REST API authenticates each request by its token, never a cookie
            g.membership = g.organization = None
            g.memberships, g.permissions, g.staff_permissions = [], frozenset(), frozenset()
            return None
        if current_user.is_authenticated and session_expired():
            flash(_("Sua sessão expirou por inatividade. Entre novamente."), "warning")
            return redirect(url_for("accounts.login", next=request.path))
        load_request_context(*navigation.membership_badges())
        return None

    @app.after_request
    def _security_headers(response):
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "object-src 'none'; base-uri 'self'; form-action 'self'"
            # a page whose form redirects to another site names it (the Microsoft link: portal/entra/views.py)
            + "".join(f" {origin}" for origin in getattr(request, "form_action_origins", ()))
            + "; frame-ancestors 'none'",
        )
        if app.config["SESSION_COOKIE_SECURE"]:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if current_user.is_authenticated:
            headers.setdefault("Cache-Control", "no-store")
        return response


def _register_error_handlers(app: Flask) -> None:

    @app.errorhandler(403)
    def forbidden(_error):
        if api_problems.is_api_request():
            return api_problems.for_status(403)
        return render_template("errors/403.html"), 403

    @app.errorhandler(404)
    def not_found(_error):
        if api_problems.is_api_request():
            return api_problems.for_status(404)
        return render_template("errors/404.html"), 404

    @app.errorhandler(405)
    def method_not_allowed(_error):
        if api_problems.is_api_request():
            return api_problems.for_status(405)
        return render_template("errors/generic.html", code=405,
                               message=_("Esta ação não está disponível por aqui.")), 405

    @app.errorhandler(410)
    def gone(_error):
        return render_template("errors/generic.html", code=410, message=_("Este link não vale mais.")), 410

    @app.errorhandler(SecurityError)
    def untrusted_host(_error):
        # The Host header names none of TRUSTED_HOSTS: answered before anything reads it to build a link.
        return render_template("errors/untrusted_host.html"), 400

    @app.errorhandler(CSRFError)
    def csrf_error(_error):
        return render_template(
            "errors/generic.html", code=400,
            message=_(
                "O formulário expirou ou foi enviado de outro lugar. Volte, recarregue a página e tente de novo."
            ),
        ), 400

    @app.errorhandler(413)
    def too_large(_error):
        if api_problems.is_api_request():
            return api_problems.for_status(413)
        limit_mb = (app.config.get("MAX_CONTENT_LENGTH") or 0) // (1024 * 1024)
        return render_template(
            "errors/generic.html", code=413,
            message=_("O envio passou do tamanho máximo aceito (%(mb)d MB). Envie arquivos menores.", mb=limit_mb),
        ), 413

    @app.errorhandler(429)
    def too_many(_error):
        if api_problems.is_api_request():
            return api_problems.for_status(429)
        return render_template(
            "errors/generic.html", code=429,
            message=_("Muitas tentativas em pouco tempo. Aguarde um minuto e tente de novo."),
        ), 429

    @app.errorhandler(DocumentStoreError)
    def document_store_down(_error):
        # A document a request had to keep could not be stored (the forms people send say so on their field:
        # documents.store_sent); anything else, e.g. a provider's webhook, is a 503 to send again later.
        db.session.rollback()
        return documents.unavailable_response(
            _("Não foi possível guardar os documentos agora: nada foi salvo. Tente de novo em alguns minutos."))

    @app.errorhandler(500)
    def server_error(_error):
        if api_problems.is_api_request():
            db.session.rollback()
            return api_problems.for_status(500)
        db.session.rollback()
        return render_template("errors/500.html"), 500


def _register_template_helpers(app: Flask) -> None:

    app.jinja_env.filters["brl"] = format_money
    app.jinja_env.filters["date"] = format_date
    app.jinja_env.filters["datetime"] = format_datetime
    app.jinja_env.filters["period"] = format_period
    app.jinja_env.filters["cnpj"] = cnpj_module.format
    app.jinja_env.globals["url_pattern"] = url_pattern
    app.jinja_env.globals["fixed_url"] = fixed_url_builder()
    app.jinja_env.globals.update(order_texts.TEMPLATE_GLOBALS, subject_label=subject_label, actor_label=actor_label)

    app.extensions["fragments"] = FragmentCache(app.config["FRAGMENT_CACHE_BYTES"])
    app.extensions["read_models"] = FragmentCache(app.config["READ_MODEL_CACHE_BYTES"])
    app.context_processor(navigation.context)
    app.context_processor(lambda: {"staff_nav_badges": staff_navigation.staff_badges})

    @app.context_processor
    def _globals():
        return {
            "can": customer_can,
            "staff_can": staff_can,
            "Permission": Permission,
            "StaffPermission": StaffPermission,
            "current_locale": current_locale_name(),  # str(Locale) rebuilds the name on every call
            "languages": app.config["LANGUAGES"],
            "audit_tag_label": lambda tag: AUDIT_TAG_LABELS.get(tag, tag),
            "current_membership": getattr(g, "membership", None),
            "current_organization": getattr(g, "organization", None),
            "user_memberships": getattr(g, "memberships", []),
            "now": clock.now,
        }
