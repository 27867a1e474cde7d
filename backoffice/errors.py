"""Domain errors. The API's one exception handler turns them into the one error shape."""

from __future__ import annotations


class DomainError(Exception):
    """A refusal with a stable code, a message and optional field errors."""

    status_code = 400
    default_code = "invalid"

    def __init__(self, message: str = "", *, code: str | None = None, errors: dict[str, list[str]] | None = None):
        self.code = code or self.default_code
        self.errors = errors or {}
        self.message = message or "The request is not valid."
        super().__init__(self.message)


class DomainValidationError(DomainError):
    """Field-level validation errors: `{field: [messages]}`."""

    def __init__(self, errors: dict[str, list[str]], *, code: str = "invalid", message: str = ""):
        fields = ", ".join(sorted(errors))
        super().__init__(message or f"Invalid value for: {fields}.", code=code, errors=errors)


class NotFound(DomainError):
    status_code = 404
    default_code = "not_found"


class PayloadTooLarge(DomainError):
    status_code = 413
    default_code = "too_large"


class Conflict(DomainError):
    """The request contradicts what was done before (e.g. an idempotency key reused for something else)."""

    status_code = 409
    default_code = "conflict"


class Refused(DomainError):
    """Valid input that a business rule refuses (insufficient balance, out of stock...); `code` says which."""

    status_code = 422
    default_code = "refused"
