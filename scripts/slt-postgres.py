#!/usr/bin/python3
"""Checks that the expected results of SQL logic test files are PostgreSQL's.

Runs each file against a real PostgreSQL, on a fresh database per file
(C collation, UTC), writing values the way `spanlite sqllogictest` does
(server/cli/src/slt/format.rs): NULL, (empty), t/f, floats and numerics with
three decimals, bytea as \\x hex, timestamps in RFC 3339 UTC. Records under
`onlyif spanlite` are skipped (PostgreSQL runs as the label `postgresql`).

Only the subset of the format that tests/slt uses: statement ok / error
<regex> / count N, query <types> [nosort|rowsort|valuesort], ----, blank-line
separated records, skipif/onlyif, halt, hash-threshold, connection,
<slt:ignore> fragments. Errors are matched against "message (SQLSTATE xxxxx)".

    scripts/slt-postgres.py tests/slt/*.slt

Needs a PostgreSQL server the current user may create databases on (e.g.
`apt-get install postgresql python3-psycopg2`, then create a superuser role
for yourself) and psycopg2. Drops and recreates the database $SLT_PGDATABASE
(default `slt_check`). Not part of `make test`: expected results are checked
when they are written.
"""

import datetime
import decimal
import hashlib
import os
import re
import subprocess
import sys

import psycopg2
import psycopg2.extras

# json and jsonb as the text PostgreSQL writes (psycopg2 would decode them
# into Python values, and `true` would print as `t`).
psycopg2.extras.register_default_json(loads=lambda text: text, globally=True)
psycopg2.extras.register_default_jsonb(loads=lambda text: text, globally=True)
# Intervals and arrays likewise (not timedelta and lists): interval, and the
# arrays of bool, int2, int4, text, int8, float4, float8, varchar, numeric.
psycopg2.extensions.register_type(
    psycopg2.extensions.new_type(
        (1186, 1000, 1005, 1007, 1009, 1016, 1021, 1022, 1015, 1231),
        "AS_TEXT",
        lambda text, _cursor: text,
    )
)

LABELS = {"postgresql"}
DATABASE = os.environ.get("SLT_PGDATABASE", "slt_check")
IGNORE = "<slt:ignore>"


def fmt(v):
    """A value as spanlite sqllogictest writes it."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "t" if v else "f"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (float, decimal.Decimal)):
        f = float(v)
        if f != f:
            return "NaN"
        if f in (float("inf"), float("-inf")):
            return "Infinity" if f > 0 else "-Infinity"
        return "%.3f" % f
    if isinstance(v, str):
        return v if v else "(empty)"
    if isinstance(v, (bytes, memoryview)):
        return "\\x" + bytes(v).hex()
    if isinstance(v, datetime.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        s = v.strftime("%Y-%m-%dT%H:%M:%S")
        if v.microsecond:
            s += ("." + "%06d" % v.microsecond).rstrip("0")
        return s + "Z"
    return str(v)


def skipped(conditions):
    for kind, label in conditions:
        if kind == "onlyif" and label not in LABELS:
            return True
        if kind == "skipif" and label in LABELS:
            return True
    return False


def records(path):
    """(kind, words, sql, line, expected lines, connection) per record, in order."""
    lines = open(path, encoding="utf-8").read().split("\n")
    i, conditions, connection = 0, [], "default"
    while i < len(lines):
        line, i = lines[i], i + 1
        if not line.strip() or line.startswith("#"):
            continue
        words, number = line.split(), i
        if words[0] in ("onlyif", "skipif"):
            conditions.append((words[0], words[1]))
        elif words[0] == "halt":
            if not skipped(conditions):
                return
            conditions = []
        elif words[0] == "hash-threshold":
            yield ("hash-threshold", words, int(words[1]), number, [], connection)
        elif words[0] == "connection":
            connection = words[1]
        elif words[0] in ("statement", "query"):
            sql = []
            while i < len(lines) and lines[i].strip() and lines[i] != "----":
                sql.append(lines[i])
                i += 1
            expected = []
            if i < len(lines) and lines[i] == "----":
                i += 1
                while i < len(lines) and lines[i].strip():
                    expected.append(lines[i])
                    i += 1
            if not skipped(conditions):
                yield (words[0], words, "\n".join(sql), number, expected, connection)
            conditions, connection = [], "default"
        else:
            raise SystemExit(f"{path}:{number}: unknown record: {line}")


def error_problem(words, error):
    pattern = " ".join(words[2:])
    if error is None:
        return "succeeded, but an error was expected"
    if pattern and not re.search(pattern, error):
        return f"wrong error: {error} (expected /{pattern}/)"
    return None


def rows_problem(words, rows, expected, hash_threshold):
    sort = words[2] if len(words) > 2 else "nosort"
    if sort == "rowsort":
        rows.sort()
    elif sort == "valuesort":
        rows = sorted([v] for r in rows for v in r)
    values = [v for r in rows for v in r]
    if any(IGNORE in e for e in expected):
        snapshot, pos = "\n".join(" ".join(r) for r in rows), 0
        for fragment in "\n".join(expected).split(IGNORE):
            if fragment:
                pos = snapshot.find(fragment, pos)
                if pos < 0:
                    return f"no {fragment!r} in: {snapshot!r}"
                pos += len(fragment)
        return None
    if hash_threshold and len(values) > hash_threshold:
        digest = hashlib.md5("".join(v + "\n" for v in values).encode()).hexdigest()
        actual = [f"{len(values)} values hashing to {digest}"]
    else:
        actual = [" ".join(" ".join(v.split()) for v in r) for r in rows]
    want = [" ".join(e.split()) for e in expected]
    if actual != want:
        return "expected: " + " | ".join(want) + "\n      actual:   " + " | ".join(actual)
    return None


def run(path):
    """Runs one file; returns the number of records that disagree."""
    subprocess.run(["dropdb", "--if-exists", DATABASE], check=True, stderr=subprocess.DEVNULL)
    subprocess.run(["createdb", "-T", "template0", "--locale=C", DATABASE], check=True)
    connections, hash_threshold, passed, failed = {}, 0, 0, 0
    for kind, words, sql, number, expected, name in records(path):
        if kind == "hash-threshold":
            hash_threshold = sql
            continue
        if name not in connections:
            c = psycopg2.connect(dbname=DATABASE)
            c.autocommit = True  # BEGIN/COMMIT in the files do the work
            c.cursor().execute("SET TIME ZONE 'UTC'")
            connections[name] = c
        cursor = connections[name].cursor()
        error, rows = None, []
        try:
            cursor.execute(sql)
            if cursor.description is not None:
                rows = [[fmt(v) for v in r] for r in cursor.fetchall()]
        except psycopg2.Error as e:
            error = f"{(e.pgerror or '').strip()} (SQLSTATE {e.pgcode})"
        if words[1] == "error":
            problem = error_problem(words, error)
        elif error is not None:
            problem = f"failed: {error}"
        elif kind == "statement" and words[1] == "count" and cursor.rowcount != int(words[2]):
            problem = f"{cursor.rowcount} rows, expected {words[2]}"
        elif kind == "query":
            problem = rows_problem(words, rows, expected, hash_threshold)
        else:
            problem = None
        if problem:
            failed += 1
            print(f"  {path}:{number}: {' '.join(sql.split())[:200]}\n      {problem}")
        else:
            passed += 1
    for c in connections.values():
        c.close()
    print(f"{path}: {passed}/{passed + failed} records agree with PostgreSQL")
    return failed


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    sys.exit(1 if sum(run(p) for p in sys.argv[1:]) else 0)
