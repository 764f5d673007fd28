"""WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi …`."""

from portal.app import create_app

app = create_app()
