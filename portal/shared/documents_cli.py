"""`flask --app wsgi documents migrate|verify`: move stored documents between backends, check every one's hash."""

import click
from flask.cli import AppGroup

from portal.shared import document_store, documents

documents_group = AppGroup("documents", help="Stored documents (invoices, boletos, notas fiscais, attachments).")


@documents_group.command("migrate", help="Move every stored document to backend TO (idempotent, resumable).")
@click.option("--to", "to", required=True, type=click.Choice(document_store.BACKENDS))
@click.option("--batch", default=100, show_default=True, help="Documents per commit.")
def migrate_command(to: str, batch: int) -> None:
    def progress(report: documents.MoveReport) -> None:
        click.echo(f"... moved {report.moved}, failed {len(report.failed)}")

    report = documents.migrate(to, batch=batch, progress=progress)
    click.echo(f"moved {report.moved}, already in {to} {report.already}, failed {len(report.failed)}")
    for digest in report.failed:
        click.echo(f"failed: {digest}", err=True)
    if report.failed:
        raise SystemExit(1)


@documents_group.command("verify", help="Read every stored document from its backend and check its SHA-256.")
def verify_command() -> None:
    report = documents.verify_all()
    click.echo(f"good {report.good}, bad {len(report.bad)}")
    for digest, backend in report.bad:
        click.echo(f"bad: {digest} ({backend})", err=True)
    if report.bad:
        raise SystemExit(1)
