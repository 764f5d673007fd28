"""Errors services raise and views turn into a message on the form (never a 500)."""


class ServiceError(Exception):
    """A refusal the user can act on. `message` is already translated; `field` names the form field."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(str(message))
        self.message = str(message)
        self.field = field
        # Every message by form field (None: the page's top). One here; a subclass may carry several.
        self.errors: dict[str | None, list[str]] = {field: [self.message]}


class NotFound(ServiceError):
    """The object does not exist for this actor (another organization's object is reported the same)."""


class PermissionDenied(ServiceError):
    """The actor lacks the permission the action needs."""
