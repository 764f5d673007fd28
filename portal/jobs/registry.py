"""What a consumer loads: the Huey instance plus every room's jobs module, so all tasks are registered.

Start a consumer with `huey_consumer portal.jobs.registry.huey`.
"""

import portal.accounts.jobs  # noqa: F401
import portal.agreements.jobs  # noqa: F401
import portal.backoffice.cosell.jobs  # noqa: F401
import portal.backoffice.offers.jobs  # noqa: F401
import portal.backoffice.onboarding.jobs  # noqa: F401
import portal.billing.delivery  # noqa: F401
import portal.billing.jobs  # noqa: F401
import portal.billing.payments  # noqa: F401
import portal.cancellations.jobs  # noqa: F401
import portal.notifications.jobs  # noqa: F401
import portal.subscriptions.jobs  # noqa: F401
from portal.jobs import huey

__all__ = ["huey"]
