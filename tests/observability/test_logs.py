"""Log lines: a request id per request (X-Request-ID), JSON lines carrying it, and the jobs a request queues
logging with that same id and their own job id."""

import io
import json
import logging
import threading

import pytest

from portal import jobs
from portal.observability import context
from portal.observability.logs import UTCJsonFormatter


@pytest.fixture
def json_lines():
    """Every log line of the test as the production handler writes it (JSON), parsed."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(UTCJsonFormatter())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    portal = logging.getLogger("portal")
    previous_portal = portal.level
    portal.setLevel(logging.INFO)

    def lines():
        handler.flush()
        return [json.loads(line) for line in stream.getvalue().splitlines()]  # each line one JSON object

    try:
        yield lines
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
        portal.setLevel(previous_portal)


def test_a_request_gets_an_id_echoed_in_its_response(client):
    first, second = client.get("/ping"), client.get("/ping")
    assert len(first.headers["X-Request-ID"]) == 32
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


@pytest.mark.parametrize(("sent", "kept"), [
    ("lb-7f3a_0001", True),
    ("x" * 64, True),
    ("x" * 65, False),
    ("com espaço", False),
    ("<script>", False),
    ("a\u00e9b", False),
    ("", False),
])
def test_a_callers_request_id_is_kept_only_when_it_looks_sane(client, sent, kept):
    answered = client.get("/ping", headers={"X-Request-ID": sent}).headers["X-Request-ID"]
    assert (answered == sent) is kept
    if not kept:
        assert len(answered) == 32 and answered.isalnum()


def test_the_request_line_is_json_with_the_request_id(client, json_lines):
    client.get("/ping", headers={"X-Request-ID": "req-json-1"})
    client.get("/nada-aqui")
    lines = json_lines()
    ping = next(line for line in lines if line.get("route") == "health.ping")
    assert ping["message"] == "request" and ping["logger"] == "portal.request" and ping["level"] == "INFO"
    assert ping["request_id"] == "req-json-1" and ping["job_id"] is None
    assert ping["method"] == "GET" and ping["status"] == 200 and ping["duration_ms"] >= 0
    assert ping["time"].endswith("Z")
    unmatched = next(line for line in lines if line.get("route") == "unmatched")
    assert unmatched["status"] == 404 and len(unmatched["request_id"]) == 32
    assert context.request_id.get() is None  # nothing of the request outlives it


def test_a_job_queued_by_a_request_logs_with_its_request_id(client, world, json_lines):
    """Tests run jobs inline (immediate mode): the e-mail job runs inside the request, with its own job id."""
    client.post("/senha/esqueci", data={"email": world.adm.email}, headers={"X-Request-ID": "req-esqueci-42"})
    job_lines = [line for line in json_lines() if line.get("task") == "notifications.send_email"]
    assert [line["message"] for line in job_lines] == ["job started", "job finished"]
    assert {line["request_id"] for line in job_lines} == {"req-esqueci-42"}
    job_ids = {line["job_id"] for line in job_lines}
    assert len(job_ids) == 1 and None not in job_ids
    request_line = next(line for line in json_lines() if line.get("route") == "accounts.forgot_password")
    assert request_line["request_id"] == "req-esqueci-42" and request_line["job_id"] is None


def test_the_request_id_travels_with_the_queued_job(app_ctx, client, world, json_lines):
    """As with a consumer: the job is queued (serialized), then run in another thread that never saw the request."""
    jobs.huey.immediate = False
    try:
        client.post("/senha/esqueci", data={"email": world.adm.email}, headers={"X-Request-ID": "req-queued-7"})
        assert jobs.huey.pending_count() == 1
        task = jobs.huey.dequeue()
        assert task.kwargs[context.JOB_CONTEXT_KWARG]["request_id"] == "req-queued-7"
        outcome = []

        def consumer():
            assert context.request_id.get() is None
            with app_ctx.app_context():
                outcome.append(jobs.huey.execute(task))

        thread = threading.Thread(target=consumer)
        thread.start()
        thread.join(timeout=60)
        # the job queued the e-mail's job in turn: it carries the same request id, and a job id of its own
        assert jobs.huey.pending_count() == 1
        carried = jobs.huey.dequeue().kwargs[context.JOB_CONTEXT_KWARG]
    finally:
        jobs.huey.immediate = True
    assert outcome == [True]
    job_lines = [line for line in json_lines() if line.get("task") == "accounts.send_password_reset"]
    assert [line["message"] for line in job_lines] == ["job started", "job finished"]
    assert {(line["request_id"], line["job_id"]) for line in job_lines} == {("req-queued-7", task.id)}
    assert carried["request_id"] == "req-queued-7" and carried["job_id"] not in (None, task.id)


def test_a_job_queued_outside_any_request_has_no_request_id(app_ctx, json_lines):
    jobs.enqueue_now("notifications.send_email", 424242)  # no such delivery: the job says "missing"
    job_lines = [line for line in json_lines() if line.get("task") == "notifications.send_email"]
    assert job_lines and all(line["request_id"] is None and line["job_id"] for line in job_lines)


def test_the_task_function_never_sees_the_context(app_ctx):
    seen = {}

    def probe(*args, **kwargs):
        seen.update(kwargs=kwargs, request_id=context.request_id.get())
        return "ok"

    wrapped = jobs._in_app_context(probe)
    assert wrapped(1, **{context.JOB_CONTEXT_KWARG: {"request_id": "r-1", "job_id": "j-1"}}) == "ok"
    assert seen == {"kwargs": {}, "request_id": "r-1"}
    assert context.request_id.get() is None
