"""How views declare who may use them: exactly one of these decorators on every endpoint.

- `@public`: anyone (login page, password reset, invitation links, static files).
- `@authenticated`: any signed-in user (own profile, sign-out, organization switch).
- `@requires(Permission.X)`: a customer user whose roles in the *current organization* grant X;
  signed out → login page; staff → 404 (they have no organization); lacking X → 403.
- `@staff_requires(StaffPermission.X)`: a staff user with X; a customer user gets 404.

`tests/test_permissions.py` walks `app.url_map` and fails for any endpoint without one of them.
The permission names and the matrix live in `portal/accounts/roles.py`.
"""

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import abort, g, redirect, request, url_for
from flask_login import current_user


@dataclass(frozen=True)
class Access:
    kind: str  # "public" | "authenticated" | "customer" | "staff"
    permission: str | None = None


def access_of(view: Callable) -> Access | None:
    return getattr(view, "access", None)


def _mark(view: Callable, access: Access) -> Callable:
    view.access = access  # type: ignore[attr-defined]
    return view


def _to_login() -> Any:
    return redirect(url_for("accounts.login", next=request.full_path if request.query_string else request.path))


def public(view: Callable) -> Callable:
    return _mark(view, Access("public"))


def authenticated(view: Callable) -> Callable:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return _to_login()
        return view(*args, **kwargs)

    return _mark(wrapper, Access("authenticated"))


def customer_can(permission: str) -> bool:
    """True when the signed-in customer user holds `permission` in the current organization."""
    return permission in getattr(g, "permissions", frozenset())


def staff_can(permission: str) -> bool:
    return permission in getattr(g, "staff_permissions", frozenset())


def requires(permission: str) -> Callable:
    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return _to_login()
            if current_user.is_staff:
                abort(404)
            if getattr(g, "membership", None) is None:
                abort(403)
            if not customer_can(permission):
                abort(403)
            return view(*args, **kwargs)

        return _mark(wrapper, Access("customer", str(permission)))

    return decorator


def staff_requires(permission: str) -> Callable:
    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return _to_login()
            if not current_user.is_staff:
                abort(404)
            if not staff_can(permission):
                abort(403)
            return view(*args, **kwargs)

        return _mark(wrapper, Access("staff", str(permission)))

    return decorator
