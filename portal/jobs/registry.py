"""What a consumer loads: the Huey instance, every room's jobs module, and the app its jobs run in.

Start a consumer with `huey_consumer portal.jobs.registry.huey`.
"""

import portal.jobs.tasks  # noqa: F401 - registers every task
from portal.app import create_app
from portal.jobs import huey, use_app_factory

use_app_factory(create_app)

__all__ = ["huey"]
