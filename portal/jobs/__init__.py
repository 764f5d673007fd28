"""The one Huey instance and how rooms declare and enqueue background jobs.

`JOBS_URL` chooses the storage: `sqlite:///path` (default, a consumer started by `make run`),
`redis://host:port/db` (many consumers on many machines), or `memory://` (jobs run inline, as in
unit tests). The consumer is started with `huey_consumer portal.jobs.registry.huey` (which imports every task).

Arrows run one way: a room's `jobs.py` imports its service; a service never imports a `jobs.py`. A service
asks for work by the task's name — `jobs.enqueue("billing.complete_invoice", invoice.id)` — and the job is
queued only after the database transaction that asked for it commits, so a consumer never looks for a row
that is not there yet. A task's name is its room and function: `@task()` on `complete_invoice` in
`portal/billing/jobs.py` is "billing.complete_invoice". `portal/jobs/tasks.py` imports every room's jobs
module, so every name is known in the web process and in consumers alike.

Every job carries a small context, added when Huey enqueues it (its SIGNAL_ENQUEUED, so jobs queued by other
jobs, retries and periodic jobs get it too) in the keyword argument `_portal_context`: the id of the request
that queued it, the job's id and the enqueue time (the queue-age metric). The task's own function never sees
it: the app-context wrapper takes it off and runs the function with that request id and job id on its log lines.
Huey's signals count runs, failures and durations by task (portal/observability/metrics.py).
"""

import functools
import gc
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, current_app, has_app_context
from huey import Huey, MemoryHuey, RedisHuey, SqliteHuey
from huey import signals as huey_signals
from redis import ConnectionPool
from sqlalchemy import event
from sqlalchemy.orm import Session

from portal.config import load as load_config
from portal.extensions import db
from portal.observability import context, metrics
from portal.shared import clock

log = logging.getLogger(__name__)

_PENDING = "portal_jobs_pending"


# Seconds a Redis connection may take to open or to answer: a Redis that hangs fails a request that queues a job,
# and the readiness check, in seconds rather than never. More than Huey's 1 s blocking read of the consumer.
REDIS_TIMEOUT_SECONDS = 5.0


def make_huey(url: str, *, redis_timeout: float = REDIS_TIMEOUT_SECONDS) -> Huey:
    if url.startswith(("redis://", "rediss://", "unix://")):
        pool = ConnectionPool.from_url(url, socket_connect_timeout=redis_timeout, socket_timeout=redis_timeout)
        return RedisHuey("portal", connection_pool=pool)
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteHuey("portal", filename=str(path))
    if url == "memory://":
        return MemoryHuey("portal", immediate=True)
    raise RuntimeError(f"JOBS_URL must be sqlite:///…, redis://… or memory://, not {url!r}")


huey = make_huey(os.environ.get("JOBS_URL") or load_config()["JOBS_URL"])

_app: Flask | None = None
_app_factory: Callable[[], Flask] | None = None
_TASKS: dict[str, tuple[str, str]] = {}  # name -> (module, attribute) of the task
_TASK_CLASSES: dict[type, str] = {}  # Huey's task class -> the task's name, for signals


def use_app_factory(factory: Callable[[], Flask]) -> None:
    """How a consumer makes the app its jobs run in (`portal.jobs.registry` passes `create_app`)."""
    global _app_factory
    _app_factory = factory


def _consumer_app() -> Flask:
    """The app a consumer process runs jobs in (created once, from the same environment)."""
    global _app
    if _app is None:
        if _app_factory is None:
            raise RuntimeError("no app factory: start consumers with `huey_consumer portal.jobs.registry.huey`")
        _app = _app_factory()
        settle_process()
    return _app


def settle_process() -> None:
    """Leave the objects alive now — the app, every module, SQLAlchemy's metadata and caches, some 320,000 —
    out of the garbage collector's full collections for the life of this consumer process (`gc.freeze`).
    Rendering documents allocates so much that full collections come every few jobs, and each walked all of
    them: a job that met one took ~200 ms more (bench/documents.py: p90 468 → 282 ms). Young garbage is still
    collected as before; what is frozen here lives as long as the process anyway (garbage already waiting is
    collected first, so none of it is kept)."""
    gc.collect()
    gc.freeze()


def task_name(fn: Callable) -> str:
    """"billing.complete_invoice" for `complete_invoice` in `portal/billing/jobs.py`."""
    module = fn.__module__.removeprefix("portal.").removesuffix(".jobs")
    return f"{module}.{fn.__name__}"


def _register(fn: Callable, wrapped: Any) -> Any:
    name = task_name(fn)
    if _TASKS.get(name, (fn.__module__, fn.__name__)) != (fn.__module__, fn.__name__):
        raise RuntimeError(f"two jobs are called {name!r}")
    _TASKS[name] = (fn.__module__, fn.__name__)
    _TASK_CLASSES[wrapped.task_class] = name
    return wrapped


def registered_tasks() -> list[str]:
    """Every task's name (what `enqueue` accepts)."""
    return sorted(_TASKS)


def _in_app_context(fn: Callable) -> Callable:
    """Run a job in an app context of its own, so it gets its own database session.

    In a consumer that is the consumer's app; inline (immediate mode) it is a fresh context of the
    current app, because the enqueueing session may be in the middle of committing.
    """

    name = task_name(fn)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        carried = kwargs.pop(context.JOB_CONTEXT_KWARG, None) or {}
        app = current_app._get_current_object() if has_app_context() else _consumer_app()
        with context.job_scope(carried.get("request_id"), carried.get("job_id")), app.app_context():
            started = time.perf_counter()
            log.info("job started", extra={"task": name})
            try:
                result = fn(*args, **kwargs)
            except BaseException as error:
                log.warning("job raised", extra={"task": name, "error": type(error).__name__,
                                                 "duration_ms": round((time.perf_counter() - started) * 1000, 2)})
                raise
            log.info("job finished", extra={"task": name,
                                            "duration_ms": round((time.perf_counter() - started) * 1000, 2)})
            return result

    return wrapper


def task(**options: Any) -> Callable:
    """`@task(retries=3, retry_delay=60)`: a Huey task that runs inside an app context."""

    def decorator(fn: Callable) -> Callable:
        return _register(fn, huey.task(**options)(_in_app_context(fn)))

    return decorator


def periodic_task(validate_datetime: Callable, **options: Any) -> Callable:
    """A scheduled job; enqueued by the consumer whose scheduler runs (`-n` turns it off elsewhere)."""

    def decorator(fn: Callable) -> Callable:
        return _register(fn, huey.periodic_task(validate_datetime, **options)(_in_app_context(fn)))

    return decorator


def enqueue_after_commit(session: Session, job: Callable, *args: Any) -> None:
    """Call `job(*args)` (which enqueues it) once `session` commits; forget it on rollback."""
    session.info.setdefault(_PENDING, []).append((job, args))


def _task(name: str) -> Any:
    """The task called `name`, read from its module when asked (so a test may replace it there)."""
    try:
        module, attribute = _TASKS[name]
    except KeyError:
        raise LookupError(f"no job is called {name!r}; is its room's jobs.py listed in portal/jobs/tasks.py?") from None
    return getattr(sys.modules[module], attribute)


def enqueue(name: str, *args: Any, session: Session | None = None) -> None:
    """Queue the job called `name` with `args` once the database transaction commits (`session`, by default
    the app's); nothing is queued if it rolls back. The name is checked now, so a typo fails at once."""
    job = _task(name)
    enqueue_after_commit(session if session is not None else db.session(), job, *args)


def enqueue_now(name: str, *args: Any) -> None:
    """Queue the job called `name` at once — only for code that holds no transaction (it has just rolled
    back, or it runs outside any request)."""
    _task(name)(*args)


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


_ENDED = (huey_signals.SIGNAL_COMPLETE, huey_signals.SIGNAL_ERROR, huey_signals.SIGNAL_TIMEOUT,
          huey_signals.SIGNAL_RETRYING, huey_signals.SIGNAL_CANCELED, huey_signals.SIGNAL_LOCKED,
          huey_signals.SIGNAL_INTERRUPTED, huey_signals.SIGNAL_RATE_LIMITED)
_FAILED = (huey_signals.SIGNAL_ERROR, huey_signals.SIGNAL_TIMEOUT)


def _install_signal_handlers(instance: Huey) -> None:
    @instance.signal(huey_signals.SIGNAL_ENQUEUED)
    def _stamp(_signal: str, task: Any, *_args: Any) -> None:
        if type(task) not in _TASK_CLASSES:
            return
        carried = task.kwargs.get(context.JOB_CONTEXT_KWARG) or {}
        task.kwargs[context.JOB_CONTEXT_KWARG] = {
            # a retry or a job moved from the schedule keeps the request that first queued it
            "request_id": carried.get("request_id") or context.request_id.get(),
            "job_id": task.id,
            "queued_at": clock.now().timestamp(),  # seconds since the epoch, when it (last) entered the queue
        }

    @instance.signal(huey_signals.SIGNAL_EXECUTING)
    def _executing(_signal: str, task: Any, *_args: Any) -> None:
        metrics.job_started(_TASK_CLASSES.get(type(task), task.name))
        task._portal_started = time.perf_counter()

    @instance.signal(*_ENDED)
    def _ended(signal: str, task: Any, *_args: Any) -> None:
        started = task.__dict__.pop("_portal_started", None)
        if started is None:  # already counted (ERROR, then RETRYING), or never executed
            return
        metrics.job_ended(_TASK_CLASSES.get(type(task), task.name), time.perf_counter() - started,
                          failed=signal in _FAILED)


_install_signal_handlers(huey)


def configure_for_app(app: Flask) -> None:
    """Unit tests run jobs inline (JOBS_URL=memory:// makes the instance immediate)."""
    if app.config.get("JOBS_IMMEDIATE"):
        huey.immediate = True
    app.extensions["huey"] = huey


def current_huey() -> Huey:
    return current_app.extensions.get("huey", huey)
