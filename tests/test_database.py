"""The run's DuckDB connection: tables held in the in-memory database attached with
compression (its effect on a run's memory is measured in docs/benchmarks.md), and cursors for
other threads that see them."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pytest

from territory.database import (
    POINTS_DATABASE,
    RUN_DATABASE,
    compact,
    connect,
    cursor,
    fetch_value,
    insert_rows,
    restart_worker_threads,
    sql_literal,
    uncompressed_table,
)


def test_tables_live_in_the_run_database() -> None:
    con = connect()
    con.execute("CREATE TABLE t AS SELECT 1 AS i")
    assert con.execute("SELECT current_database()").fetchone() == (RUN_DATABASE,)
    assert con.execute("SELECT database_name FROM duckdb_tables() WHERE table_name = 't'"
                       ).fetchone() == (RUN_DATABASE,)


def test_a_cursor_for_another_thread_sees_the_run_tables() -> None:
    con = connect()
    con.execute("CREATE TABLE communes AS SELECT '44109' AS code_insee")
    # a plain DuckDB cursor opens in the default database, where the run's tables are not
    plain = con.cursor()
    try:
        plain.execute("SELECT count(*) FROM communes")
        raise AssertionError("a plain cursor should not see the run's tables")
    except duckdb.CatalogException:
        pass
    seen: list[object] = []

    def read() -> None:
        seen.append(cursor(con).execute("SELECT code_insee FROM communes").fetchone())

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == [("44109",)] * 4


def test_a_cursor_of_a_plain_connection_stays_in_its_database() -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT 1 AS i")
    assert cursor(con).execute("SELECT i FROM t").fetchone() == (1,)


def test_compact_compresses_the_run_tables_and_waits_for_other_readers() -> None:
    """``compact`` checkpoints the run's database (compressing its tables); while another
    thread's transaction is open and a table was written meanwhile, DuckDB refuses, and the
    run goes on uncompressed until the next call."""
    con = connect()
    con.execute("CREATE TABLE t AS SELECT range::DOUBLE / 7 AS x FROM range(200000)")

    def compressions() -> set[str]:
        return {r[0] for r in con.execute(
            "SELECT DISTINCT compression FROM pragma_storage_info('t')").fetchall()}

    assert compressions() == {"Uncompressed"}
    reader = cursor(con)
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM t").fetchone() == (200000,)
    con.execute("CREATE TABLE u AS SELECT 1 AS i")  # the next model, written meanwhile
    assert compact(con) is False
    assert compressions() == {"Uncompressed"}
    reader.execute("COMMIT")
    assert compact(con) is True
    assert "Uncompressed" not in compressions()


def test_registry_point_tables_are_read_by_name_from_every_cursor() -> None:
    con = connect()
    con.execute(f"CREATE TABLE {uncompressed_table(con, 'p')} AS SELECT 1 AS i")
    assert uncompressed_table(con, "p") == f"{POINTS_DATABASE}.main.p"
    assert cursor(con).execute("SELECT i FROM p").fetchone() == (1,)
    plain = duckdb.connect()
    assert uncompressed_table(plain, "p") == "p"
    plain.execute("CREATE TABLE t AS SELECT 1 AS i")
    assert compact(plain) is True


def _rss_mib() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) // 1024
    return 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_restarting_the_worker_threads_gives_back_their_memory() -> None:
    """DuckDB's worker threads keep the memory of the queries they ran, tables dropped or not
    (about 330 MiB here); stopped and restarted, they give it back and the setting stays."""
    con = connect(threads=2)
    con.execute("CREATE TABLE t AS SELECT range % 50000 AS k, range::VARCHAR AS s, "
                "random() AS x FROM range(3000000)")
    con.execute("CREATE TABLE g AS SELECT k, count(DISTINCT s), sum(x::DECIMAL(38, 12)) "
                "FROM t GROUP BY k")
    con.execute("DROP TABLE t")
    con.execute("DROP TABLE g")
    before = _rss_mib()
    restart_worker_threads(con)
    assert _rss_mib() < before - 150
    assert con.execute("SELECT current_setting('threads')").fetchone() == (2,)


def test_the_run_extent_macros() -> None:
    """``in_extent`` and ``whole_france``, the one place the models read the run's extent."""
    con = connect()

    def inside(departements: list[str], communes: list[str] | None) -> list[object]:
        con.execute("SET VARIABLE departements = ?::VARCHAR[]", [departements])
        con.execute("SET VARIABLE communes = ?::VARCHAR[]", [communes])
        return [row[0] for row in con.execute(
            "SELECT in_extent(d, c) FROM (VALUES ('44', '44109'), ('44', '44001'), "
            "('2A', '2A004')) AS t(d, c) ORDER BY c").fetchall()] + [
            fetch_value(con, "SELECT whole_france()")]

    assert inside([], []) == [True, True, True, True]
    assert inside([], None) == [True, True, True, True]
    assert inside(["44"], []) == [False, True, True, False]
    assert inside(["44"], ["44109"]) == [False, False, True, False]


@pytest.mark.parametrize("value", [
    None, True, False, 0, -2**40, 1.5, 0.1, 1e-300, float("inf"), -float("inf"), "",
    "l'eau", "a\\nb", "é ü 😀", ["44", "2A"], ["d'Arc", "x"], [1.5, 2.0], [[1, 2], [3]],
])
def test_a_literal_reads_back_as_the_value(value: object) -> None:
    assert duckdb.connect().execute(f"SELECT {sql_literal(value)}").fetchone() == (value,)


def test_literals_of_nan_paths_numpy_numbers_and_empty_lists() -> None:
    import numpy as np

    con = duckdb.connect()
    assert con.execute(f"SELECT {sql_literal(np.float64(0.1))}, {sql_literal(np.int64(7))}, "
                       f"{sql_literal([np.int32(3), 4])}").fetchone() == (0.1, 7, [3, 4])
    assert con.execute(f"SELECT isnan({sql_literal(float('nan'))})").fetchone() == (True,)
    assert con.execute(f"SELECT {sql_literal(Path('/a b/c.csv'))}").fetchone() == ("/a b/c.csv",)
    assert con.execute(f"SELECT {sql_literal([])}::VARCHAR[]").fetchone() == ([],)
    with pytest.raises(TypeError, match="dict"):
        sql_literal({"a": 1})


def test_insert_rows_writes_what_executemany_would() -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE a (s VARCHAR, x DOUBLE, n INTEGER, b BOOLEAN)")
    con.execute("CREATE TABLE b (s VARCHAR, x DOUBLE, n INTEGER, b BOOLEAN)")
    rows = [("l'eau", 0.1, 3, True), (None, 2.5e-12, None, False), ("x", "1.25", 7, None)]
    insert_rows(con, "a", rows)
    insert_rows(con, "a", [])
    con.executemany("INSERT INTO b VALUES (?, ?, ?, ?)", rows)
    assert con.execute("SELECT * FROM a").fetchall() == con.execute("SELECT * FROM b").fetchall()


@pytest.mark.parametrize("extent", [["--departement", "2A"], ["--epci", "Nantes Métropole"]])
def test_a_run_computes_without_pandas_or_pyarrow(tmp_path, extent: list[str]) -> None:
    """DuckDB's client imports pandas and pyarrow to look at a bound parameter (75 MiB): a run
    without registry files computes with literals and imports them only for its writers."""
    script = f"""
import sys
import territory.build as build
compute = build._compute
def probe(*args, **kwargs):
    computed = compute(*args, **kwargs)
    build._imported = sorted(m for m in ("pandas", "pyarrow", "openpyxl") if m in sys.modules)
    return computed
build._compute = probe
from territory.cli import main
assert main(["run", *{extent!r}, "--out", {str(tmp_path / "out")!r}]) == 0
print(build._imported)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, timeout=300)
    assert out.stdout.strip().splitlines()[-1] == "[]"
