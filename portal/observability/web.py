"""The web side: a request id per request (echoed as X-Request-ID), its log line, its metrics, and what /metrics
renders."""

import logging
import time
from collections.abc import Callable

from flask import Flask, g, request
from huey import Huey

from portal.observability import context, logs, metrics
from portal.observability.collectors import BusinessCollector, QueueCollector

log = logging.getLogger("portal.request")


def init_app(app: Flask, huey: Callable[[], Huey]) -> None:
    """Call before any other request hook is registered: the id and the clock start first, so a hook that answers
    early (a redirect to the sign-in page) is still timed and logged."""
    logs.configure(app.config)
    app.extensions["metrics_collectors"] = (QueueCollector(huey), BusinessCollector())

    @app.before_request
    def _start():
        g.request_started = time.perf_counter()
        g.request_id = context.request_id_from(request.headers.get("X-Request-ID"))
        g.request_id_token = context.request_id.set(g.request_id)

    @app.after_request
    def _finish(response):
        started = g.get("request_started")
        if started is None:  # no before_request ran (an error raised while opening the request)
            return response
        seconds = time.perf_counter() - started
        response.headers["X-Request-ID"] = g.request_id
        metrics.observe_request(request.endpoint, request.method, response.status_code, seconds)
        # The line costs about 20 µs: written only when a handler would take it (JSON logs; under `make run` with
        # text logs gunicorn's access log says the same).
        if log.isEnabledFor(logging.INFO) and log.hasHandlers():
            log.info("request", extra={"method": request.method, "route": request.endpoint or "unmatched",
                                       "status": response.status_code, "duration_ms": round(seconds * 1000, 2)})
        return response

    @app.teardown_request
    def _forget(_error):
        token = g.pop("request_id_token", None)
        if token is not None:
            try:
                context.request_id.reset(token)
            except ValueError:  # set in another context (a test client's nested request): leave it
                context.request_id.set(None)


def render(app: Flask) -> bytes:
    return metrics.render(app.extensions["metrics_collectors"])
