"""The chat threads in PostgreSQL: LangGraph's own ``PostgresSaver`` on a small connection pool.

``agent.checkpoint_url = "postgresql://..."`` keeps every thread in the database instead of the
SQLite file, so a conversation started in one process (or on one machine) continues in another.
The checkpointer's tables (``checkpoints``, ``checkpoint_blobs``, ``checkpoint_writes``,
``checkpoint_migrations``) are LangGraph's, created by its ``setup()``; two processes starting at
once on an empty database take turns (a session advisory lock around ``setup()``, taken by
polling: its statements run one by one outside a transaction, so two at once could collide).

Example:
    >>> saver = open_postgres_checkpointer("postgresql://reason4rec@db-host/reason4rec")  # doctest: +SKIP
    >>> saver.conn.close()                                                                  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from ..config import redact
from ..errors import Reason4RecError
from ..memory import connect, connection_error

SETTING = "agent.checkpoint_url"
SETUP_LOCK_KEY = 0x52345244
"""Session advisory lock around LangGraph's ``setup()`` ("R4RD")."""


def open_postgres_checkpointer(url: str, timeout_s: float = 5.0) -> Any:
    """A ready ``PostgresSaver`` (tables set up) whose ``conn`` is a pool: close it with
    ``saver.conn.close()``. A URL that cannot be reached is one line naming :data:`SETTING`,
    before any model loads."""
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool

    try:
        with connect(url, timeout_s, SETTING, autocommit=True) as conn:  # fails fast, names the setting
            _lock(conn)
            try:
                PostgresSaver(conn).setup()
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (SETUP_LOCK_KEY,))
    except Reason4RecError:
        raise
    except Exception as err:  # psycopg errors from setup(): a user without rights, a server gone
        raise Reason4RecError(f"the chat threads' database at {redact(url)} ({SETTING}) cannot be set up: "
                              f"{' '.join(str(err).split())}") from err
    pool = ConnectionPool(url, min_size=1, max_size=4, open=False, check=ConnectionPool.check_connection,
                          kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row,
                                  "connect_timeout": max(1, round(timeout_s))}, name="reason4rec-threads")
    try:
        pool.open(wait=True, timeout=timeout_s + 5)
    except Exception as err:
        pool.close()
        raise Reason4RecError(connection_error(err, url, SETTING)) from err
    return PostgresSaver(pool)


def _lock(conn: Any, wait_s: float = 120.0) -> None:
    """Take :data:`SETUP_LOCK_KEY` by polling ``pg_try_advisory_lock``: a session blocked in
    ``pg_advisory_lock`` keeps a snapshot open, which the holder's ``CREATE INDEX CONCURRENTLY``
    (in LangGraph's migrations) waits for: a deadlock."""
    import time

    deadline = time.monotonic() + wait_s
    while not conn.execute("SELECT pg_try_advisory_lock(%s)", (SETUP_LOCK_KEY,)).fetchone()[0]:
        if time.monotonic() > deadline:
            raise Reason4RecError(f"another process has been setting up the chat threads' tables for {wait_s:g} s "
                                  f"({SETTING}); try again when it is done")
        time.sleep(0.05)
