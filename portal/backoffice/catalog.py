"""Backoffice "Catálogo": product families, products and their dated prices (staff admin)."""

from portal.backoffice.views import bp  # noqa: F401 - routes below register on the backoffice blueprint
