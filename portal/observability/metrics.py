"""The portal's Prometheus series that count events as they happen (requests, job runs), and the text a scrape reads.

Names start with `portal_`, carry their unit, and have low-cardinality labels only: a route is the Flask endpoint
name (never the path), a task is the job's name ("billing.complete_invoice"); nothing per organization.

Several processes (gunicorn's workers, the Huey consumer) count at once, so with `PROMETHEUS_MULTIPROC_DIR` set
(`make run` sets it) prometheus_client keeps each process's values in files of that directory and a scrape of
any worker adds them up (its multiprocess mode). Without it (tests, `flask run`) the values live in this process.
What is read at scrape time (queue depth, business counts: `collectors.py`) is computed by the scraped worker.
"""

import os
from collections.abc import Iterable, Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    start_http_server,
)
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

# Seconds: from 5 ms (a cached page) to 10 s (a request that waits on a slow provider).
_REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Seconds: from 10 ms (an e-mail to the file outbox) to 5 min (a billing run).
_JOB_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

disable_created_metrics()  # no `_created` series beside every counter: half the lines, nothing a query needs

# registry=None: not in prometheus_client's global registry; `render` collects them itself.
http_requests = Counter("portal_http_requests", "HTTP requests answered, by Flask endpoint, method and status.",
                        ("route", "method", "status"), registry=None)
http_request_duration = Histogram("portal_http_request_duration_seconds",
                                  "Time to answer an HTTP request, by Flask endpoint.", ("route",),
                                  buckets=_REQUEST_BUCKETS, registry=None)
job_runs = Counter("portal_job_runs", "Job executions started, by task (a retry is another run).", ("task",),
                   registry=None)
job_failures = Counter("portal_job_failures", "Job executions that raised (or timed out), by task.", ("task",),
                       registry=None)
job_duration = Histogram("portal_job_duration_seconds", "Time a job execution took, by task (failed ones too).",
                         ("task",), buckets=_JOB_BUCKETS, registry=None)

_OWN = (http_requests, http_request_duration, job_runs, job_failures, job_duration)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


# (route, method, status) -> (its counter child, its histogram child): `labels()` takes a lock and builds a key on
# every call; a request looks its pair up here instead (a few hundred endpoints × methods × statuses at most).
_request_children: dict[tuple[str, str, int], tuple] = {}


def observe_request(route: str | None, method: str, status: int, seconds: float) -> None:
    key = (route or "unmatched", method, status)  # no endpoint matched (an unknown path): one label for them all
    children = _request_children.get(key)
    if children is None:
        children = _request_children[key] = (
            http_requests.labels(key[0], method if method in _METHODS else "other", str(status)),
            http_request_duration.labels(key[0]),
        )
    children[0].inc()
    children[1].observe(seconds)


def job_started(task: str) -> None:
    job_runs.labels(task).inc()


def job_ended(task: str, seconds: float | None, failed: bool) -> None:
    if failed:
        job_failures.labels(task).inc()
    if seconds is not None:
        job_duration.labels(task).observe(seconds)


class _InProcess(Collector):
    """This process's own series (when not in multiprocess mode)."""

    def collect(self) -> Iterator:
        for metric in _OWN:
            yield from metric.collect()


def _registry(scrape_time_collectors: Iterable[Collector]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    directory = multiprocess_dir()
    if directory:
        MultiProcessCollector(registry, path=directory)
    else:
        registry.register(_InProcess())
    for collector in scrape_time_collectors:
        registry.register(collector)
    return registry


def render(scrape_time_collectors: Iterable[Collector]) -> bytes:
    """The Prometheus text exposition of every series: counted ones, then those computed now."""
    return generate_latest(_registry(scrape_time_collectors))


def serve(address: str, port: int, scrape_time_collectors: Iterable[Collector]) -> None:
    """A job consumer's own /metrics (METRICS_PORT): a thread serving the same series, no token (bind it to
    loopback or a private network: METRICS_ADDR)."""
    start_http_server(port, addr=address, registry=_registry(scrape_time_collectors))
