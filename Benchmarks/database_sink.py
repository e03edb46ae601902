"""The database-sink side of a drain run: the PostgreSQL sink against
PostgreSQL's own logical replication, both applying the same backlog into a
second PostgreSQL 15 cluster (the target, started by Scripts/bench.sh with the
source's settings), each from its own slot.

- `siphon_pg`: `siphon run` with `sink: {type: postgres}` (its defaults) into
  database `siphon_pg` of the target.
- `native_pg`: `CREATE SUBSCRIPTION ... WITH (create_slot = false, slot_name
  = <the run's slot>, copy_data = false, enabled = false)` in database
  `native_pg`, then `ALTER SUBSCRIPTION ... ENABLE`: the apply worker commits
  one target transaction per source transaction (the subscription's defaults,
  so `synchronous_commit = off` for it, as users get it).

Before each run the workload's table is made again in the target database
with the rows it held when the slots were created (W1's seed rows), so both
start from the source's state at the slot. The clock runs from the process
start (Siphon) or the ENABLE (native) until the target table equals the
source's: first its row count, then a checksum of every row's text
(`sum(hashtext(t::text))`, both clusters in UTC). The target is asked every
1/50 of the time so far (5 to 250 ms), so the checks cost little and the end
is seen within 2% of the run, the same share for both.
"""
import io
import os
import time

import psycopg2

CLOCK_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """utime + stime of a live process (a backend is not our child), None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICK
    except (OSError, TypeError, ValueError):
        return None


class Target:
    """The target cluster: one database per consumer, made on first use."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.connections = {}

    def dsn(self, database):
        return f"host={self.host} port={self.port} dbname={database} user=postgres"

    def db(self, database):
        if database not in self.connections:
            admin = psycopg2.connect(self.dsn("postgres"))
            admin.autocommit = True
            with admin.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
                if cur.fetchone() is None:
                    cur.execute(f"CREATE DATABASE {database}")
            admin.close()
            conn = psycopg2.connect(self.dsn(database))
            conn.autocommit = True
            self.connections[database] = conn
        return self.connections[database]

    def sql(self, database, query, params=None):
        with self.db(database).cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall() if cur.description else None

    def settings(self):
        return dict(self.sql("postgres", "SELECT name, current_setting(name) FROM pg_settings WHERE name IN "
                                         "('fsync', 'synchronous_commit', 'full_page_writes', 'shared_buffers') "
                                         "ORDER BY name"))


def checksum_sql(table):
    return f"SELECT count(*), coalesce(sum(hashtext(t::text)::bigint), 0) FROM {table} t"


class Backlog:
    """What a target must end up with: the source table's rows when the
    slots were made (`seed`, as COPY text) and its count and checksum once
    the backlog is written."""

    def __init__(self, bench, workload):
        self.table = workload.name
        self.columns = getattr(workload, "columns", None)
        buffer = io.StringIO()
        with bench.db.cursor() as cur:
            cur.copy_expert(f"COPY {self.table} TO STDOUT", buffer)
        self.seed = buffer.getvalue()
        self.count = self.checksum = None

    def written(self, bench):
        self.count, self.checksum = bench.sql(checksum_sql(self.table))[0]


def prepare(target, database, backlog):
    """The workload's table in `database`, as it was at the slot, and no
    subscription or stored position left from an earlier run."""
    for (name,) in target.sql(database, "SELECT subname FROM pg_subscription s JOIN pg_database d "
                                        "ON d.oid = s.subdbid WHERE d.datname = current_database()"):
        drop_subscription(target, database, name)
    target.sql(database, "DROP TABLE IF EXISTS _siphon_offsets")
    target.sql(database, f"DROP TABLE IF EXISTS {backlog.table}")
    target.sql(database, f"CREATE TABLE {backlog.table} ({backlog.columns})")
    if backlog.seed:
        with target.db(database).cursor() as cur:
            cur.copy_expert(f"COPY {backlog.table} FROM STDIN", io.StringIO(backlog.seed))
    target.sql(database, f"VACUUM ANALYZE {backlog.table}")


def drop_subscription(target, database, name):
    target.sql(database, f"ALTER SUBSCRIPTION {name} DISABLE")
    target.sql(database, f"ALTER SUBSCRIPTION {name} SET (slot_name = NONE)")
    target.sql(database, f"DROP SUBSCRIPTION {name}")


class Progress:
    """Whether the target table has caught up, asked at a pace that grows
    with the run (see the module's doc)."""

    def __init__(self, target, database, backlog, started):
        self.target, self.database, self.backlog, self.started = target, database, backlog, started
        self.counted = False
        self.checks = 0

    def pause(self):
        return min(0.25, max(0.005, (time.monotonic() - self.started) / 50))

    def done(self):
        self.checks += 1
        if not self.counted:
            count = self.target.sql(self.database, f"SELECT count(*) FROM {self.backlog.table}")[0][0]
            if count != self.backlog.count:
                return False
            self.counted = True
        count, checksum = self.target.sql(self.database, checksum_sql(self.backlog.table))[0]
        return count == self.backlog.count and checksum == self.backlog.checksum


def drain_once(bench, workload, consumer, slot, backlog, child_class):
    """One run of `consumer` (siphon_pg or native_pg) on `slot`: the
    result dict of bench.drain_once, plus the target side's CPU."""
    target = bench.target
    database = consumer.name
    prepare(target, database, backlog)
    deadline_s = max(300, workload.changes / 1000)
    millions = workload.changes / 1e6
    backend_cpu = {}
    if consumer.name == "native_pg":
        name = f"sub_{slot}"
        target.sql(database, f"CREATE SUBSCRIPTION {name} CONNECTION '{bench.dsn}' PUBLICATION {bench.publication} "
                             f"WITH (create_slot = false, slot_name = '{slot}', copy_data = false, enabled = false)")
        child = None
        started = time.monotonic()
        target.sql(database, f"ALTER SUBSCRIPTION {name} ENABLE")
        workers = ("SELECT pid FROM pg_stat_subscription WHERE subname = %s AND relid IS NULL AND pid IS NOT NULL", (name,))
    else:
        child = child_class(consumer.command(bench, slot, target.dsn(database)), os.path.join(bench.work, f"{slot}.log"))
        started = child.started
        workers = ("SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = 'siphon-sink'",
                   (database,))
    progress = Progress(target, database, backlog, started)
    walsender = walsender_cpu = None
    try:
        while True:
            if child is not None and child.exited():
                raise child.failure(f"{consumer.label} exited before applying the {workload.name} backlog")
            for (pid,) in target.sql(database, *workers):
                backend_cpu[pid] = cpu_seconds(pid) or backend_cpu.get(pid, 0.0)
            walsender = bench.walsender(slot) or walsender
            if progress.done():
                break
            if time.monotonic() - started > deadline_s:
                raise RuntimeError(f"{consumer.label} did not apply {workload.name} within {deadline_s:.0f} s")
            time.sleep(progress.pause())
        elapsed = time.monotonic() - started
        for pid in list(backend_cpu):
            backend_cpu[pid] = cpu_seconds(pid) or backend_cpu[pid]
        walsender = bench.walsender(slot) or walsender
        walsender_cpu = cpu_seconds(walsender) if walsender else None
        if child is not None:
            child.sample_peak()
            status = child.stop(consumer.stop_signal)
            if status != 0:
                raise child.failure(f"{consumer.label} exited with status {status} when stopped")
    finally:
        if child is not None and not child.exited():
            child.stop(consumer.stop_signal, timeout=10)
        if consumer.name == "native_pg":
            drop_subscription(target, database, name)
    applier_cpu = (child.cpu() if child else 0.0)
    target_cpu = sum(backend_cpu.values())
    return {
        "seconds": elapsed,
        "changes_per_s": workload.changes / elapsed,
        # The applier: Siphon's process, or nothing for the native apply worker (a backend).
        "cpu_s_per_m": applier_cpu / millions if child else None,
        "target_cpu_s_per_m": target_cpu / millions,
        "apply_cpu_s_per_m": (applier_cpu + target_cpu) / millions,
        "walsender_cpu_s_per_m": walsender_cpu / millions if walsender_cpu is not None else None,
        "peak_rss_mb": child.peak_rss_mb() if child else None,
        "checks": progress.checks,
    }
