"""Helpers for tests that run real `huey_consumer` processes: their environment, their logs, a Redis database
of the test's own."""

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONSUMER = Path(sys.executable).parent / "huey_consumer"


def environment(app, jobs_url: str, smtp_port: int, instance: Path) -> dict:
    """What a producer or consumer process runs with: the app's database, the queue, mail to the SMTP sink."""
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PORTAL_ENV": "test",
        "PORTAL_INSTANCE_DIR": str(instance),
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "JOBS_URL": jobs_url,
        "MAIL_BACKEND": "smtp",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        "SMTP_STARTTLS": "false",
    }


@contextmanager
def private_redis_db(redis_url: str, claim_seconds: int = 600) -> Iterator[str]:
    """A redis:// URL (from `redis_url`, of the same form) of a database (1–15) this test alone uses, empty at
    the start and emptied at the end.

    The queue's keys are named after the Huey instance ("portal"), the same in every process, so tests are kept
    apart by database number instead. A number is claimed with SET NX in the server's database 0, so test runs
    sharing one Redis (REDIS_URL) never take the same one; a claim left by a killed run expires.
    """
    from redis import Redis

    parts = urlsplit(redis_url)
    admin = Redis.from_url(urlunsplit(parts._replace(path="/0")))
    token = uuid.uuid4().hex
    for number in range(1, 16):
        key = f"portal-tests:jobs-db:{number}"
        if admin.set(key, token, nx=True, ex=claim_seconds):
            break
    else:
        admin.close()
        pytest.fail(f"every Redis database 1–15 of {redis_url} is claimed by another test run")
    url = urlunsplit(parts._replace(path=f"/{number}"))
    own = Redis.from_url(url)
    own.flushdb()  # whatever a killed run left behind
    try:
        yield url
    finally:
        own.flushdb()  # no job of this test is left for a later one (e.g. a retry scheduled 5 minutes on)
        own.close()
        if admin.get(key) == token.encode():
            admin.delete(key)
        admin.close()


def start_consumer(env: dict, log: Path, *options: str, workers: int = 1) -> subprocess.Popen:
    """`huey_consumer portal.jobs.registry.huey` with threads, logging to `log` (a file: a pipe nobody reads
    while the test runs could fill up and block the consumer). A short polling delay: the consumer starts
    before anything is queued."""
    with log.open("w") as out:
        return subprocess.Popen(
            [str(CONSUMER), "portal.jobs.registry.huey", "--workers", str(workers), "--worker-type", "thread",
             "--delay", "0.05", "--max-delay", "0.2", *options],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, text=True,
        )


def stop_consumers(*consumers: subprocess.Popen, timeout: float = 30) -> None:
    """SIGINT, as an operator's Ctrl-C or a service manager would: each finishes its running jobs and exits.
    Killed (and so failing the test's returncode check) if one has not exited after `timeout`."""
    for consumer in consumers:
        if consumer.poll() is None:
            consumer.send_signal(signal.SIGINT)
    deadline = time.monotonic() + timeout
    for consumer in consumers:
        try:
            consumer.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            consumer.kill()
            consumer.wait()


def wait_for_log(log: Path, text: str, timeout: float = 90) -> bool:
    """Whether `text` appears in `log` within `timeout` seconds (it returns as soon as it does: a consumer starting
    on a loaded 2-core machine, importing the portal, was measured to need more than 30 s)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text():
            return True
        time.sleep(0.05)
    return False


def executed(output: str, task: str) -> list[str]:
    """Ids of the `task` jobs a consumer's log says it started (`Executing portal.…: <id>`), one per run."""
    return re.findall(rf"Executing {re.escape(task)}: ([0-9a-f-]{{36}})", output)
