"""Cancellations and contract rescission: always in the portal, by Adm or Master, always with a reason."""
