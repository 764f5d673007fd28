"""A consumer's app is made once, and what is alive then leaves the full garbage collections (portal/jobs)."""

import gc

from flask import Flask

from portal import jobs


def test_the_consumer_freezes_what_is_alive_once_its_app_is_made(monkeypatch):
    made = []

    def factory() -> Flask:
        made.append(Flask("consumer-test"))
        return made[-1]

    monkeypatch.setattr(jobs, "_app", None)
    monkeypatch.setattr(jobs, "_app_factory", factory)
    gc.unfreeze()
    try:
        assert gc.get_freeze_count() == 0
        app = jobs._consumer_app()
        assert gc.get_freeze_count() > 0  # the app, the modules … moved to the permanent generation
        assert jobs._consumer_app() is app and len(made) == 1  # made once per process
    finally:
        gc.unfreeze()  # the test process's objects are collectable again
