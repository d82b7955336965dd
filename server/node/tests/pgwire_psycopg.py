"""psycopg 3 against a Spanlite PostgreSQL port (run by server/node/tests/pgwire.rs).

Usage: python3 pgwire_psycopg.py DSN. Prints "ok" and exits 0 when every
check holds; any failure is an exception (exit 1). psycopg 3 binds
parameters on the server: every execute with parameters is the extended
protocol (Parse/Bind/Describe/Execute/Sync).
"""

import os
import sys
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import psycopg
from psycopg import errors

dsn = sys.argv[1]

with psycopg.connect(dsn, autocommit=True) as setup:
    assert setup.info.server_version >= 160000, setup.info.server_version
    setup.execute(
        "CREATE TABLE people (id INT PRIMARY KEY, name TEXT, score FLOAT, ok BOOL, b BYTEA)"
    )

with psycopg.connect(dsn) as conn:
    # A committed transaction, with parameters of several types.
    with conn.transaction():
        conn.execute(
            "INSERT INTO people VALUES (%s, %s, %s, %s, %s)",
            (1, "ada", 1.5, True, b"\x00\xff"),
        )
        conn.execute(
            "INSERT INTO people (id, name, score) VALUES (%s, %s, %s)",
            (2, "bob", None),
        )
    row = conn.execute(
        "SELECT name, score, ok, b FROM people WHERE id = %s", (1,)
    ).fetchone()
    assert row == ("ada", 1.5, True, b"\x00\xff"), row
    conn.commit()

    # A rolled-back transaction: its writes are gone.
    conn.execute("INSERT INTO people (id, name) VALUES (%s, %s)", (3, "cy"))
    conn.execute("UPDATE people SET name = %s WHERE id = %s", ("ADA", 1))
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
    conn.rollback()
    rows = conn.execute("SELECT id, name FROM people ORDER BY id").fetchall()
    assert rows == [(1, "ada"), (2, "bob")], rows
    conn.commit()

    # A constraint error is psycopg's UniqueViolation; the block is failed
    # until rollback, then the connection carries on.
    try:
        conn.execute("INSERT INTO people (id, name) VALUES (%s, %s)", (1, "dup"))
        raise AssertionError("a duplicate key was accepted")
    except errors.UniqueViolation as e:
        assert e.sqlstate == "23505", e.sqlstate
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR
    try:
        conn.execute("SELECT 1")
        raise AssertionError("a failed block ran a statement")
    except errors.InFailedSqlTransaction:
        pass
    conn.rollback()
    (n,) = conn.execute("SELECT count(*) FROM people WHERE id > %s", (0,)).fetchone()
    assert n == 2, n
    conn.commit()

# 40001: the older of two transactions wounds the younger (wound-wait);
# the younger's commit fails with SerializationFailure, and a retry works.
with psycopg.connect(dsn) as older, psycopg.connect(dsn) as younger:
    older.execute("SELECT name FROM people WHERE id = %s", (2,)).fetchone()
    younger.execute("UPDATE people SET score = %s WHERE id = %s", (9.0, 1))
    older.execute("UPDATE people SET score = %s WHERE id = %s", (7.0, 1))
    older.commit()
    try:
        younger.execute("UPDATE people SET score = %s WHERE id = %s", (8.0, 2))
        younger.commit()
        raise AssertionError("the wounded transaction committed")
    except errors.SerializationFailure as e:
        assert e.sqlstate == "40001", e.sqlstate
    younger.rollback()
    with younger.transaction():
        younger.execute("UPDATE people SET score = %s WHERE id = %s", (8.0, 2))
    rows = younger.execute("SELECT id, score FROM people ORDER BY id").fetchall()
    assert rows == [(1, 7.0), (2, 8.0)], rows

with psycopg.connect(dsn, autocommit=True) as conn:
    # A Python list is an array parameter: `= ANY (%s)`.
    rows = conn.execute(
        "SELECT id FROM people WHERE id = ANY(%s) ORDER BY id", ([2, 1, 9],)
    ).fetchall()
    assert rows == [(1,), (2,)], rows
    rows = conn.execute(
        "SELECT id FROM people WHERE name = ANY(%s)", (["bob", "zed"],)
    ).fetchall()
    assert rows == [(2,)], rows
    # Defaults that call functions: each row its own.
    conn.execute(
        "CREATE TABLE events (id UUID PRIMARY KEY DEFAULT gen_random_uuid(), "
        "at TIMESTAMPTZ NOT NULL DEFAULT now(), n INT)"
    )
    made = conn.execute(
        "INSERT INTO events (n) VALUES (%s), (%s) RETURNING id, at", (1, 2)
    ).fetchall()
    assert len({r[0] for r in made}) == 2, made
    assert all(r[1] is not None for r in made), made
    # Decimals: sent in binary (`%b`, as asyncpg and JDBC send them) and
    # in text, and decimal literals come back as Decimal, exactly.
    exact = conn.execute(
        "SELECT %b::text, %s::text, 0.1 + 0.2, 10.00 / 3",
        (Decimal("19.99"), Decimal("-0.050")),
    ).fetchone()
    assert exact == (
        "19.99",
        "-0.050",
        Decimal("0.3"),
        Decimal("3.3333333333333333"),
    ), exact

# Advisory locks as migration tools take them (Rails: pg_try_advisory_lock,
# Prisma and golang-migrate: pg_advisory_lock with a parameter): one
# connection's lock keeps the other's try out until it is unlocked, and a
# closed connection's lock is free.
with psycopg.connect(dsn, autocommit=True) as first, psycopg.connect(
    dsn, autocommit=True
) as second:
    key = 72707369
    assert first.execute("SELECT pg_advisory_lock(%s)", (key,)).fetchone() == ("",)
    assert second.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone() == (
        False,
    )
    assert first.execute("SELECT pg_advisory_unlock(%s)", (key,)).fetchone() == (True,)
    assert second.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone() == (
        True,
    )
    second.close()
    # The server notices the closed connection on its own time.
    deadline = time.monotonic() + 20
    while first.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone() != (
        True,
    ):
        assert time.monotonic() < deadline, "the closed connection kept its lock"
        time.sleep(0.05)

# A job queue as pg-boss, GoodJob or procrastinate run it: two workers
# (connections in transactions) each claim the next ready job with
# FOR UPDATE SKIP LOCKED and get different ones without waiting; NOWAIT on
# the other's job fails with 55P03 (psycopg's LockNotAvailable).
with psycopg.connect(dsn, autocommit=True) as setup:
    setup.execute("CREATE TABLE queue (id INT PRIMARY KEY, state TEXT NOT NULL)")
    setup.execute("INSERT INTO queue VALUES (1, 'ready'), (2, 'ready'), (3, 'ready')")
claim = (
    "UPDATE queue SET state = 'running' WHERE id IN (SELECT id FROM queue"
    " WHERE state = 'ready' ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING id"
)
with psycopg.connect(dsn) as first, psycopg.connect(dsn) as second:
    assert first.execute(claim, (1,)).fetchall() == [(1,)]
    assert second.execute(claim, (1,)).fetchall() == [(2,)]
    with psycopg.connect(dsn) as third:
        try:
            third.execute("SELECT * FROM queue WHERE id = 1 FOR UPDATE NOWAIT")
            raise AssertionError("NOWAIT took a held row")
        except psycopg.errors.LockNotAvailable:
            pass
    first.commit()
    second.rollback()
    assert first.execute(claim, (5,)).fetchall() == [(2,), (3,)]
    first.commit()

# An enum type as psycopg maps it: EnumInfo.fetch reads pg_type and
# pg_enum (by `'mood'::regtype`), register_enum loads labels as members of
# a Python enum and dumps them as parameters, compared in the type's order;
# a parameter that is no label is 22P02 (InvalidTextRepresentation).
import enum
from psycopg.types.enum import EnumInfo, register_enum

with psycopg.connect(dsn, autocommit=True) as conn:
    conn.execute("CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')")
    conn.execute("CREATE TABLE moods (id INT PRIMARY KEY, m mood)")
    conn.execute("INSERT INTO moods VALUES (%s, %s), (%s, %s), (%s, %s)", (1, "happy", 2, "sad", 3, "ok"))
    # Unregistered, a label is text.
    assert conn.execute("SELECT m FROM moods WHERE id = 1").fetchone() == ("happy",)
    info = EnumInfo.fetch(conn, "mood")
    assert info is not None and info.labels == ["sad", "ok", "happy"], info
    assert info.array_oid != 0, info

    class Mood(enum.Enum):
        sad = "sad"
        ok = "ok"
        happy = "happy"

    register_enum(info, conn, Mood)
    rows = conn.execute("SELECT id, m FROM moods WHERE m > %s ORDER BY m", (Mood.sad,)).fetchall()
    assert rows == [(3, Mood.ok), (1, Mood.happy)], rows
    conn.execute("UPDATE moods SET m = %s WHERE id = %s", (Mood.happy, 2))
    assert conn.execute("SELECT count(*) FROM moods WHERE m = %s", (Mood.happy,)).fetchone() == (2,)
    try:
        conn.execute("INSERT INTO moods VALUES (%s, %s)", (4, "glad"))
        raise AssertionError("a word that is no label was stored")
    except psycopg.errors.InvalidTextRepresentation:
        pass
    # Prepared (psycopg prepares a statement on its fifth run): the kept
    # plan casts each run's parameter.
    for _ in range(6):
        assert conn.execute("SELECT id FROM moods WHERE m = %s::mood ORDER BY id", ("ok",)).fetchall() == [(3,)]
        assert conn.execute("SELECT %s::mood > 'sad'::mood", ("ok",)).fetchone() == (True,)
    # A label added (by another connection) after the plans were kept: they
    # are bound again, so their casts know the new label (the second names
    # no table that would have changed with the type).
    with psycopg.connect(dsn, autocommit=True) as other:
        other.execute("ALTER TYPE mood ADD VALUE 'meh' BEFORE 'ok'")
        other.execute("INSERT INTO moods VALUES (5, 'meh')")
    assert conn.execute("SELECT id FROM moods WHERE m = %s::mood ORDER BY id", ("meh",)).fetchall() == [(5,)]
    assert conn.execute("SELECT %s::mood > 'sad'::mood", ("meh",)).fetchone() == (True,)
    assert conn.execute("SELECT id FROM moods WHERE m < %s::mood ORDER BY m", ("ok",)).fetchall() == [(5,)]

# Arrays as psycopg maps them: Python lists as parameters (psycopg sends
# them as int8[]/text[]/numeric[] in text, or in binary with %b) and
# lists back, NULL elements as None; ANY over a list parameter; an array
# column's elements of the declared type (int4[] of INTEGER[]).
with psycopg.connect(dsn, autocommit=True) as conn:
    conn.execute("CREATE TABLE posts (id INT PRIMARY KEY, tags TEXT[], scores INTEGER[], prices NUMERIC(6,2)[])")
    conn.execute(
        "INSERT INTO posts VALUES (%s, %s, %s, %s)",
        (1, ["db", "hello world", None, 'q"uote', "{brace}"], [3, 10, 2], [Decimal("1.50"), Decimal("2")]),
    )
    conn.execute("INSERT INTO posts VALUES (%b, %b, %b, %b)", (2, ["rust"], [9], []))
    rows = conn.execute("SELECT id, tags, scores, prices FROM posts ORDER BY id").fetchall()
    assert rows == [
        (1, ["db", "hello world", None, 'q"uote', "{brace}"], [3, 10, 2], [Decimal("1.50"), Decimal("2.00")]),
        (2, ["rust"], [9], []),
    ], rows
    for binary in (False, True):
        cur = conn.cursor(binary=binary)
        got = cur.execute("SELECT tags, scores FROM posts WHERE id = 1").fetchone()
        assert got == (["db", "hello world", None, 'q"uote', "{brace}"], [3, 10, 2]), (binary, got)
        got = cur.execute("SELECT id FROM posts WHERE id = ANY(%s) ORDER BY id", ([2, 1, 7],)).fetchall()
        assert got == [(1,), (2,)], (binary, got)
        got = cur.execute("SELECT id FROM posts WHERE tags @> %s", (["rust"],)).fetchall()
        assert got == [(2,)], (binary, got)
        # unnest's column is of the array's element type.
        got = cur.execute("SELECT u FROM posts, unnest(scores) AS u WHERE id = 1 ORDER BY u").fetchall()
        assert got == [(2,), (3,), (10,)], (binary, got)
        got = cur.execute("SELECT unnest(tags) FROM posts WHERE id = 2").fetchall()
        assert got == [("rust",)], (binary, got)
        got = cur.execute("SELECT scores[2], array_length(tags, 1), (SELECT array_agg(id ORDER BY id) FROM posts) FROM posts WHERE id = 1").fetchone()
        assert got == (10, 5, [1, 2]), (binary, got)
    assert conn.execute("SELECT ARRAY[1.5, 2]::float8[], ARRAY[]::int[]").fetchone() == ([1.5, 2.0], [])
    try:
        conn.execute("INSERT INTO posts (id, scores) VALUES (%s, %s)", (3, [1, 3000000000]))
        raise AssertionError("an element out of int4's range was stored")
    except psycopg.errors.NumericValueOutOfRange:
        pass
    assert conn.execute("SELECT count(*) FROM posts").fetchone() == (2,)

def refused(conn, sql, error, why):
    """Runs sql on conn and checks that it fails with error."""
    try:
        conn.execute(sql)
    except error:
        return
    raise AssertionError(why)


# Time zones: psycopg follows the session's TimeZone (the ParameterStatus a
# SET sends) and gives aware datetimes in it, from text and from binary;
# the same instant whatever the zone. PGTZ reaches the server in the
# startup packet, as libpq sends it.
with psycopg.connect(dsn, autocommit=True) as conn:
    assert conn.info.parameter_status("TimeZone") == "UTC", conn.info.parameter_status("TimeZone")
    conn.execute("SET TIME ZONE 'america/new_york'")
    assert conn.info.parameter_status("TimeZone") == "America/New_York", conn.info.parameter_status("TimeZone")
    assert str(conn.info.timezone) == "America/New_York", conn.info.timezone
    noon = datetime(2024, 7, 1, 12, tzinfo=timezone.utc)
    for binary in (False, True):
        cur = conn.cursor(binary=binary)
        (at,) = cur.execute("SELECT timestamptz '2024-07-01 12:00+00'").fetchone()
        assert at == noon and at.utcoffset() == timedelta(hours=-4), (binary, at)
        (at,) = cur.execute("SELECT %s::timestamptz", (datetime(2024, 7, 1, 8),)).fetchone()
        assert at == noon, (binary, at)
    assert conn.execute("SELECT (timestamptz '2024-07-01 12:00+00')::text").fetchone() == ("2024-07-01 08:00:00-04",)
    refused(conn, "SET TIME ZONE 'Mars/Base'", psycopg.errors.InvalidParameterValue, "an unknown time zone was taken")
    assert conn.info.parameter_status("TimeZone") == "America/New_York"
    # A zone set in a block that rolls back, or set LOCAL in one that
    # commits, is undone when the block ends, and psycopg is told.
    with conn.transaction(force_rollback=True):
        conn.execute("SET TIME ZONE 'Asia/Tokyo'")
        assert conn.info.parameter_status("TimeZone") == "Asia/Tokyo"
    assert conn.info.parameter_status("TimeZone") == "America/New_York", conn.info.parameter_status("TimeZone")
    with conn.transaction():
        conn.execute("SET LOCAL TIME ZONE 'Europe/Paris'")
        assert conn.info.parameter_status("TimeZone") == "Europe/Paris"
    assert conn.info.parameter_status("TimeZone") == "America/New_York", conn.info.parameter_status("TimeZone")
    assert conn.execute("SHOW TIME ZONE").fetchone() == ("America/New_York",)
# A sequence or advisory-lock call's column is named after its function,
# as PostgreSQL names it; pg_sleep waits, and gives an empty value.
with psycopg.connect(dsn, autocommit=True) as conn:
    conn.execute("CREATE SEQUENCE named_seq")
    cur = conn.execute("SELECT nextval('named_seq'), pg_try_advisory_lock(77), pg_sleep(0.01)")
    assert [c.name for c in cur.description] == ["nextval", "pg_try_advisory_lock", "pg_sleep"], cur.description
    assert cur.fetchone()[:2] == (1, True)
    conn.execute("DROP SEQUENCE named_seq")
# DEALLOCATE closes a statement the port prepared (one namespace with
# PREPARE's), as psycopg with a libpq older than 17 evicts its own.
with psycopg.connect(dsn, autocommit=True) as conn:
    res = conn.pgconn.prepare(b"evicted", b"SELECT 1")
    assert res.status == psycopg.pq.ExecStatus.COMMAND_OK, res.error_message
    refused(conn, "PREPARE evicted AS SELECT 2", psycopg.errors.DuplicatePreparedStatement, "a name was prepared twice")
    conn.execute("DEALLOCATE evicted")
    res = conn.pgconn.exec_prepared(b"evicted", [])
    assert res.error_field(psycopg.pq.DiagnosticField.SQLSTATE) == b"26000", res.error_message
    refused(conn, "DEALLOCATE evicted", psycopg.errors.InvalidSqlStatementName, "a statement was closed twice")
    conn.execute("PREPARE sq (INT) AS SELECT $1 + 1")
    assert conn.execute("EXECUTE sq (41)").fetchone() == (42,)
    conn.execute("DEALLOCATE ALL")
os.environ["PGTZ"] = "Asia/Kolkata"
try:
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.info.parameter_status("TimeZone") == "Asia/Kolkata", conn.info.parameter_status("TimeZone")
        assert conn.execute("SELECT (timestamptz '2024-07-01 12:00+00')::text").fetchone() == ("2024-07-01 17:30:00+05:30",)
        # DISCARD ALL (what PgBouncer runs between clients): settings back
        # to the session's start (PGTZ's zone), told to the client, and the
        # connection's prepared statements closed.
        res = conn.pgconn.prepare(b"kept", b"SELECT 1")
        assert res.status == psycopg.pq.ExecStatus.COMMAND_OK, res.error_message
        conn.execute("SET TIME ZONE 'UTC'")
        conn.execute("DISCARD ALL")
        assert conn.info.parameter_status("TimeZone") == "Asia/Kolkata", conn.info.parameter_status("TimeZone")
        res = conn.pgconn.exec_prepared(b"kept", [])
        assert res.status == psycopg.pq.ExecStatus.FATAL_ERROR, res.status
        assert res.error_field(psycopg.pq.DiagnosticField.SQLSTATE) == b"26000", res.error_message
    os.environ["PGTZ"] = "Mars/Base"
    try:
        psycopg.connect(dsn, autocommit=True).close()
        raise AssertionError("a connection with an unknown time zone was taken")
    except psycopg.OperationalError as e:
        assert "Mars/Base" in str(e), e
finally:
    del os.environ["PGTZ"]

# COPY leaves a table's generated columns out unless it names them (then
# 42P10), as PostgreSQL does; they are computed for the rows it inserts.
with psycopg.connect(dsn, autocommit=True) as conn:
    conn.execute("CREATE TABLE copy_gen (a INT PRIMARY KEY, b INT GENERATED ALWAYS AS (a * 2) STORED)")
    with conn.cursor().copy("COPY copy_gen FROM STDIN") as copy:
        copy.write_row((1,))
        copy.write_row((2,))
    assert conn.execute("SELECT a, b FROM copy_gen ORDER BY a").fetchall() == [(1, 2), (2, 4)]
    with conn.cursor().copy("COPY copy_gen TO STDOUT") as copy:
        copied = [bytes(block) for block in copy]
    assert b"".join(copied) == b"1\n2\n", copied
    refused(conn, "COPY copy_gen (a, b) FROM STDIN", psycopg.errors.InvalidColumnReference, "COPY took a generated column")
    conn.execute("DROP TABLE copy_gen")
print("ok")
