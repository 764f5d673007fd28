"""`make run` with LOG_FORMAT=json and METRICS_TOKEN: gunicorn's two workers count into one multiprocess directory
(a scrape of either adds both up), and every line the web side writes is JSON."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request

from tests.fakes.externals import free_port
from tests.observability.helpers import BEARER, TOKEN, parse, value
from tests.test_runner import FLASK, ROOT, _group_alive, _wait_for_http


def _get(url: str, headers: dict | None = None) -> bytes:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - our own loopback server
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return response.read()


def test_run_counts_across_workers_and_logs_json(tmp_path):
    port = free_port()
    stale = tmp_path / "prometheus"
    stale.mkdir()
    (stale / "counter_99999.db").write_bytes(b"a previous run's counts")  # emptied at start
    env = {
        **os.environ, "PORTAL_ENV": "development", "PORTAL_INSTANCE_DIR": str(tmp_path), "PORT": str(port),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'portal.db'}", "JOBS_URL": f"sqlite:///{tmp_path / 'jobs.db'}",
        "MAIL_BACKEND": "file", "MAIL_OUTBOX_DIR": str(tmp_path / "mail"),
        "LOG_FORMAT": "json", "METRICS_TOKEN": TOKEN,
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    subprocess.run([str(FLASK), "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    runner = subprocess.Popen(
        [sys.executable, "-m", "portal.runner"], cwd=ROOT, env=env, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    errors: list[str] = []
    reader = threading.Thread(target=lambda: errors.extend(runner.stderr), daemon=True)
    reader.start()
    try:
        assert _wait_for_http(f"http://127.0.0.1:{port}/saude/vivo") == 200
        for _ in range(12):  # several connections: both workers answer some
            _get(f"http://127.0.0.1:{port}/ping", {"X-Request-ID": "run-ping"})
        samples = parse(_get(f"http://127.0.0.1:{port}/metrics", BEARER).decode())
        ready = json.loads(_get(f"http://127.0.0.1:{port}/saude/pronto"))
    finally:
        runner.send_signal(signal.SIGINT)
        try:
            runner.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(runner.pid, signal.SIGKILL)
            runner.wait(timeout=10)
        reader.join(timeout=10)
        runner.stdout.close()
        runner.stderr.close()
    assert runner.returncode == 0
    assert value(samples, "portal_http_requests_total", route="health.ping", method="GET", status="200") == 12
    assert ready == {"status": "ok", "checks": {"database": "ok", "jobs": "ok", "documents": "ok"}}
    assert not (stale / "counter_99999.db").exists()
    web_lines = [json.loads(line) for line in errors if line.strip()]  # gunicorn's, the portal's, Huey's: all JSON
    pings = [line for line in web_lines if line.get("route") == "health.ping"]
    assert len(pings) == 12 and {line["request_id"] for line in pings} == {"run-ping"}
    assert any(line["logger"].startswith("gunicorn") for line in web_lines)  # gunicorn's own lines are JSON
    deadline = time.monotonic() + 10
    while _group_alive(runner.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _group_alive(runner.pid)
