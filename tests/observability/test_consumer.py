"""A real `huey_consumer` with LOG_FORMAT=json and METRICS_PORT: the job queued with a request id logs JSON lines
carrying it, and the consumer's own /metrics counts the run."""

import json
import time
import urllib.request

from huey import SqliteHuey

from portal import jobs
from portal.notifications.jobs import send_email
from portal.observability.context import JOB_CONTEXT_KWARG
from tests.fakes.externals import free_port
from tests.jobs.support import environment, start_consumer, stop_consumers, wait_for_log
from tests.observability.helpers import parse, value


def _scrape(port: int, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:  # noqa: S310
                return parse(response.read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_the_consumer_logs_json_with_the_request_id_and_counts_the_run(make_app, engine_name, tmp_path):
    app = make_app(engine_name)
    jobs_file = tmp_path / "jobs.db"
    port = free_port()
    env = {**environment(app, f"sqlite:///{jobs_file}", smtp_port=1, instance=tmp_path),
           "LOG_FORMAT": "json", "METRICS_PORT": str(port)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = tmp_path / "consumer.log"
    consumer = start_consumer(env, log, "-n")  # no scheduler: only the test's job is ever queued
    try:
        queue = SqliteHuey("portal", filename=str(jobs_file))
        task = send_email.s(987654321)  # no such delivery: the job answers "missing" without sending anything
        task.kwargs[JOB_CONTEXT_KWARG] = {"request_id": "req-consumer-1", "job_id": task.id,
                                          "queued_at": time.time()}
        queue.storage.enqueue(jobs.huey.serialize_task(task))
        assert wait_for_log(log, '"message": "job finished"'), log.read_text()
        samples = _scrape(port)
    finally:
        stop_consumers(consumer)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]  # every line is JSON
    job_lines = [line for line in lines if line.get("task") == "notifications.send_email"]
    assert [line["message"] for line in job_lines] == ["job started", "job finished"]
    assert {(line["request_id"], line["job_id"]) for line in job_lines} == {("req-consumer-1", task.id)}
    assert any(line["logger"] == "huey" for line in lines)  # Huey's own lines are JSON too
    assert value(samples, "portal_job_runs_total", task="notifications.send_email") == 1
    assert value(samples, "portal_job_failures_total", task="notifications.send_email") == 0
    assert value(samples, "portal_jobs_queued") == 0
    assert consumer.returncode == 0
