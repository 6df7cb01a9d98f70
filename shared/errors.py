"""Errors typed by what a retry means: retryable, permanent, or nothing left to do."""

from __future__ import annotations


class IntegrationError(Exception):
    """Base of every error this service raises on purpose."""


class RetryableError(IntegrationError):
    """A passing fault (timeout, 429, 5xx, lock): raise it so the bus redelivers with backoff."""


class PermanentError(IntegrationError):
    """The same input will fail the same way: the order goes to `held` or `failed` with the reason."""

    def __init__(self, code: str, message: str, *, detail: str = "", message_es: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.message_es = message_es or message  # Spanish for business users; English if not given
        self.detail = detail


class NothingToDo(IntegrationError):
    """Already done or superseded: log it and complete the message."""


class ConfigError(IntegrationError):
    """A settings file or value is wrong; the message names the file, the key and the reason."""


class BadRequest(IntegrationError):
    """An inbound request we refuse; maps to an HTTP problem+json response."""

    def __init__(self, status: int, title: str, detail: str = "", type_: str = "about:blank") -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type_
