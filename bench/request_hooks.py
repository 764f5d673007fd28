"""What the observability hooks (request id, request metrics, request log line) cost per request: CPU time of /ping
through Flask's test client, alternating rounds with and without the hooks of portal/observability/web.py.

    .venv/bin/python bench/request_hooks.py [--requests 3000] [--rounds 3]
"""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("PORTAL_ENV", "test")
os.environ.setdefault("JOBS_URL", "memory://")

from portal.app import create_app  # noqa: E402
from portal.observability import web  # noqa: E402

HOOKS = ("before_request_funcs", "after_request_funcs", "teardown_request_funcs")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    client = app.test_client()
    every = {name: list(getattr(app, name)[None]) for name in HOOKS}

    def use(with_hooks: bool) -> None:
        for name, functions in every.items():
            getattr(app, name)[None][:] = [f for f in functions if with_hooks or f.__module__ != web.__name__]

    def round_us() -> float:
        for _ in range(300):  # warm-up
            client.get("/ping")
        started = time.process_time()
        for _ in range(options.requests):
            client.get("/ping")
        return (time.process_time() - started) / options.requests * 1e6

    found: dict[str, list[float]] = {"with hooks": [], "without": []}
    for _ in range(options.rounds):
        use(True)
        found["with hooks"].append(round_us())
        use(False)
        found["without"].append(round_us())
    for label, values in found.items():
        print(f"{label:10} µs CPU per /ping: " + ", ".join(f"{v:.1f}" for v in values))


if __name__ == "__main__":
    main()
