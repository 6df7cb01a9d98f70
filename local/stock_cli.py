"""CLI commands for stock back to the store and webhook health (wired into local.cli):

stock sync STORE                          set the store's stock from the target now; prints the report
stock import STORE FILE.csv|FILE.json     the UBL target's stock table (item_code,quantity[,counted_at])
webhooks check STORE [--base-url URL]     compare the store's webhook subscriptions with what this service needs
webhooks repair STORE --base-url URL      re-create the missing, disabled, paused or misdirected ones
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from shared.bootstrap import Services
from shared.errors import BadRequest
from shared.handlers import stock, stock_table, webhook_health

COMMANDS = ("stock", "webhooks")


def add_commands(commands: Any) -> None:
    """Add the `stock` and `webhooks` sub-commands to local.cli's parser."""
    stock_actions = commands.add_parser("stock").add_subparsers(dest="action", required=True)
    stock_actions.add_parser("sync").add_argument("store")
    upload = stock_actions.add_parser("import")
    upload.add_argument("store")
    upload.add_argument("file", type=Path)
    hooks = commands.add_parser("webhooks").add_subparsers(dest="action", required=True)
    for action in ("check", "repair"):
        one = hooks.add_parser(action)
        one.add_argument("store")
        one.add_argument(
            "--base-url",
            default=None,
            required=action == "repair" and not webhook_health.public_base_url(),
            help="this service's public URL (default: PUBLIC_BASE_URL or WEBSITE_HOSTNAME)",
        )


def run(services: Services, args: argparse.Namespace) -> int:
    settings = services.loaded_store(args.store)
    if settings is None:
        raise BadRequest(404, "Unknown store", f"No store {args.store!r}.")
    if args.command == "stock" and args.action == "import":
        content_type = "application/json" if args.file.suffix == ".json" else "text/csv"
        result: dict[str, Any] = stock_table.import_stock_table(
            services, args.store, args.file.read_bytes(), content_type
        )
    elif args.command == "stock":
        result = stock.sync_store_stock(services, settings).as_dict()
    elif args.action == "check":
        result = webhook_health.check_store(services, settings, args.base_url)
    else:
        result = webhook_health.repair(services, settings, args.base_url or webhook_health.public_base_url())
    print(json.dumps(result, ensure_ascii=False, indent=2, default=str))
    return 0 if not result.get("error") and not result.get("unhealthy") else 1
