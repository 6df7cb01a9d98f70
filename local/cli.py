"""`python -m local.cli`: the operations the HTTP API offers, from a terminal, on the local state.

sku-map import STORE FILE.csv|FILE.json   replace the store's SKU map
sku-map export STORE [--json]             print it
unmapped STORE                            SKUs held orders wait for
simulate STORE ORDER.json                 dry run: canonical order, problems, invoice (no state change)
orders [--store S] [--state X]            list orders
order STORE ORDER                         one order with its timeline
retry STORE ORDER                         release a held or failed order
erase STORE --email E | --tax-id T        redact one customer's personal data (issued documents stay)
verifactu-send                            submit pending VERI*FACTU records to the AEAT now (as the timer does)
reconcile STORE --from D --to D [--csv] [--redrive] [--lang es]   store, service and target compared
backfill STORE --from D --to D [--apply]  import past orders (a dry run unless --apply)
stock sync STORE                          set the store's stock from the target now
stock import STORE FILE.csv|FILE.json     the UBL target's stock table (item_code,quantity[,counted_at])
webhooks check|repair STORE [--base-url]  webhook subscriptions: compare with what we need / re-create them
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from local import stock_cli
from local.settings import load_local_settings
from shared.actor import local_actor
from shared.bootstrap import services
from shared.errors import BadRequest, ConfigError, PermanentError, RetryableError
from shared.fiscal.verifactu.sender import send_all
from shared.handlers import catalog, operations, privacy, simulate
from shared.handlers.backfill import backfill
from shared.handlers.reconciliation import parse_range, reconcile, report_csv

ROOT = Path(__file__).resolve().parent.parent


def _print(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.cli", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    sku = commands.add_parser("sku-map").add_subparsers(dest="action", required=True)
    sku_import = sku.add_parser("import")
    sku_import.add_argument("store")
    sku_import.add_argument("file", type=Path)
    sku_export = sku.add_parser("export")
    sku_export.add_argument("store")
    sku_export.add_argument("--json", action="store_true")
    commands.add_parser("unmapped").add_argument("store")
    sim = commands.add_parser("simulate")
    sim.add_argument("store")
    sim.add_argument("file", type=Path)
    listing = commands.add_parser("orders")
    listing.add_argument("--store")
    listing.add_argument("--state")
    listing.add_argument("--limit", default="50")
    for name in ("order", "retry"):
        one = commands.add_parser(name)
        one.add_argument("store")
        one.add_argument("order")
    erase = commands.add_parser("erase")
    erase.add_argument("store")
    who = erase.add_mutually_exclusive_group(required=True)
    who.add_argument("--email", default="")
    who.add_argument("--tax-id", default="")
    commands.add_parser("verifactu-send")
    for name in ("reconcile", "backfill"):
        ranged = commands.add_parser(name)
        ranged.add_argument("store")
        ranged.add_argument("--from", dest="start", required=True, metavar="YYYY-MM-DD")
        ranged.add_argument("--to", dest="end", required=True, metavar="YYYY-MM-DD")
    commands.choices["reconcile"].add_argument("--csv", action="store_true")
    commands.choices["reconcile"].add_argument("--redrive", action="store_true")
    commands.choices["reconcile"].add_argument("--lang", default="en", choices=("en", "es"))
    commands.choices["backfill"].add_argument("--apply", action="store_true")
    commands.add_parser("dead-letters").add_argument("queue", nargs="?")
    resubmit = commands.add_parser("resubmit")
    resubmit.add_argument("queue")
    resubmit.add_argument("sequence", type=int)
    stock_cli.add_commands(commands)
    args = parser.parse_args(argv)

    load_local_settings(ROOT)
    try:
        found = services()
    except ConfigError as error:
        print(f"Settings error: {error}", file=sys.stderr)
        return 2
    try:
        if args.command == "sku-map" and args.action == "import":
            content_type = "application/json" if args.file.suffix == ".json" else "text/csv"
            body = args.file.read_bytes()
            _print(catalog.import_sku_map(found, args.store, body, content_type, actor=local_actor()))
        elif args.command == "sku-map":
            print(catalog.export_sku_map(found, args.store, args.json)[0], end="")
        elif args.command == "unmapped":
            _print(catalog.unmapped_skus(found, args.store))
        elif args.command == "simulate":
            _print(simulate.simulate_order(found, args.store, args.file.read_bytes()))
        elif args.command == "orders":
            _print(operations.list_orders(found, args.store, args.state, args.limit))
        elif args.command == "order":
            _print(operations.order_detail(found, args.store, args.order))
        elif args.command == "retry":
            _print(operations.order_summary(operations.retry_order(found, args.store, args.order, local_actor())))
        elif args.command == "erase":
            # The erasure is recorded under the person who ran it: the operating-system user.
            _print(privacy.erase_customer(found, args.store, email=args.email, tax_id=args.tax_id, actor=local_actor()))
        elif args.command == "verifactu-send":
            _print([asdict(outcome) for outcome in send_all(found, found.clock())])
        elif args.command == "reconcile":
            first, last = parse_range(args.start, args.end)
            report = reconcile(found, args.store, first, last, redrive=args.redrive, actor=local_actor())
            if args.csv:
                print(report_csv(report, args.lang), end="")
            else:
                _print(report.as_dict(args.lang))
        elif args.command == "backfill":
            return _backfill(found, args)
        elif args.command in stock_cli.COMMANDS:
            return stock_cli.run(found, args)
        elif args.command in ("dead-letters", "resubmit"):
            return _dead_letters(found.bus, args)
    except BadRequest as error:
        print(f"{error.title}: {error.detail}", file=sys.stderr)
        return 2
    except (RetryableError, PermanentError) as error:  # the store API or the target (reconcile, backfill)
        print(f"Store or target: {error}", file=sys.stderr)
        return 1
    return 0


def _backfill(found: Any, args: argparse.Namespace) -> int:
    """A progress bar on stderr while the orders go through; the summary (and a dry run's list) on stdout."""
    from tqdm import tqdm

    first, last = parse_range(args.start, args.end)
    with tqdm(desc=f"backfill {args.store}", unit="order", file=sys.stderr) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        result = backfill(found, args.store, first, last, apply=args.apply, progress=progress)
    _print(result.as_dict())
    if not args.apply:
        print("Dry run: nothing was imported. Run again with --apply to import these orders.", file=sys.stderr)
    return 0


def _dead_letters(bus: Any, args: argparse.Namespace) -> int:
    """Dead letters of the local bus (on Azure: Service Bus Explorer in the portal)."""
    if not hasattr(bus, "list_dead_letters"):
        print("Dead letters are listed for the local bus only; on Azure use Service Bus Explorer.", file=sys.stderr)
        return 2
    if args.command == "resubmit":
        try:
            _print({"resubmitted_as": bus.resubmit_dead_letter(args.queue, args.sequence)})
        except KeyError:
            print(f"No dead letter {args.sequence} in {args.queue}.", file=sys.stderr)
            return 2
        return 0
    queues = [args.queue] if args.queue else bus.queues()
    _print(
        [
            {
                "queue": letter.queue,
                "sequence": letter.sequence_number,
                "message_id": letter.message_id,
                "session": letter.session_id,
                "deliveries": letter.delivery_count,
                "reason": letter.reason,
                "description": letter.description,
                "dead_lettered_at": letter.dead_lettered_at.isoformat(),
            }
            for queue in queues
            for letter in bus.list_dead_letters(queue)
        ]
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
