"""Billing: pró-rata, invoices, boletos, Pix, payments."""
