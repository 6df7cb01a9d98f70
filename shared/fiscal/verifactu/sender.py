"""Submission of VERI*FACTU records to the AEAT: per issuer (seller NIF), the pending records in chain order, up to
1,000 per message, no sooner than the TiempoEsperaEnvio the AEAT gave in its last answer. Each answer sets the
records' states and CSV, says so on the orders' timelines and holds an order whose record was rejected.

Runs from the timer (functions/verifactu_sender.py) and the CLI (`python -m local.cli verifactu-send`). Knows
neither HTTP nor the SOAP wire: the AeatClient does (client.py; a local fake in tests).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol, runtime_checkable

from shared.bootstrap import Services
from shared.domain import lifecycle
from shared.domain.order import OrderState
from shared.domain.records import OrderRecord, Problem, TimelineEntry
from shared.errors import ConfigError, RetryableError
from shared.fiscal.verifactu.chain import issuer_of, settings_of
from shared.fiscal.verifactu.client import AeatClient, aeat_client_for
from shared.fiscal.verifactu.soap import DEFAULT_WAIT_SECONDS, MAX_RECORDS, Answer, Fault, LineAnswer
from shared.handlers.common import update_order
from shared.stores import StoreSettings

log = logging.getLogger("o2c.verifactu")

ACTOR = "verifactu"
REJECTED = "verifactu_rejected"  # the problem code of an order whose record the AEAT refused
DUPLICATE = "3000"  # "Registro de facturación duplicado": AEAT already has this record


class SubmittableRecord(Protocol):
    """What the sender reads of a record (shared.domain.verifactu.VerifactuRecord has it)."""

    @property
    def seq(self) -> int: ...
    @property
    def store_id(self) -> str: ...
    @property
    def order_id(self) -> str: ...
    @property
    def invoice_number(self) -> str: ...
    @property
    def issue_date(self) -> date: ...
    @property
    def kind(self) -> str: ...
    @property
    def xml(self) -> str: ...


@runtime_checkable
class KeepsRecordsToSend(Protocol):
    """The state port's VERI*FACTU methods the sender uses, and its watermarks for the wait."""

    def pending_verifactu_records(self, issuer_nif: str, limit: int = 1000) -> Sequence[SubmittableRecord]: ...

    def set_verifactu_state(
        self, issuer_nif: str, seq: int, state: str, csv: str = "", error_code: str = "", error_text: str = ""
    ) -> object: ...

    def get_watermark(self, name: str) -> str | None: ...

    def set_watermark(self, name: str, value: str) -> None: ...


@dataclass(frozen=True)
class Issuer:
    """The ObligadoEmision of a submission: the seller's NIF (no country prefix) and name."""

    nif: str
    name: str


@dataclass(frozen=True)
class Outcome:
    """What one call did: records sent and their answers, or why nothing went (waiting, nothing pending, fault)."""

    issuer_nif: str
    sent: int = 0
    accepted: int = 0
    accepted_with_errors: int = 0
    rejected: int = 0
    unanswered: int = 0
    csv: str = ""
    next_submission: datetime | None = None
    fault: str = ""


def _wait_key(nif: str) -> str:
    return f"verifactu-next-submission:{nif}"


def next_submission(state: KeepsRecordsToSend, nif: str) -> datetime | None:
    """When the issuer may submit again (the last answer's time + its TiempoEsperaEnvio); None: now."""
    value = state.get_watermark(_wait_key(nif))
    return datetime.fromisoformat(value) if value else None


def records_of(services: Services) -> KeepsRecordsToSend:
    if not isinstance(services.state, KeepsRecordsToSend):
        raise ConfigError("this state store keeps no VERI*FACTU records")
    return services.state


def send_pending(services: Services, issuer: Issuer, client: AeatClient, now: datetime) -> Outcome:
    """Submit the issuer's next pending records (at most 1,000, chain order) if the AEAT's wait is over.

    Idempotent in effect: records leave "pending" only with the AEAT's answer, so a crash or a lost answer sends
    them again, and the AEAT's "duplicate" answer (3000) for a record it already took counts as accepted. Raises
    RetryableError (from the client) when the outcome is unknown; nothing is changed then.
    """
    state = records_of(services)
    waiting_until = next_submission(state, issuer.nif)
    if waiting_until is not None and now < waiting_until:
        return Outcome(issuer.nif, next_submission=waiting_until)
    records = list(state.pending_verifactu_records(issuer.nif, limit=MAX_RECORDS))[:MAX_RECORDS]
    if not records:
        return Outcome(issuer.nif)
    answer = client.submit(issuer.nif, issuer.name, [record.xml for record in records])
    if isinstance(answer, Fault):
        # The whole message was refused (schema, certificate, too early): nothing was taken; try again later.
        until = now + timedelta(seconds=DEFAULT_WAIT_SECONDS)
        state.set_watermark(_wait_key(issuer.nif), until.isoformat())
        log.warning("verifactu submission refused issuer=%s fault=%s", issuer.nif, answer.code)
        return Outcome(issuer.nif, next_submission=until, fault=f"{answer.code}: {answer.text}")
    until = now + timedelta(seconds=answer.wait_seconds)
    # The wait first: a crash while the answer is applied must not make the next run submit too early.
    state.set_watermark(_wait_key(issuer.nif), until.isoformat())
    counts = _apply(services, state, issuer, records, answer)
    return Outcome(
        issuer.nif,
        sent=len(records),
        accepted=counts["accepted"],
        accepted_with_errors=counts["accepted_with_errors"],
        rejected=counts["rejected"],
        unanswered=counts["unanswered"],
        csv=answer.csv,
        next_submission=until,
    )


def _apply(
    services: Services, state: KeepsRecordsToSend, issuer: Issuer, records: list[SubmittableRecord], answer: Answer
) -> dict[str, int]:
    waiting = {(record.invoice_number, record.kind): record for record in records}
    counts = {"accepted": 0, "accepted_with_errors": 0, "rejected": 0, "unanswered": 0}
    for line in answer.lines:
        record = waiting.pop((line.invoice_number, line.kind), None)
        if record is None:
            log.warning("verifactu answer for a record not sent issuer=%s number=%s", issuer.nif, line.invoice_number)
            continue
        result = _record_state(line)
        csv = answer.csv if result != "rejected" else ""
        error_code, error_text = ("", "") if result == "accepted" else (line.error_code, line.error_text)
        state.set_verifactu_state(issuer.nif, record.seq, result, csv=csv, error_code=error_code, error_text=error_text)
        counts[result] += 1
        _tell_the_order(services, record, result, csv, error_code, error_text)
    counts["unanswered"] = len(waiting)  # stay pending: sent again with the next submission
    return counts


def _record_state(line: LineAnswer) -> str:
    if line.error_code == DUPLICATE and line.duplicate_state in ("Correcta", "Correcto", "AceptadaConErrores"):
        return "accepted"  # sent before, answer lost: the AEAT already holds it
    return line.state


def _tell_the_order(
    services: Services, record: SubmittableRecord, result: str, csv: str, error_code: str, error_text: str
) -> None:
    data = {"number": record.invoice_number, "csv": csv, "error_code": error_code, "error_text": error_text}

    def mutate(order: OrderRecord) -> list[TimelineEntry]:
        entries = [
            TimelineEntry(actor=ACTOR, action=f"verifactu.{result}", text=f"timeline.verifactu_{result}", data=data)
        ]
        if result == "rejected":
            problem = Problem(code=REJECTED, found=error_code, data=data)
            lifecycle.move(order, OrderState.HELD)
            kept = [
                p for p in order.problems if not (p.code == REJECTED and p.data.get("number") == record.invoice_number)
            ]
            order.problems = [*kept, problem]
        return entries

    try:
        update_order(services, record.store_id, record.order_id, mutate)
    except KeyError:
        log.warning("verifactu record of an unknown order store=%s order=%s", record.store_id, record.order_id)


ClientFor = Callable[[str, str], AeatClient]  # (store id, environment) -> client


def send_all(services: Services, now: datetime, client_for: ClientFor = aeat_client_for) -> list[Outcome]:
    """One submission (at most) per issuer of the stores with VERI*FACTU on; what the timer and the CLI run.

    Stores that share a seller share its chain and send together, with the first store's certificate. One
    issuer's trouble (no certificate, AEAT unreachable) is logged and reported and never stops the others.
    """
    issuers: dict[str, tuple[Issuer, StoreSettings]] = {}
    for store in sorted(services.stores.values(), key=lambda s: s.store_id):
        if settings_of(store) is not None and store.seller is not None:
            issuers.setdefault(issuer_of(store), (Issuer(issuer_of(store), store.seller.name), store))
    outcomes = []
    for issuer, store in issuers.values():
        try:
            client = client_for(store.store_id, store.verifactu.environment)
            outcomes.append(send_pending(services, issuer, client, now))
        except (ConfigError, RetryableError) as exc:
            log.warning("verifactu submission not made issuer=%s store=%s: %s", issuer.nif, store.store_id, exc)
            outcomes.append(Outcome(issuer.nif, fault=str(exc)))
    return outcomes
