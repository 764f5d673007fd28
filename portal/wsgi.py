"""WSGI entry point of an installed portal: `gunicorn portal.wsgi:app` (what `portal web` runs)."""

from portal.app import create_app

app = create_app()
