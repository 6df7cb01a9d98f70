"""Errors typed by what a retry means: retryable, permanent, or nothing left to do."""

from __future__ import annotations

from collections.abc import Mapping

from shared import texts


class IntegrationError(Exception):
    """Base of every error this service raises on purpose."""


class RetryableError(IntegrationError):
    """A passing fault (timeout, 429, 5xx, lock): raise it so the bus redelivers with backoff."""


class PermanentError(IntegrationError):
    """The same input will fail the same way: the order goes to `held` or `failed` with the reason.

    The reason is `error.<code>` (or `text`) in the catalogs, filled with `data`, rendered in the reader's language.
    Migration: a str in place of data is the old English message (with `message_es` its Spanish twin).
    """

    def __init__(
        self,
        code: str,
        data: Mapping[str, object] | str | None = None,
        *,
        detail: str = "",
        text: str = "",
        message_es: str = "",
    ) -> None:
        self.code = code
        self.key = text or f"error.{code}"  # a code with two sentences names the second one's key
        self.detail = detail
        self.data: dict[str, object] = dict(data) if isinstance(data, Mapping) else {}
        self._legacy = (data, message_es or data) if isinstance(data, str) else None
        self.message = self.text("en")  # English, for logs
        self.message_es = self.text("es")
        super().__init__(self.message)

    @property
    def keyed(self) -> bool:
        """True when the reason is a catalog key with data (not the legacy sentences)."""
        return self._legacy is None

    def text(self, lang: str = texts.DEFAULT_LANGUAGE) -> str:
        """The reason in lang: the catalog's `error.<code>` with data, or the legacy sentences."""
        if self._legacy is not None:
            english, spanish = self._legacy
            return spanish if lang == "es" else english
        return texts.render(self.key, self.data, lang)


class NothingToDo(IntegrationError):
    """Already done or superseded: log it and complete the message."""


class ConfigError(IntegrationError):
    """A settings file or value is wrong; the message names the file, the key and the reason."""


class BadRequest(IntegrationError):
    """An inbound request we refuse, answered as problem+json at the edge (functions/http.py).

    Services raise the typed kinds below, which carry no HTTP status: the edge maps each kind to one. The
    channel parsers still name theirs (`BadRequest(400, title, detail)`); `status` is None for a typed kind.
    """

    def __init__(self, status: int | None, title: str, detail: str = "", type_: str = "about:blank") -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type_


class Refusal(BadRequest):
    """A refusal typed by what is wrong with the request; functions/http.py chooses its status."""

    def __init__(self, title: str, detail: str = "", type_: str = "about:blank") -> None:
        super().__init__(None, title, detail, type_)


class Unreadable(Refusal):
    """The body or a parameter cannot be read as what the route expects."""


class NotFound(Refusal):
    """The request names something this service does not know."""


class UnknownStore(NotFound):
    """No store (of that channel) is configured under the id."""


class UnknownOrder(NotFound):
    """The store has no order under the id here."""


class UnknownDocument(NotFound):
    """No issued document under that number."""


class InvalidSignature(Refusal):
    """The webhook's signature header is missing or wrong: the sender is not the store."""


class TooLarge(Refusal):
    """The body is over the route's limit."""


class NothingToRetry(Refusal):
    """A retry was asked for an order that is neither held nor failed."""


class UnreadableOrder(BadRequest):
    """A readable delivery (JSON, with an order id) whose values cannot be read: intake holds the order with the
    reason instead of refusing it. Raised by the channel parsers, hence their 400 and their title."""

    TITLE = "Malformed order"

    def __init__(self, detail: str) -> None:
        super().__init__(400, self.TITLE, detail)
