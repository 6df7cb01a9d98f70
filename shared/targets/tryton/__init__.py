"""Tryton ERP target: sales, posted invoices, shipments, payments and credit notes over JSON-RPC."""

from shared.targets.tryton.limits import RetryPolicy, TokenBucket
from shared.targets.tryton.rpc import TrytonRpc, UncertainOutcome
from shared.targets.tryton.target import TrytonTarget

__all__ = ["RetryPolicy", "TokenBucket", "TrytonRpc", "TrytonTarget", "UncertainOutcome"]
