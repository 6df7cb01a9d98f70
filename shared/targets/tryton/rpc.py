"""Tryton adapter: JSON-RPC over HTTP with requests (login, session, model calls, wizards).

Everything the Tryton target sends to the ERP goes through TrytonRpc.call, which applies the store's rate and
concurrency limits, retries passing faults with backoff and jitter, and types errors by what a retry means: a
unique-constraint, serialization or lock error is a race with another writer, not a business refusal.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import requests

from shared.errors import IntegrationError, PermanentError, RetryableError
from shared.stores import TrytonSettings
from shared.targets.tryton.limits import RetryPolicy, store_limits

log = logging.getLogger(__name__)


class UncertainOutcome(RetryableError):
    """A write was sent but no answer came back: the ERP may have committed it. Look it up before redoing it."""


# Tryton's JSON-RPC marks non-JSON values with "__class__" (trytond.protocols.jsonrpc).
def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return {"__class__": "Decimal", "decimal": str(value)}
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:  # Tryton keeps naive UTC datetimes
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return {
            "__class__": "datetime",
            "year": value.year,
            "month": value.month,
            "day": value.day,
            "hour": value.hour,
            "minute": value.minute,
            "second": value.second,
            "microsecond": value.microsecond,
        }
    if isinstance(value, dt.date):
        return {"__class__": "date", "year": value.year, "month": value.month, "day": value.day}
    if isinstance(value, bytes):
        return {"__class__": "bytes", "base64": base64.b64encode(value).decode()}
    if isinstance(value, (set, frozenset)):
        return list(value)
    raise TypeError(f"cannot send {type(value).__name__} to Tryton")


def _decode(obj: dict[str, Any]) -> Any:
    kind = obj.get("__class__")
    if kind == "Decimal":
        return Decimal(obj["decimal"])
    if kind == "date":
        return dt.date(obj["year"], obj["month"], obj["day"])
    if kind == "datetime":
        return dt.datetime(
            obj["year"],
            obj["month"],
            obj["day"],
            obj["hour"],
            obj["minute"],
            obj["second"],
            obj["microsecond"],
            tzinfo=dt.UTC,
        )
    if kind == "bytes":
        return base64.b64decode(obj["base64"])
    if kind == "timedelta":
        return dt.timedelta(seconds=obj["seconds"])
    return obj


def dumps(payload: Any) -> str:
    return json.dumps(payload, default=_encode, separators=(",", ":"))


def loads(text: str | bytes) -> Any:
    return json.loads(text, object_hook=_decode, parse_float=Decimal)


class _Retry(Exception):
    def __init__(
        self, reason: str, retry_after: float | None = None, uncertain: bool = False, not_found: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.uncertain = uncertain
        self.not_found = not_found


def refusal_from_error(error: Any) -> PermanentError | _Retry:
    """Type a JSON-RPC `error` member: Tryton sends exception args, e.g. ["UserError", [message, description, …]]."""
    if isinstance(error, list) and error and error[0] in ("UserError", "UserWarning") and len(error) > 1:
        args = error[1] if isinstance(error[1], list) else [error[1]]
        if error[0] == "UserWarning":  # [name, message, description]
            name, args = str(args[0]) if args else "", args[1:]
        else:
            name = ""
        text = " ".join(str(a) for a in args[:2] if isinstance(a, str) and a).strip()
        # The English message is the ERP's own text (in the language set for the Tryton user), as Tryton wrote it;
        # the Spanish one says who refused, since that text may not be in Spanish.
        if not text:
            return PermanentError("erp_refused", detail=name, text="error.erp_refused_silently")
        return PermanentError("erp_refused", {"erp_text": text}, detail=name)
    if isinstance(error, list) and error and error[0] == "ConcurrencyException":
        return _Retry("ERP record changed concurrently")
    if isinstance(error, list) and error and error[0] == "LoginException":
        return PermanentError("erp_login_refused", text="error.erp_login_another_step")
    # Any other exception is a server fault (a bug, a locked database, a serialization failure that outlived
    # trytond's own retries): Tryton rolled the transaction back, so resending is safe even for a create.
    first = error[0] if isinstance(error, list) and error else error
    return _Retry(f"ERP server error: {str(first)[:200]}")


def user_error_message(error: Any) -> str:
    """The message of a JSON-RPC UserError (["UserError", [message, description, domain]]), else ""."""
    if isinstance(error, list) and len(error) > 1 and error[0] == "UserError":
        args = error[1] if isinstance(error[1], list) else [error[1]]
        return str(args[0]) if args and isinstance(args[0], str) else ""
    return ""


class TrytonRpc:
    """A logged-in JSON-RPC client for one store's Tryton database. Thread-safe for concurrent calls."""

    def __init__(
        self,
        settings: TrytonSettings,
        store_id: str,
        *,
        http: requests.Session | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.store_id = store_id
        self.url = f"{settings.url.rstrip('/')}/{settings.database}/rpc/"
        self.http = http or requests.Session()
        self.retry = retry or RetryPolicy()
        self.limits = store_limits(store_id, settings)
        self._sleep = sleep
        self._authorization = ""
        self._login_lock = threading.Lock()
        self.context: dict[str, Any] = {}
        self._ids = iter(range(1, 1 << 62))
        self._unique_texts: frozenset[str] | None = None

    # -- session -----------------------------------------------------------------------------------------------

    def login(self) -> None:
        """Open a session (common.db.login) and load the user's preferences as the context of later calls."""
        with self._login_lock:
            result = self._call(
                "common.db.login",
                [self.settings.user, {"password": self.settings.password}, "en"],
                idempotent=True,
                authorised=False,
            )
            if not isinstance(result, list) or len(result) < 2:
                raise PermanentError("erp_login_refused", text="error.erp_login_no_session")
            user_id, token = result[0], result[1]
            credentials = f"{self.settings.user}:{user_id}:{token}".encode()
            self._authorization = "Session " + base64.b64encode(credentials).decode()
            preferences = self._call("model.res.user.get_preferences", [True, {}], idempotent=True)
            self.context = {k: v for k, v in preferences.items() if k in ("company", "language", "companies")}

    def _ensure_login(self) -> None:
        if not self._authorization:
            self.login()

    # -- calls -------------------------------------------------------------------------------------------------

    def call(self, method: str, params: Sequence[Any], *, idempotent: bool = True) -> Any:
        """Call a JSON-RPC method with rate limit, concurrency limit and retries.

        idempotent=False (creates, payments) retries only what surely did not reach the ERP (429, 503, connect
        timeouts) and raises UncertainOutcome otherwise, so the caller looks the record up before sending again.
        Raises PermanentError("erp_refused", {"erp_text": <the ERP's message>}) for a functional refusal and
        RetryableError when retries are exhausted.
        """
        self._ensure_login()
        return self._call(method, list(params), idempotent=idempotent)

    def model(
        self, model: str, method: str, *args: Any, idempotent: bool = True, context: Mapping[str, Any] | None = None
    ) -> Any:
        return self.call(f"model.{model}.{method}", [*args, {**self.context, **(context or {})}], idempotent=idempotent)

    def search_read(
        self,
        model: str,
        domain: list[Any],
        fields: list[str],
        *,
        order: list[tuple[str, str]] | None = None,
        limit: int | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        result = self.model(model, "search_read", domain, 0, limit, order, fields, context=context)
        return list(result)

    def read(self, model: str, ids: list[int], fields: list[str]) -> list[dict[str, Any]]:
        return list(self.model(model, "read", ids, fields))

    def create(self, model: str, values: list[dict[str, Any]]) -> list[int]:
        return list(self.model(model, "create", values, idempotent=False))

    def write(self, model: str, ids: list[int], values: dict[str, Any]) -> None:
        self.model(model, "write", ids, values)

    def button(self, model: str, name: str, ids: list[int]) -> Any:
        """A workflow button (quote, confirm, post, …): Tryton skips records not in a state it applies to."""
        return self.model(model, name, ids)

    def wizard(
        self,
        name: str,
        model: str,
        record_id: int,
        steps: list[tuple[str, dict[str, Any]]],
        *,
        follow: Callable[[Any], list[tuple[str, dict[str, Any]]]] | None = None,
        idempotent: bool = False,
    ) -> list[Any]:
        """Run a wizard on one record: each step is (state to execute, form data by state view).

        `follow` gets the last answer and returns further steps in the same wizard session (a question it asked).
        """
        context = {**self.context, "active_model": model, "active_id": record_id, "active_ids": [record_id]}
        session_id, _start, _end = self.call(f"wizard.{name}.create", [context], idempotent=True)
        results = []
        try:
            pending = list(steps)
            while pending:
                state, data = pending.pop(0)
                results.append(
                    self.call(f"wizard.{name}.execute", [session_id, data, state, context], idempotent=idempotent)
                )
                if not pending and follow is not None:
                    pending = follow(results[-1])
        finally:
            try:
                self.call(f"wizard.{name}.delete", [session_id, context], idempotent=True)
            except (RetryableError, PermanentError):
                log.warning("tryton: could not delete wizard session %s (store %s)", name, self.store_id)
        return results

    # -- races -------------------------------------------------------------------------------------------------

    def unique_constraint_texts(self) -> frozenset[str]:
        """The ERP's own messages for its unique constraints, in this session's language, read once.

        Over JSON-RPC a unique-constraint violation (SQLConstraintError) arrives as a plain UserError carrying only
        its text, in the Tryton user's language. Tryton's catalogue (ir.message) writes every such message in
        English with "unique"; those messages are found in English and read back in the session's language, so a
        translation does not hide a race. Unreadable catalogue: an empty set (every UserError stays a refusal),
        tried again at the next UserError.
        """
        if self._unique_texts is not None:
            return self._unique_texts
        english = {**self.context, "language": "en"}
        try:
            self._ensure_login()
            # Not classified for races themselves: a refusal here must not ask for this catalogue again.
            rows = self._call(
                "model.ir.message.search",
                [[("text", "ilike", "%unique%")], 0, None, None, english],
                idempotent=True,
                races=False,
            )
            ids = [int(row) for row in rows]
            texts = self._call("model.ir.message.read", [ids, ["text"], self.context], idempotent=True, races=False)
            found = frozenset(str(row["text"]) for row in texts if row.get("text"))
        except (IntegrationError, TypeError, KeyError, ValueError) as exc:
            log.warning("tryton: could not read the unique-constraint messages (store %s): %s", self.store_id, exc)
            return frozenset()
        self._unique_texts = found
        return found

    def _is_race(self, error: Any) -> bool:
        message = user_error_message(error)
        return bool(message) and message in self.unique_constraint_texts()

    # -- transport ---------------------------------------------------------------------------------------------

    def _call(
        self, method: str, params: list[Any], *, idempotent: bool, authorised: bool = True, races: bool = True
    ) -> Any:
        body = dumps({"id": next(self._ids), "method": method, "params": params})
        relogged = False
        last = ""
        not_found = False
        for attempt in range(self.retry.attempts):
            try:
                return self._send(method, body, idempotent=idempotent, authorised=authorised, races=races)
            except _SessionExpired:
                if relogged or not authorised:
                    raise PermanentError("erp_login_refused") from None
                relogged = True
                self._authorization = ""
                self.login()
                continue
            except _Retry as fault:
                last = fault.reason
                not_found = fault.not_found
                if fault.uncertain and not idempotent:
                    raise UncertainOutcome(f"Tryton {method}: {fault.reason}; outcome unknown") from None
                if attempt + 1 >= self.retry.attempts:
                    break
                delay = self.retry.delay(attempt, fault.retry_after)
                log.info(
                    "tryton: %s failed (%s), retry %d in %.2fs (store %s)",
                    method,
                    fault.reason,
                    attempt + 1,
                    delay,
                    self.store_id,
                )
                self._sleep(delay)
        if not_found:
            raise PermanentError("erp_not_found", {"database": self.settings.database})
        raise RetryableError(f"Tryton {method}: {last} after {self.retry.attempts} attempts")

    def _send(self, method: str, body: str, *, idempotent: bool, authorised: bool, races: bool = True) -> Any:
        headers = {"Content-Type": "application/json"}
        if authorised:
            headers["Authorization"] = self._authorization
        timeout = self.settings.timeout_seconds
        self.limits.bucket.acquire()
        with self.limits.slots:
            try:
                response = self.http.post(
                    self.url, data=body.encode(), headers=headers, timeout=(min(5.0, timeout), timeout)
                )
            except requests.ConnectTimeout:
                raise _Retry("connect timeout") from None  # never reached the ERP: safe for any call
            except requests.Timeout:
                raise _Retry("timeout", uncertain=True) from None
            except requests.ConnectionError as exc:
                # Refused connections never reached the ERP; a reset mid-answer may have been committed.
                refused = "refused" in str(exc).lower()
                raise _Retry("connection refused" if refused else "connection lost", uncertain=not refused) from None
        status = response.status_code
        if status == 401:
            raise _SessionExpired()
        if status == 403:
            raise PermanentError("erp_login_refused")
        if status == 429:
            raise _Retry("429 too many requests", retry_after=_retry_after(response))
        if status == 503:
            raise _Retry("503 unavailable", retry_after=_retry_after(response))
        if status >= 500:
            raise _Retry(f"{status} server error", uncertain=True)
        if status == 404:
            # Tryton answers 404 both for a database it does not have and for a login whose session row could
            # not be written ("database is locked" on a busy SQLite ERP): nothing was done, so it is retried and
            # only a 404 that outlasts the retries is the permanent "no such database".
            raise _Retry("404 database not found or busy", not_found=True)
        if status >= 400:
            raise PermanentError(
                "erp_refused", {"status": str(status), "answer": response.text[:200]}, text="error.erp_http_refused"
            )
        try:
            payload = loads(response.content)
        except ValueError:
            raise _Retry("answer is not JSON", uncertain=True) from None
        if isinstance(payload, dict) and "error" in payload:
            outcome = refusal_from_error(payload["error"])
            if isinstance(outcome, PermanentError) and authorised and races and self._is_race(payload["error"]):
                # Two writers took the same unique value (e.g. two new customers and one party code); Tryton
                # rolled back, so the same call is sent again and, when retries run out, the bus redelivers.
                raise _Retry(f"ERP unique constraint hit by a concurrent write: {outcome.message[:200]}")
            raise outcome
        if isinstance(payload, dict) and "result" in payload:
            return payload["result"]
        return payload


class _SessionExpired(Exception):
    pass


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
