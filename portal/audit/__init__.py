"""The read side of the audit trail for compliance (the writer is portal/shared/audit.py)."""
