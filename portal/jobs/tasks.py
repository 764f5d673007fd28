"""Every room's jobs module, imported by the app and by consumers so `jobs.enqueue` knows every task's name.

A room with background work adds its `jobs.py` here.
"""

import portal.accounts.jobs  # noqa: F401
import portal.agreements.jobs  # noqa: F401
import portal.approvals.jobs  # noqa: F401
import portal.audit.jobs  # noqa: F401
import portal.billing.delivery  # noqa: F401
import portal.billing.jobs  # noqa: F401
import portal.billing.payments  # noqa: F401
import portal.budgets.jobs  # noqa: F401
import portal.cancellations.jobs  # noqa: F401
import portal.cosell.jobs  # noqa: F401
import portal.licence_usage.jobs  # noqa: F401
import portal.notifications.jobs  # noqa: F401
import portal.offers.jobs  # noqa: F401
import portal.onboarding.jobs  # noqa: F401
import portal.subscriptions.jobs  # noqa: F401
import portal.webhooks.jobs  # noqa: F401
