"""WSGI entry point in a checkout: `gunicorn wsgi:app`, `flask --app wsgi …` (an installed wheel: portal.wsgi)."""

from portal.wsgi import app  # noqa: F401 - the application gunicorn and flask look for
