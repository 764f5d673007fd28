"""The one Huey instance and how rooms declare and enqueue background jobs.

`JOBS_URL` chooses the storage: `sqlite:///path` (default, a consumer started by `make run`),
`redis://host:port/db` (many consumers on many machines), or `memory://` (jobs run inline, as in
unit tests). The consumer is started with `huey_consumer portal.jobs.registry.huey` (which imports every task).

Jobs are enqueued only after the database transaction that asked for them commits
(`enqueue_after_commit`), so a consumer never looks for a row that is not there yet.
"""

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, current_app, has_app_context
from huey import Huey, MemoryHuey, RedisHuey, SqliteHuey
from sqlalchemy import event
from sqlalchemy.orm import Session

from config import load as load_config

_PENDING = "portal_jobs_pending"


def make_huey(url: str) -> Huey:
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisHuey("portal", url=url)
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteHuey("portal", filename=str(path))
    if url == "memory://":
        return MemoryHuey("portal", immediate=True)
    raise RuntimeError(f"JOBS_URL must be sqlite:///…, redis://… or memory://, not {url!r}")


huey = make_huey(os.environ.get("JOBS_URL") or load_config()["JOBS_URL"])

_app: Flask | None = None


def _consumer_app() -> Flask:
    """The app a consumer process runs jobs in (created once, from the same environment)."""
    global _app
    if _app is None:
        from portal import create_app

        _app = create_app()
    return _app


def _in_app_context(fn: Callable) -> Callable:
    """Run a job in an app context of its own, so it gets its own database session.

    In a consumer that is the consumer's app; inline (immediate mode) it is a fresh context of the
    current app, because the enqueueing session may be in the middle of committing.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        app = current_app._get_current_object() if has_app_context() else _consumer_app()
        with app.app_context():
            return fn(*args, **kwargs)

    return wrapper


def task(**options: Any) -> Callable:
    """`@task(retries=3, retry_delay=60)`: a Huey task that runs inside an app context."""

    def decorator(fn: Callable) -> Callable:
        return huey.task(**options)(_in_app_context(fn))

    return decorator


def periodic_task(validate_datetime: Callable, **options: Any) -> Callable:
    """A scheduled job; enqueued by the consumer whose scheduler runs (`-n` turns it off elsewhere)."""

    def decorator(fn: Callable) -> Callable:
        return huey.periodic_task(validate_datetime, **options)(_in_app_context(fn))

    return decorator


def enqueue_after_commit(session: Session, job: Callable, *args: Any) -> None:
    """Call `job(*args)` (which enqueues it) once `session` commits; forget it on rollback."""
    session.info.setdefault(_PENDING, []).append((job, args))


def _install_session_hooks() -> None:
    @event.listens_for(Session, "after_commit")
    def _run_pending(session: Session) -> None:
        pending = session.info.pop(_PENDING, [])
        for job, args in pending:
            job(*args)

    @event.listens_for(Session, "after_soft_rollback")
    def _drop_pending(session: Session, previous_transaction: Any) -> None:
        session.info.pop(_PENDING, None)


_install_session_hooks()


def configure_for_app(app: Flask) -> None:
    """Unit tests run jobs inline (JOBS_URL=memory:// makes the instance immediate)."""
    if app.config.get("JOBS_IMMEDIATE"):
        huey.immediate = True
    app.extensions["huey"] = huey


def current_huey() -> Huey:
    return current_app.extensions.get("huey", huey)
