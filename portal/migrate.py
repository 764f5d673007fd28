"""Alembic, configured from code (no alembic.ini): portal/migrations/ holds env.py and the dated versions."""

from alembic import command
from alembic.config import Config
from flask import Flask

from portal import config

FILE_TEMPLATE = "%%(year)d_%%(month).2d_%%(day).2d_%%(hour).2d%%(minute).2d-%%(rev)s_%%(slug)s"


def alembic_config(app: Flask, connection=None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(config.PACKAGE_DIR / "migrations"))
    cfg.set_main_option("file_template", FILE_TEMPLATE)
    cfg.set_main_option("truncate_slug_length", "60")
    cfg.attributes["app"] = app
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def upgrade(app: Flask, revision: str = "head", connection=None) -> None:
    command.upgrade(alembic_config(app, connection), revision)
