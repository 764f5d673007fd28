"""`make run`: gunicorn and a Huey consumer on 127.0.0.1, the URL and demo logins printed, Ctrl-C stops both."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from config import load as load_config
from portal.demo import DEMO_TOTP_SECRET, demo_logins

DEMO_PASSWORD = load_config()["DEMO_PASSWORD"]

BIN = Path(sys.executable).parent


def main() -> int:
    port = int(os.environ.get("PORT", "5000"))
    env = {**os.environ, "PORT": str(port)}
    env.setdefault("BASE_URL", f"http://127.0.0.1:{port}")
    web = subprocess.Popen(  # noqa: S603 - fixed argv, our own binaries
        [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4",
         "--access-logfile", "-", "wsgi:app"],
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
