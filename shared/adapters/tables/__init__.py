"""State on Azure Table Storage: the StateStore port in Azure (azure-data-tables), tested on Azurite.

Layout, one table per concern, partition keys spread by store and order so no partition gets hot:

| table      | PartitionKey            | RowKey                          | why                                 |
|------------|-------------------------|---------------------------------|-------------------------------------|
| orders     | store|order             | "order"; timeline|time (ns)|rnd | point reads, ETag per order; the    |
|            |                         |                                 | timeline in the order's partition   |
| orderindex | store                   | inverted changed time|order     | list newest first without a scan    |
| events     | store|event key         | "event"                         | insert-if-absent on the event key   |
|            | "unsent"                | store|event key                 | the outbox: the message of each     |
|            |                         |                                 | event the bus may not have yet      |
| claims     | store                   | claim|key, series|name          | counter + claim in one transaction  |
| skumaps    | store                   | store SKU                       | batched writes within the store     |
| watermarks | name                    | "watermark"                     |                                     |

One module per concern: `orders` (orders, index, timeline), `events` (events and the unsent outbox),
`claims` (claims and gap-free numbering), `mappings` (SKU map, watermarks), `privacy` (retention and
erasure scans), `keys` (key escaping, size limits), `retries` (passing faults); `store` puts them together.
"""

from shared.adapters.tables.keys import TABLES
from shared.adapters.tables.store import TableStateStore

__all__ = ["TABLES", "TableStateStore"]
