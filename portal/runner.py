"""`make run`: gunicorn and a Huey consumer on 127.0.0.1, the URL and demo logins printed, Ctrl-C stops both.

Both count into one Prometheus multiprocess directory (PROMETHEUS_MULTIPROC_DIR, instance/prometheus unless set),
emptied at start so a scrape never adds up the counters of processes that are gone. With LOG_FORMAT=json gunicorn
logs JSON lines from its first line on (a logging configuration written to instance/), and its access log is off:
the portal's own request line says the same with the request id.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from portal.config import INSTANCE_DIR
from portal.config import load as load_config
from portal.demo import DEMO_TOTP_SECRET, demo_logins

SETTINGS = load_config()
DEMO_PASSWORD = SETTINGS["DEMO_PASSWORD"]

BIN = Path(sys.executable).parent


def _fresh_metrics_dir(env: dict) -> None:
    """The multiprocess directory every process of this run counts into, emptied of a previous run's files."""
    directory = Path(env.get("PROMETHEUS_MULTIPROC_DIR") or INSTANCE_DIR / "prometheus")
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)
    env["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


def _gunicorn_logging(level: str) -> Path:
    """A dictConfig for gunicorn's --log-config-json: its own lines and the portal's as JSON on stderr."""
    path = INSTANCE_DIR / "gunicorn-logging.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "portal.observability.logs.UTCJsonFormatter"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "loggers": {"gunicorn.error": {"handlers": ["stderr"], "level": level, "propagate": False},
                    "gunicorn.access": {"handlers": [], "propagate": False}},
        "root": {"handlers": ["stderr"], "level": level},
    }, indent=2))
    return path


def main() -> int:
    port = int(os.environ.get("PORT", "5000"))
    env = {**os.environ, "PORT": str(port)}
    env.setdefault("BASE_URL", f"http://127.0.0.1:{port}")
    _fresh_metrics_dir(env)
    if SETTINGS["LOG_FORMAT"] == "json":
        log_options = ["--log-config-json", str(_gunicorn_logging(SETTINGS["LOG_LEVEL"].upper()))]
    else:
        log_options = ["--access-logfile", "-"]
    web = subprocess.Popen(  # noqa: S603 - fixed argv, our own binaries
        [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4", *log_options,
         "wsgi:app"],
        env=env,
    )
    jobs = subprocess.Popen(  # noqa: S603
        [str(BIN / "huey_consumer"), "portal.jobs.registry.huey", "--workers", "2", "--worker-type", "thread"], env=env
    )
    children = [web, jobs]
    time.sleep(1.0)
    print(f"\n  Portal: http://127.0.0.1:{port}/", flush=True)
    print(f"  Demo logins (password {DEMO_PASSWORD}):")
    for email, what in demo_logins():
        print(f"    {email:34} {what}")
    print(f"  Staff sign in with two-step verification: TOTP key {DEMO_TOTP_SECRET}")
    print("    (or the current code: .venv/bin/flask --app wsgi demo-code)")
    print("  E-mails are written to instance/mail/. Ctrl-C stops the server and the job consumer.\n", flush=True)

    def stop(*_args) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGINT if child is jobs else signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    # Ctrl-C as KeyboardInterrupt even when this process was started with SIGINT ignored (by nohup, or in the
    # background of a shell without job control, as CI scripts do): otherwise Ctrl-C would leave both running.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    stop()
    for child in children:
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
