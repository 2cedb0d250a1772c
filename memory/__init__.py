"""The memory of who likes what: the durable review store (SQLite, or PostgreSQL for many users) and
the Chroma vector memory of review summaries and user/item profiles, kept in step.

The front door: code outside this package imports from here. :class:`Memory` (in
:mod:`.service`) offers every operation the application needs (store a review, summarize what is
pending, profiles, queries); the stores, the vectors, the lock and the labels are its parts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._front_door import lazy_attributes

if TYPE_CHECKING:
    from .collab import COLLAB_FILE, COLLAB_FORMAT, CollabEstimates, CollabModels, collab_path
    from .collab import inspect_file as inspect_collab
    from .labels import display_name, item_labels, item_name, item_names
    from .lock import LOCK_FILE, OWNER_FILE, FolderLock, MemoryLockedError
    from .lock import holder as lock_holder
    from .need_search import items_for_need
    from .pg_store import (
        MIGRATE_COMMAND,
        SCHEMA_VERSION,
        connect,
        connection_error,
        migrate,
        newer_schema,
        schema_version,
    )
    from .profiles import Profile
    from .reviews import StoreError
    from .salvage import SalvageReport, salvage_store
    from .service import HistoryRecord, Memory, UpdateResult
    from .store import SQLITE_APPLICATION_ID, SQLITE_SCHEMA_VERSION, AddResult, check_review, item_label
    from .stores import check_reachable
    from .summarizers import ExpertSummarizer, LexiconSummarizer, cached_summaries, load_expert_summarizer
    from .vectors import FORMAT, MARKER_FILE, Match

_EXPORTS = {
    "COLLAB_FILE": ".collab",
    "COLLAB_FORMAT": ".collab",
    "CollabEstimates": ".collab",
    "CollabModels": ".collab",
    "collab_path": ".collab",
    "inspect_collab": ".collab:inspect_file",
    "dataset_item_names": ".labels",
    "display_name": ".labels",
    "item_labels": ".labels",
    "item_names": ".labels",
    "item_name": ".labels",
    "FolderLock": ".lock",
    "LOCK_FILE": ".lock",
    "lock_holder": ".lock:holder",
    "MemoryLockedError": ".lock",
    "OWNER_FILE": ".lock",
    "items_for_need": ".need_search",
    "MIGRATE_COMMAND": ".pg_store",
    "SCHEMA_VERSION": ".pg_store",
    "connect": ".pg_store",
    "connection_error": ".pg_store",
    "migrate": ".pg_store",
    "newer_schema": ".pg_store",
    "schema_version": ".pg_store",
    "Profile": ".profiles",
    "StoreError": ".reviews",
    "SalvageReport": ".salvage",
    "salvage_store": ".salvage",
    "HistoryRecord": ".service",
    "Memory": ".service",
    "UpdateResult": ".service",
    "AddResult": ".store",
    "SQLITE_APPLICATION_ID": ".store",
    "SQLITE_SCHEMA_VERSION": ".store",
    "check_review": ".store",
    "item_label": ".store",
    "check_reachable": ".stores",
    "ExpertSummarizer": ".summarizers",
    "LexiconSummarizer": ".summarizers",
    "cached_summaries": ".summarizers",
    "load_expert_summarizer": ".summarizers",
    "FORMAT": ".vectors",
    "MARKER_FILE": ".vectors",
    "Match": ".vectors",
}
"""Each public name and the module that defines it: loaded on first use, so importing the
package stays cheap."""

__all__ = [
    "COLLAB_FILE",
    "COLLAB_FORMAT",
    "FORMAT",
    "LOCK_FILE",
    "MARKER_FILE",
    "MIGRATE_COMMAND",
    "OWNER_FILE",
    "SCHEMA_VERSION",
    "SQLITE_APPLICATION_ID",
    "SQLITE_SCHEMA_VERSION",
    "AddResult",
    "CollabEstimates",
    "CollabModels",
    "ExpertSummarizer",
    "FolderLock",
    "HistoryRecord",
    "LexiconSummarizer",
    "Match",
    "Memory",
    "MemoryLockedError",
    "Profile",
    "SalvageReport",
    "StoreError",
    "UpdateResult",
    "cached_summaries",
    "check_reachable",
    "check_review",
    "collab_path",
    "connect",
    "connection_error",
    "dataset_item_names",
    "display_name",
    "inspect_collab",
    "item_label",
    "item_labels",
    "item_name",
    "item_names",
    "items_for_need",
    "load_expert_summarizer",
    "lock_holder",
    "migrate",
    "newer_schema",
    "salvage_store",
    "schema_version",
]


__getattr__ = lazy_attributes(__name__, _EXPORTS)
