"""The staff backoffice: its own blueprint under /backoffice, staff only (customers get 404)."""
