"""Subscriptions: licenses, the quantity ledger with its lots, quotes, orders and provisioning."""
