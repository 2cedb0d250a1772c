"""Which review store a configuration names: the SQLite file (the default) or PostgreSQL.

:func:`open_store` is the one place a review store is opened from a config
(:meth:`Memory.open <reason4rec.memory.service.Memory.open>` and ``reason4rec doctor`` use it):
``memory.store_url`` (``postgresql://...``) picks
:class:`~reason4rec.memory.pg_store.PostgresReviewStore`, else the SQLite file at
``memory.store_path`` (:class:`~reason4rec.memory.store.ReviewStore`). Both keep the same
promises (:class:`~reason4rec.memory.reviews.ReviewStorage`).

Example:
    >>> from reason4rec.config import load_config
    >>> store_where(load_config(overrides={"memory": {"store_url": "postgresql://me:secret@db/r4r"}}))
    'postgresql://me:***@db/r4r'
"""

from __future__ import annotations

from ..config import Config, redact
from .reviews import ReviewStorage


def open_store(config: Config) -> ReviewStorage:
    """The review store ``config`` names, opened (and created on first use).

    Raises:
        StoreError: the file or database cannot be opened (one line naming the setting at fault).
    """
    settings = config.memory
    if settings.store_url:
        from .pg_store import PostgresReviewStore

        return PostgresReviewStore(settings.store_url, connect_timeout_s=settings.connect_timeout_s)
    from .store import ReviewStore

    return ReviewStore(config.store_path)


def store_where(config: Config) -> str:
    """Where ``config``'s reviews live, for people (a URL's password left out)."""
    if config.memory.store_url:
        return redact(config.memory.store_url)
    return str(config.store_path)


def check_reachable(config: Config) -> None:
    """Connect once to each PostgreSQL database ``config`` names (the review store, the chat
    threads): commands that load a model before they open the memory (the demo) or that keep
    going after a failed open (the chat) call it first, so a wrong host or password is one line
    naming its setting before any model loads. Nothing to do for SQLite files.

    Raises:
        StoreError: naming ``memory.store_url`` or ``agent.checkpoint_url``.
    """
    from .pg_store import connect

    for url, setting in ((config.memory.store_url, "memory.store_url"),
                         (config.agent.checkpoint_url, "agent.checkpoint_url")):
        if url:
            connect(url, config.memory.connect_timeout_s, setting).close()
