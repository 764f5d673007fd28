"""The staff's door: the backoffice blueprint. Each module here shows one area to the staff and calls that
area's service; the areas themselves (models, rules, jobs) live in their own rooms."""

from flask import Blueprint

bp = Blueprint("backoffice", __name__, url_prefix="/backoffice")
