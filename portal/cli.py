"""Command-line verbs: `flask --app wsgi db|demo|demo-code|audit|staff …`."""

import json

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from portal import demo
from portal.accounts import service
from portal.accounts.roles import StaffRole
from portal.api import tokens as api_tokens
from portal.audit import checkpoints
from portal.billing import bank, fiscal, pix_charges
from portal.billing.run import organizations_due, run_billing
from portal.billing.settings import BillingSettings
from portal.extensions import db
from portal.integrations import nfse_nacional
from portal.integrations.a1 import CertificateError
from portal.integrations.pix import PixError
from portal.migrate import alembic_config, upgrade
from portal.shared import clock
from portal.shared.audit import Actor, ExternalCheckpoint, current_keyring, rotate_key, verify
from portal.shared.audit_keys import UnknownKey
from portal.shared.documents_cli import documents_group
from portal.shared.encryption import secrets_group
from portal.shared.errors import ServiceError


def register(app: Flask) -> None:
    app.cli.add_command(db_group)
    app.cli.add_command(demo_command)
    app.cli.add_command(demo_code_command)
    app.cli.add_command(audit_group)
    app.cli.add_command(staff_group)
    app.cli.add_command(billing_group)
    app.cli.add_command(fiscal_group)
    app.cli.add_command(api_group)
    app.cli.add_command(documents_group)
    app.cli.add_command(secrets_group)


db_group = AppGroup("db", help="Database schema (Alembic migrations in migrations/).")


@db_group.command("upgrade", help="Apply migrations up to REVISION (default: head).")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:

    upgrade(current_app._get_current_object(), revision)
    click.echo(f"database at {revision}")


@db_group.command("revision", help="Create a new dated migration file.")
@click.option("-m", "--message", required=True)
@click.option("--autogenerate", is_flag=True, help="Fill it from the difference between models and database.")
def db_revision(message: str, autogenerate: bool) -> None:
    from alembic import command


    command.revision(alembic_config(current_app._get_current_object()), message=message, autogenerate=autogenerate)


@db_group.command("current", help="Show the database's revision.")
def db_current() -> None:
    from alembic import command


    command.current(alembic_config(current_app._get_current_object()))


@db_group.command("heads", help="Show the newest migration(s).")
def db_heads() -> None:
    from alembic import command


    command.heads(alembic_config(current_app._get_current_object()))


@click.command("demo", help="Load the demo organizations and users.")
@click.option("--if-empty", is_flag=True, help="Only when the database has no user yet (used by `make run`).")
@with_appcontext
def demo_command(if_empty: bool) -> None:

    if if_empty and not demo.database_is_empty():
        click.echo("database has data; demo not loaded")
        return
    if if_empty and current_app.config["PORTAL_ENV"] != "development":
        click.echo("demo data is loaded automatically only in development")
        return
    if demo.load(current_app.config["DEMO_PASSWORD"], current_app.config["PASSWORD_HASH_METHOD"]):
        click.echo("demo data loaded")
    else:
        click.echo("demo data already present")


@click.command("demo-code", help="The current two-factor code of the demo staff users.")
@with_appcontext
def demo_code_command() -> None:

    click.echo(demo.current_code())


audit_group = AppGroup("audit", help="The audit trail: its keyed hash chain and signed checkpoints.")


def _external_checkpoint(path: str) -> ExternalCheckpoint:
    """A checkpoint file as stored and e-mailed (portal/audit/checkpoints.py)."""
    try:
        with open(path, encoding="utf-8") as file:
            document = json.load(file)
        return ExternalCheckpoint(label=path, payload=document["payload"], signature=document["signature"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise click.ClickException(f"{path}: not a checkpoint file ({error})") from error


@audit_group.command("verify", help="Check the chain with its keys and every checkpoint; exit 1 naming the first "
                                    "event or checkpoint that disagrees.")
@click.option("--checkpoint", "files", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="A checkpoint JSON kept outside the database (e-mailed, from the document store); repeatable.")
def audit_verify(files: tuple[str, ...]) -> None:

    result = verify(external=[_external_checkpoint(path) for path in files])
    if result.ok:
        keyed = (f"keyed from event {result.keyed_from}" if result.keyed_from
                 else "NOT keyed yet (plain SHA-256 only; the next event switches to the key)")
        click.echo(f"audit chain intact: {result.checked} events, {keyed}, {result.checkpoints} checkpoints agree")
        return
    where = ", ".join(part for part in (result.broken_seq and f"event {result.broken_seq}",
                                        result.checkpoint and f"checkpoint {result.checkpoint}") if part)
    click.echo(f"audit chain BROKEN at {where}: {result.reason} "
               f"({result.checked} events verified before it)", err=True)
    raise SystemExit(1)


@audit_group.command("rotate-key", help="Write the key-switch event to the current AUDIT_CHAIN_KEY now (the first "
                                        "audit event after a key change writes it otherwise).")
def audit_rotate_key() -> None:

    try:
        switch = rotate_key()
    except UnknownKey as error:
        db.session.rollback()
        raise click.ClickException(str(error)) from error
    db.session.commit()
    key_id = current_keyring().current_id
    if switch is None:
        click.echo(f"audit chain already under key {key_id}")
    else:
        click.echo(f"audit chain switched to key {key_id} at event {switch['seq']} ({switch['tag']})")


@audit_group.command("checkpoint", help="Sign the chain's head now: stored, recorded and e-mailed to compliance.")
def audit_checkpoint() -> None:

    checkpoint = checkpoints.make_checkpoint(actor=Actor.system("cli"))
    click.echo(f"checkpoint {checkpoint.id}: event {checkpoint.seq}, hash {checkpoint.head_hash}, "
               f"document {checkpoint.document_sha256}")


@audit_group.command("public-key", help="The Ed25519 public key checkpoints are signed with (PEM, base64, "
                                        "fingerprint).")
def audit_public_key() -> None:

    click.echo(checkpoints.public_key_text(), nl=False)


staff_group = AppGroup("staff", help="Staff users.")


@staff_group.command("create", help="Create a staff user (e.g. the first admin of a new installation).")
@click.argument("email")
@click.option("--name", required=True)
@click.option("--role", "roles", multiple=True, required=True,
              type=click.Choice(["comercial", "financeiro", "suporte", "compliance", "admin"]))
@click.password_option()
def staff_create(email: str, name: str, roles: tuple[str, ...], password: str) -> None:

    try:
        user = service.create_staff_user(email=email, name=name, roles={StaffRole(r) for r in roles},
                                         password=password, actor=Actor.system("cli"))
    except ServiceError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from error
    click.echo(f"staff user {user.email} created; two-factor enrolment happens at the first sign-in")


api_group = AppGroup("api", help="The REST API (/api/v1).")
api_token_group = AppGroup("token", help="API tokens.")
api_group.add_command(api_token_group)


@api_token_group.command("create", help="Create an API token of EMAIL's membership in an organization; prints it.")
@click.argument("email")
@click.option("--organization", "cnpj", required=True, help="The organization's CNPJ, with or without its mask.")
@click.option("--name", required=True, help="What the token is for (shown on the Tokens de API page).")
@click.option("--roles", default="", help="Comma-separated roles (master, adm, cobranca, suporte); default: the "
                                          "member's own. Never wider than the member's.")
def api_token_create(email: str, cnpj: str, name: str, roles: str) -> None:
    chosen = [role.strip() for role in roles.split(",") if role.strip()]
    try:
        _token, text = api_tokens.create_token_for(email, cnpj=cnpj, name=name, roles=chosen or None)
    except ServiceError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from error
    click.echo(text)


billing_group = AppGroup("billing", help="Invoicing.")


@billing_group.command("run", help="Invoice every organization whose billing day is DATE (default: today).")
@click.option("--date", "on", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="The billing day, YYYY-MM-DD (business date in São Paulo).")
def billing_run(on) -> None:

    day = on.date() if on is not None else clock.today()
    settings = BillingSettings.from_config(current_app.config)
    total = len(organizations_due(day))
    click.echo(f"billing run for {day.isoformat()}: {total} organization(s) have this billing day")
    with click.progressbar(length=total, label="invoicing", show_pos=True) as bar:
        result = run_billing(on=day, settings=settings, actor=Actor.system("cli"),
                             progress=lambda done, _total: bar.update(done - bar.pos))
    click.echo(f"issued {len(result.issued)}, already issued {result.existing}, "
               f"nothing to bill {result.nothing_to_bill}, failed {len(result.failed)}")
    for organization_id, error in result.failed:
        click.echo(f"  organization {organization_id}: {error}", err=True)
    if result.failed:
        raise SystemExit(1)


@billing_group.command("remessa", help="Write the day's CNAB 240 remessa for the configured bank account.")
@click.option("--bank", "bank_code", required=True,
              help="The bank's code: 341 Itaú, 001 Banco do Brasil, 237 Bradesco.")
@click.option("--date", "on", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="The business day, YYYY-MM-DD (default: today).")
@click.option("--output", required=True, type=click.Path(dir_okay=False, writable=True), help="Where to write it.")
def billing_remessa(bank_code: str, on, output: str) -> None:
    settings = BillingSettings.from_config(current_app.config)
    if bank_code != settings.bank:
        raise click.ClickException(f"the configured bank account is at bank {settings.bank}, not {bank_code}")
    day = on.date() if on is not None else clock.today()
    result = bank.build_remessa(day, settings, Actor.system("cli"))
    with open(output, "wb") as file:
        file.write(result.data)
    remessa = result.remessa
    click.echo(f"remessa {day.isoformat()} NSA {remessa.nsa}: {remessa.movement_count} movement(s), "
               f"{remessa.entradas} entrada(s), {remessa.baixas} baixa(s), total {remessa.total_cents} centavos"
               f"{'' if result.created else ' (already produced today: the same file)'}")


@billing_group.command("simulate-retorno",
                       help="The bank's simulator (a demonstration): the retorno a bank would send for a remessa.")
@click.argument("remessa_path", type=click.Path(exists=True, dir_okay=False))
@click.option("--pay", "pays", multiple=True, metavar="NN[=CENTS]",
              help="A boleto paid today: its nosso número (the bank's part, as in the remessa), optionally the "
                   "amount in centavos (default: the face value, plus multa and juros when late). Repeatable.")
@click.option("--date", "on", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="The day of the payments and of the file, YYYY-MM-DD (default: today).")
@click.option("--output", required=True, type=click.Path(dir_okay=False, writable=True), help="Where to write it.")
def billing_simulate_retorno(remessa_path: str, pays: tuple[str, ...], on, output: str) -> None:
    simulator = current_app.extensions.get("bank_simulator")
    if simulator is None:
        raise click.ClickException("the bank's simulator is off (BANK_BACKEND=none)")
    pay: dict[str, int | None] = {}
    for item in pays:
        nosso_numero, _, cents = item.partition("=")
        if not nosso_numero.isdigit() or (cents and not cents.isdigit()):
            raise click.BadParameter(f"expected NN or NN=CENTS (digits), got {item!r}", param_hint="--pay")
        pay[nosso_numero] = int(cents) if cents else None
    with open(remessa_path, "rb") as file:
        data = file.read()
    try:
        simulated = simulator.respond(data, pay, on=on.date() if on is not None else clock.today())
    except ValueError as error:  # CnabError included: a broken remessa
        raise click.ClickException(str(error)) from error
    with open(output, "wb") as file:
        file.write(simulated.data)
    click.echo(f"retorno simulado: {simulated.confirmed} entrada(s) confirmada(s), {simulated.written_off} "
               f"baixa(s), {simulated.paid} paga(s) (R$ {simulated.paid_cents / 100:.2f})")


@billing_group.command("retorno", help="Import a CNAB 240 retorno file from the bank.")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def billing_retorno(path: str) -> None:
    settings = BillingSettings.from_config(current_app.config)
    with open(path, "rb") as file:
        data = file.read()
    try:
        summary = bank.import_retorno(data, path.rsplit("/", 1)[-1], Actor.system("cli"), settings)
    except bank.BankFileRefused as error:
        raise click.ClickException(error.message) from error
    if summary.file_already_imported:
        click.echo(f"{path}: já importado (nada novo)")
        return
    click.echo(f"{path}: confirmadas {summary.confirmed}, rejeitadas {summary.rejected}, pagas {summary.paid} "
               f"(R$ {summary.paid_cents / 100:.2f}), desconhecidas {summary.unknown}, "
               f"já importadas {summary.already_imported}, outras {summary.other}")
    for message in summary.exceptions:
        click.echo(f"  {message}")


pix_webhook_group = AppGroup("pix-webhook", help="The Pix webhook at the PSP (API Pix PUT/GET/DELETE /webhook).")
billing_group.add_command(pix_webhook_group)


def _pix_webhook(action):
    try:
        return action()
    except (ServiceError, PixError) as error:
        raise click.ClickException(str(error.message if isinstance(error, ServiceError) else error)) from error


@pix_webhook_group.command("register", help="Register BASE_URL/webhooks/pix/<PIX_WEBHOOK_SECRET> for PIX_KEY.")
def pix_webhook_register() -> None:
    url = _pix_webhook(pix_charges.register_webhook)
    click.echo(f"webhook registered for key {current_app.config['PIX_KEY']}: {url} (the PSP POSTs to …/pix)")


@pix_webhook_group.command("show", help="The webhook URL the PSP has for PIX_KEY.")
def pix_webhook_show() -> None:
    url = _pix_webhook(pix_charges.registered_webhook)
    click.echo(url or f"no webhook registered for key {current_app.config['PIX_KEY']}")


@pix_webhook_group.command("remove", help="Remove the webhook of PIX_KEY at the PSP (only polling remains).")
def pix_webhook_remove() -> None:
    _pix_webhook(pix_charges.remove_webhook)
    click.echo(f"webhook of key {current_app.config['PIX_KEY']} removed")


fiscal_group = AppGroup("fiscal", help="Notas fiscais (NFS-e).")


@fiscal_group.command("dps", help="Write the signed DPS the NFS-e Nacional adapter would send for INVOICE_NUMBER "
                                  "(e.g. 2026/000123), without sending it and without taking a DPS number.")
@click.argument("invoice_number")
@click.option("--output", required=True, type=click.Path(dir_okay=False, writable=True), help="Where to write it.")
def fiscal_dps(invoice_number: str, output: str) -> None:
    settings = BillingSettings.from_config(current_app.config)
    issuer = current_app.extensions["fiscal_issuer"]
    try:
        if issuer.backend != "nfse_nacional":  # e.g. the simulator in development: the same adapter, not sending
            issuer = nfse_nacional.from_config(current_app.config, current_app.instance_path)
        preview = fiscal.dps_preview(fiscal.invoice_by_number(invoice_number), settings=settings, issuer=issuer)
    except (ServiceError, RuntimeError, CertificateError) as error:
        raise click.ClickException(getattr(error, "message", None) or str(error)) from None
    with open(output, "wb") as file:
        file.write(preview.data)
    origin = ("the invoice's own DPS number" if preview.taken
              else "the next free DPS number, NOT taken: the real note may get another one")
    signer = issuer.a1
    click.echo(f"DPS {preview.identifier} for invoice {preview.invoice.display_number}: series {preview.series}, "
               f"number {preview.number} ({origin}); signed by {signer.cnpj}"
               f"{' with the DEVELOPMENT certificate (no authority accepts it)' if signer.development else ''}; "
               f"written to {output} ({len(preview.data)} bytes); nothing was sent")
