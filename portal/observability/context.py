"""Which request, and which job, the current thread works for: stamped on every log line and handed to the jobs a
request queues.

Two context variables, so a job run inline (tests' immediate mode) inside a request gets its own job id and
then gives the request its values back.
"""

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("portal_request_id", default=None)
job_id: ContextVar[str | None] = ContextVar("portal_job_id", default=None)

# What a client (or the load balancer) may send as X-Request-ID; anything else is replaced by a new id, so a log
# line never carries a caller's free text.
_SANE = re.compile(r"[A-Za-z0-9_-]{1,64}")


def request_id_from(header: str | None) -> str:
    """The caller's X-Request-ID when it is ≤ 64 characters of [A-Za-z0-9_-], else a new uuid4 (32 hex digits)."""
    if header and _SANE.fullmatch(header):
        return header
    return uuid.uuid4().hex


@contextmanager
def job_scope(request: str | None, job: str | None) -> Iterator[None]:
    """Inside: log lines carry the job's id and the id of the request that queued it (None if none did)."""
    request_token = request_id.set(request)
    job_token = job_id.set(job)
    try:
        yield
    finally:
        job_id.reset(job_token)
        request_id.reset(request_token)


# The keyword argument a queued job carries its context in ({"request_id", "job_id", "queued_at"}); portal/jobs
# adds it when a job is enqueued and takes it off before the task's function runs.
JOB_CONTEXT_KWARG = "_portal_context"
