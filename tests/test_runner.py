"""`make run`'s last step: gunicorn and a Huey consumer on 127.0.0.1, the URL and logins printed, Ctrl-C stops both."""

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from tests.fakes.externals import free_port

ROOT = Path(__file__).resolve().parent.parent
FLASK = Path(sys.executable).parent / "flask"


def _wait_for_http(url: str, timeout: float = 180.0) -> int:
    """The status of `url` once it answers; the bound only catches a runner that never serves (on a loaded
    machine, loading the demo alone has taken over a minute)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - our own loopback server
                return response.status
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_run_serves_the_portal_and_ctrl_c_stops_everything(tmp_path):
    port = free_port()
    env = {
        **os.environ, "PORTAL_ENV": "development", "PORTAL_INSTANCE_DIR": str(tmp_path), "PORT": str(port),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'portal.db'}", "JOBS_URL": f"sqlite:///{tmp_path / 'jobs.db'}",
        "MAIL_BACKEND": "file", "MAIL_OUTBOX_DIR": str(tmp_path / "mail"),
    }
    for step in (["db", "upgrade"], ["demo", "--if-empty"]):
        subprocess.run([str(FLASK), "--app", "wsgi", *step], cwd=ROOT, env=env, check=True, capture_output=True)
    runner = subprocess.Popen(
        [sys.executable, "-m", "portal.runner"], cwd=ROOT, env=env, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(runner.stdout), daemon=True)
    reader.start()
    try:
        assert _wait_for_http(f"http://127.0.0.1:{port}/entrar") == 200
        deadline = time.monotonic() + 60
        while not any("Huey consumer started" in line for line in lines) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        runner.send_signal(signal.SIGINT)
        try:
            runner.wait(timeout=60)
        except subprocess.TimeoutExpired:  # the test fails below; nothing it started outlives it
            os.killpg(runner.pid, signal.SIGKILL)
            runner.wait(timeout=10)
        reader.join(timeout=10)
        runner.stdout.close()
    output = "".join(lines)
    assert runner.returncode == 0, output
    assert f"Portal: http://127.0.0.1:{port}/" in output
    assert "master@demo.example.com" in output and "admin@staff.example.com" in output
    assert "Portal#Demo2026" in output
    assert "Huey consumer started" in output
    assert "send_email" in output  # the consumer registered the portal's jobs
    deadline = time.monotonic() + 10
    while _group_alive(runner.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _group_alive(runner.pid), "gunicorn or the job consumer outlived Ctrl-C"
