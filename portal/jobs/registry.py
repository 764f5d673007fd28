"""What a consumer loads: the Huey instance, every room's jobs module, and the app its jobs run in.

Start a consumer with `huey_consumer portal.jobs.registry.huey`. With LOG_FORMAT=json its lines are JSON too
(Huey's own, installed by huey_consumer after this import, are switched when it creates the consumer); with
METRICS_PORT it serves its job series and the queue on http://METRICS_ADDR:METRICS_PORT/metrics.
"""

import logging

import portal.jobs.tasks  # noqa: F401 - registers every task
from portal.app import create_app
from portal.config import load as load_config
from portal.jobs import huey, use_app_factory
from portal.observability import logs, metrics
from portal.observability.collectors import QueueCollector

use_app_factory(create_app)

_settings = load_config()
logs.configure(_settings)
_create_consumer = huey.create_consumer


def _create_consumer_observed(**options):
    if _settings["LOG_FORMAT"] == "json":
        logs.adopt_handlers(logging.getLogger("huey"))
    if _settings["METRICS_PORT"]:
        metrics.serve(_settings["METRICS_ADDR"], _settings["METRICS_PORT"], [QueueCollector(lambda: huey)])
    return _create_consumer(**options)


huey.create_consumer = _create_consumer_observed

__all__ = ["huey"]
