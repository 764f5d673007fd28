"""`portal`: the command of an installed portal (`pip install .`; a wheel has no Makefile and no checkout).

    portal web [--bind 127.0.0.1:8000] [--workers 2] [--threads 4]   gunicorn serving portal.wsgi:app
    portal worker [--workers 2]                                         the Huey job consumer (add -n on every
                                                                        machine but one: periodic jobs)
    portal db upgrade | demo --if-empty | audit verify | …             every `flask --app wsgi …` command

Settings come from the environment as in a checkout (README, "Production"); without PORTAL_INSTANCE_DIR the
development files live in ./instance of the current directory.
"""

import os
import sys

import click
from flask.cli import FlaskGroup

from portal.app import create_app


def _exec_module(module: str, *arguments: str) -> None:
    """Replace this process with `python -m module arguments` (so a service manager's signals reach it)."""
    os.execv(sys.executable, [sys.executable, "-m", module, *arguments])  # noqa: S606 - fixed module, our options


@click.group(cls=FlaskGroup, create_app=create_app, add_default_commands=False,
             help="The reseller's customer portal and staff backoffice.")
def main() -> None:
    pass


@main.command("web", help="Serve the portal with gunicorn (portal.wsgi:app).")
@click.option("--bind", default="127.0.0.1:8000", show_default=True, help="Address and port to listen on.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64), help="Worker processes.")
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 64), help="Threads per worker.")
def web(bind: str, workers: int, threads: int) -> None:
    _exec_module("gunicorn", "--bind", bind, "--workers", str(workers), "--threads", str(threads),
                 "--access-logfile", "-", "portal.wsgi:app")


@main.command("worker", context_settings={"ignore_unknown_options": True},
              help="Run the job consumer (huey_consumer portal.jobs.registry.huey); other options pass through.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64), help="Worker threads.")
@click.argument("consumer_options", nargs=-1, type=click.UNPROCESSED)
def worker(workers: int, consumer_options: tuple[str, ...]) -> None:
    _exec_module("huey.bin.huey_consumer", "portal.jobs.registry.huey", "--workers", str(workers),
                 "--worker-type", "thread", *consumer_options)
