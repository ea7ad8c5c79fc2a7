"""The PostgreSQL role ``costagent sql`` runs queries as: it can read the store and nothing else.

A read-only transaction does not stop a superuser: ``COPY … TO PROGRAM`` runs a shell command,
``pg_read_file`` reads server files, ``dblink_exec`` writes through a second connection.  Nor
does ``SET ROLE`` to a weaker role, because a statement can undo it
(``set_config('role', 'postgres', true)`` checks the *session* user, which is the superuser).

So a query runs inside :data:`FUNCTION`, a ``SECURITY DEFINER`` function owned by the ``NOLOGIN``
role :data:`READER`: the query's privileges are the reader's (``SELECT`` on this schema's
tables and views, nothing else), and inside a security-definer function PostgreSQL refuses to
change ``role`` or ``session_authorization`` at all — by ``SET`` or by ``set_config``.  Rows come
back as JSON text (``to_json`` of each row), parsed exactly by the caller.

:func:`install` creates the role (when the migrating user may), its grants and the function in
the current schema; migration 0008 runs it, and ``costagent db reader`` runs it again after an
administrator created the role.  Without it, ``costagent sql`` refuses and says what to run.
"""

from __future__ import annotations

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

READER = "costagent_reader"
FUNCTION = "costagent_readonly_query"

ADMIN_SQL = (
    f"CREATE ROLE {READER} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT; "
    f"GRANT {READER} TO <costagent's database user>;"
)


def install(conn: Connection) -> str | None:
    """Set up the reader role for the current schema; None when done, else why not (the
    migration goes on without it: ``costagent sql`` then refuses with that reason)."""
    if conn.dialect.name != "postgresql":
        return None
    exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": READER})
    if exists.first() is None:
        failure = _try(
            conn,
            f"CREATE ROLE {READER} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT",
        )
        if failure:
            return (
                f"cannot create the role {READER} ({failure}); "
                f"an administrator can run: {ADMIN_SQL}"
            )
    member = conn.execute(
        text("SELECT pg_has_role(current_user, :r, 'MEMBER')"), {"r": READER}
    ).scalar_one()
    if not member:
        failure = _try(conn, f"GRANT {READER} TO CURRENT_USER")
        if failure:
            return f"this user is not a member of {READER} ({failure}); run: {ADMIN_SQL}"
    schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    quoted = '"' + schema.replace('"', '""') + '"'
    steps = [
        f"GRANT USAGE ON SCHEMA {quoted} TO {READER}",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA {quoted} TO {READER}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {quoted} GRANT SELECT ON TABLES TO {READER}",
        f"""CREATE OR REPLACE FUNCTION {quoted}.{FUNCTION}(query text) RETURNS SETOF text
            LANGUAGE plpgsql VOLATILE SECURITY DEFINER
            SET search_path = {quoted}, pg_catalog, pg_temp
            AS $body$
            BEGIN
                RETURN QUERY EXECUTE 'SELECT to_json(r)::text FROM (' || query || ') AS r';
            END
            $body$""",
        f"REVOKE ALL ON FUNCTION {quoted}.{FUNCTION}(text) FROM PUBLIC",
        f"GRANT EXECUTE ON FUNCTION {quoted}.{FUNCTION}(text) TO CURRENT_USER, {READER}",
        # The owner's privileges are the query's: ownership goes to the reader, which needs
        # CREATE on the schema for that moment only.
        f"GRANT CREATE ON SCHEMA {quoted} TO {READER}",
        f"ALTER FUNCTION {quoted}.{FUNCTION}(text) OWNER TO {READER}",
        f"REVOKE CREATE ON SCHEMA {quoted} FROM {READER}",
    ]
    for sql in steps:
        failure = _try(conn, sql)
        if failure:
            return f"cannot set up {READER} in schema {schema} ({failure}); run: {ADMIN_SQL}"
    return None


def _try(conn: Connection, sql: str) -> str | None:
    """Run one statement in a savepoint; its error's first line if it failed."""
    try:
        with conn.begin_nested():
            conn.execute(text(sql))
    except DBAPIError as exc:
        return str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    return None
