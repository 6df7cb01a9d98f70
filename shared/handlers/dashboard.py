"""Dashboard page for business users (placeholder until the dashboard work lands)."""

from __future__ import annotations

import html
from collections.abc import Mapping

from shared.bootstrap import Services


def render_dashboard(services: Services, params: Mapping[str, str], accept_language: str) -> str:
    records = services.state.list_orders(limit=50)
    rows = "".join(
        f"<tr><td>{html.escape(r.store_id)}</td><td>{html.escape(r.order_id)}</td><td>{r.state.value}</td></tr>"
        for r in records
    )
    return f"<!doctype html><html><body><h1>Orders</h1><table>{rows}</table></body></html>"
