#!/usr/bin/env python3
"""Siphon's benchmark harness. Normally started by Scripts/bench.sh, which
provides a throwaway PostgreSQL 15; see Benchmarks/README.md for what is
measured and how.

Three modes, each a function below:
- drain: a backlog is written with no consumer attached, then each consumer
  in turn reads the same backlog from its own fresh slot; timed from process
  start until the consumer has everything.
- latency: with a consumer attached and caught up, a writer inserts rows at a
  steady rate; latency = when a row's line appears in the consumer's file
  minus the row's clock_timestamp().
- snapshot: Siphon's initial snapshot of a large table vs psql COPY.

The harness never judges a time; it exits non-zero only when something broke:
a consumer crashed, timed out, or wrote the wrong number of row changes.
"""
import argparse
import datetime
import json
import multiprocessing
import os
import re
import resource
import select
import signal
import statistics
import subprocess
import sys
import time

import psycopg2

import consumers
import database_sink
import kafka
import nats
import report
import workloads

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLOCK_TICK = os.sysconf("SC_CLK_TCK")


class Failure(Exception):
    """Something broke (not merely slow): the harness reports it and exits 1."""


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# MARK: the server


class Bench:
    """The server, the scratch folder and the tools: what every mode needs."""
    publication = "bench"

    def __init__(self, args):
        self.args = args
        self.pgbin = args.pgbin
        self.siphon = args.siphon
        self.siphon_baseline = args.siphon_baseline
        self.minimal_consumer = args.minimal_consumer
        self.debezium_python = args.debezium_python
        self.debezium_jvm = args.debezium_jvm
        self.kafka_mock = args.kafka_mock
        self.nats_server = args.nats_server
        # The database sinks' target cluster (a second server, bench.sh starts it).
        self.target = database_sink.Target(args.host, args.target_port) if args.target_port else None
        self.work = args.work
        self.port = args.port
        self.dsn = f"host={args.host} port={args.port} dbname=bench user=postgres"
        admin = psycopg2.connect(f"host={args.host} port={args.port} dbname=postgres user=postgres")
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = 'bench'")
            if cur.fetchone() is None:
                cur.execute("CREATE DATABASE bench")
        admin.close()
        self.db = psycopg2.connect(self.dsn)
        self.db.autocommit = True
        self.sql(f"DROP PUBLICATION IF EXISTS {self.publication}")
        self.sql(f"CREATE PUBLICATION {self.publication} FOR ALL TABLES")

    def sql(self, query, params=None):
        with self.db.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall() if cur.description else None

    def value(self, query, params=None):
        rows = self.sql(query, params)
        return rows[0][0] if rows else None

    def create_slot(self, slot, plugin):
        self.sql("SELECT pg_create_logical_replication_slot(%s, %s)", (slot, plugin))

    def drop_slot(self, slot):
        deadline = time.monotonic() + 30
        while True:
            try:
                self.sql("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s",
                         (slot,))
                return
            except psycopg2.errors.ObjectInUse:
                if time.monotonic() > deadline:
                    raise Failure(f"slot {slot} is still in use 30 s after its consumer stopped")
                time.sleep(0.05)

    def walsender(self, slot):
        return self.value("SELECT active_pid FROM pg_replication_slots WHERE slot_name = %s", (slot,))

    def sent_past(self, pid, lsn):
        return bool(self.value("SELECT sent_lsn > %s::pg_lsn FROM pg_stat_replication WHERE pid = %s", (lsn, pid)))

    def end_marker(self, name):
        """A transactional logical message after the backlog: its prefix is the
        line to look for in a consumer's file; its LSN is what the walsender
        must have sent past."""
        prefix = f"siphon-bench-end-{name}"
        lsn = self.value("SELECT pg_logical_emit_message(true, %s, 'end')", (prefix,))
        return prefix.encode(), lsn


def cpu_seconds(pid):
    """utime + stime of a live process, from /proc (the walsender is not our child)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICK
    except (OSError, TypeError):
        return None


class Child:
    """A consumer process, reaped with os.wait4 for its CPU time.

    Peak RSS is VmHWM from /proc, read while it runs (it is a high-water
    mark, so the last reading before it stops is the peak): wait4's
    ru_maxrss would include the harness's own RSS, which Linux carries
    into a child across fork and exec."""

    def __init__(self, argv, log_path, stdout=None):
        self.argv = argv
        self.log_path = log_path
        with open(log_path, "wb") as log_file:
            self.started = time.monotonic()
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout or log_file,
                                         stderr=log_file)
        self.status = None
        self.rusage = None
        self.peak_kb = 0

    def sample_peak(self):
        self.peak_kb = max(self.peak_kb, consumers.vm_hwm_kb(self.proc.pid))

    def exited(self):
        if self.status is None:
            pid, status, rusage = os.wait4(self.proc.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)
                self.proc.returncode = self.status
                self.rusage = rusage
        return self.status is not None

    def stop(self, signal_number, timeout=60):
        if not self.exited():
            self.sample_peak()
            self.proc.send_signal(signal_number)
        deadline = time.monotonic() + timeout
        while not self.exited():
            if time.monotonic() > deadline:
                self.proc.kill()
                deadline += 10
            time.sleep(0.01)
        return self.status

    def cpu(self):
        return self.rusage.ru_utime + self.rusage.ru_stime

    def peak_rss_mb(self):
        return self.peak_kb / 1024

    def failure(self, what):
        try:
            with open(self.log_path, errors="replace") as f:
                tail = "".join(f.readlines()[-15:])
        except OSError:
            tail = ""
        return Failure(f"{what}\ncommand: {' '.join(self.argv)}\nexit status: {self.status}\nlog tail:\n{tail}")


class FileTail:
    """Reads what a consumer appends to its output file."""

    def __init__(self, path):
        self.path = path
        self.fd = None
        self.partial = b""

    def _open(self):
        if self.fd is None:
            try:
                self.fd = os.open(self.path, os.O_RDONLY)
            except FileNotFoundError:
                return False
        return True

    def size(self):
        return os.fstat(self.fd).st_size if self._open() else 0

    def ends_with_marker(self, marker):
        """Whether the marker is in the last 8 KB (the end marker is the last change)."""
        if not self._open():
            return False
        size = os.fstat(self.fd).st_size
        return marker in os.pread(self.fd, 8192, max(0, size - 8192))

    def new_data(self):
        """Complete lines appended since the last call (as one bytes), and when they were read."""
        if not self._open():
            return b"", time.time()
        chunks = [self.partial]
        while True:
            chunk = os.read(self.fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        seen = time.time()
        data = b"".join(chunks)
        end = data.rfind(b"\n") + 1
        self.partial = data[end:]
        return data[:end], seen

    def new_lines(self):
        data, seen = self.new_data()
        return data.splitlines(), seen

    def close(self):
        if self.fd is not None:
            os.close(self.fd)


class FileWatch:
    """Wakes the latency loop when a file in `folder` is written (Linux
    inotify), so a row is timed when its line reaches the file, not at the
    next tick of a polling loop: a 1 ms sleep between reads added up to
    1.1 ms to every row, and that quantum, not the consumer, set most of
    the p99. Without inotify, waits fall back to a 1 ms sleep."""

    IN_MODIFY, IN_CREATE, IN_NONBLOCK, IN_CLOEXEC = 0x2, 0x100, 0o4000, 0o2000000

    def __init__(self, folder):
        self.fd = -1
        try:
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            fd = libc.inotify_init1(self.IN_NONBLOCK | self.IN_CLOEXEC)
            if fd >= 0 and libc.inotify_add_watch(fd, os.fsencode(folder), self.IN_MODIFY | self.IN_CREATE) < 0:
                os.close(fd)
                fd = -1
            self.fd = fd
        except (OSError, AttributeError):
            self.fd = -1

    def wait(self, timeout):
        """Until something in the folder is written, or `timeout` seconds."""
        if self.fd < 0:
            time.sleep(0.001)
            return
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if ready:
            try:
                os.read(self.fd, 1 << 16)
            except BlockingIOError:
                pass

    def close(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def rotated(items, turn):
    """`items` starting at position `turn`: consumers take turns going first
    from one repetition to the next, so none always runs right after the
    same neighbour or at the same point of the server's checkpoint cycle."""
    start = turn % len(items)
    return items[start:] + items[:start]


def median_of(runs):
    """Per-metric median of a list of result dicts (numbers only)."""
    keys = [k for k, v in runs[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    result = {k: statistics.median(r[k] for r in runs if r.get(k) is not None) for k in keys
              if any(r.get(k) is not None for r in runs)}
    result["runs"] = runs
    return result


# MARK: drain


def own_cpu():
    """The harness's own user + system time, every thread (the Kafka
    client's too)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def drain_once(bench, workload, consumer, slot, marker, deletes):
    marker_prefix, marker_lsn = marker
    harness_cpu = own_cpu()
    out = os.path.join(bench.work, f"{slot}.out") if consumer.output == "file" else os.devnull
    cluster = offsets = server = counts_in = None
    if consumer.output == "kafka":
        # The run's own mock broker, started before the consumer's clock.
        cluster = kafka.MockCluster(bench.kafka_mock, os.path.join(bench.work, f"{slot}.broker.log"))
        try:
            offsets = kafka.Offsets(cluster.bootstrap)
        except BaseException:
            cluster.stop()
            raise
        row_topic, message_topic = consumer.topics(slot, workload)
        # A tombstone follows each delete's record.
        expected_records = workload.changes + deletes
        records = marker_s = None
    if consumer.output == "nats":
        # The run's own nats-server (file storage in the run's folder),
        # started before the consumer's clock; the sink creates the stream.
        server = nats.Server(bench.nats_server, os.path.join(bench.work, f"{slot}.nats"),
                             os.path.join(bench.work, f"{slot}.server.log"))
        try:
            counts_in = nats.StreamCounts(server.url)
        except BaseException:
            server.stop()
            raise
        stream = consumer.stream_name(slot)
        row_subject, message_subject = consumer.subjects(slot, workload)
        # No tombstones: one message per change.
        expected_records = workload.changes
        records = marker_s = None
    try:
        target = cluster.bootstrap if cluster else server.url if server else out
        child = Child(consumer.command(bench, slot, target), os.path.join(bench.work, f"{slot}.log"))
    except BaseException:
        if cluster:
            offsets.close()
            cluster.stop()
        if server:
            counts_in.close()
            server.stop()
        raise
    tail = FileTail(out) if consumer.output == "file" else None
    deadline = child.started + max(300, workload.changes / 2000)
    walsender = walsender_cpu = first_event = None
    pause = 0.005
    try:
        while True:
            if child.exited():
                if consumer.output == "exit" and child.status == 0:
                    break
                raise child.failure(f"{consumer.label} exited before reading the {workload.name} backlog")
            if walsender is None:
                walsender = bench.walsender(slot)
            if consumer.output == "exit":
                # The backend ends with the process: keep its latest CPU reading.
                walsender_cpu = cpu_seconds(walsender) if walsender else None
                child.sample_peak()
            elif tail is not None:
                if first_event is None and tail.size() > 0:
                    first_event = time.monotonic() - child.started
                if tail.ends_with_marker(marker_prefix):
                    break
            elif offsets is not None:
                # Done when every row's record is in the rows' topic (the count
                # is known, so the marker is not needed to see the end); the
                # marker's record is waited for below, untimed.
                records = offsets.records(row_topic)
                # The rows' topic is created when the producer first asks for
                # it, as it sends its first record.
                if first_event is None and offsets.listed(row_topic):
                    first_event = time.monotonic() - child.started
                if records > expected_records:
                    raise child.failure(f"{consumer.label} wrote {records} records to {row_topic}, expected "
                                        f"{expected_records} ({workload.changes} changes, {deletes} tombstones)")
                if records == expected_records:
                    break
                if records:
                    # Each poll is requests to the broker and Kafka client work
                    # in the harness, on the cores Siphon runs on: far from the
                    # end, look less often (a quarter of the time the rest
                    # should take at the rate so far, 5 to 100 ms), so the end
                    # is still seen within about 5 ms.
                    rate = records / (time.monotonic() - child.started)
                    pause = min(0.1, max(0.005, (expected_records - records) / rate / 4))
            elif counts_in is not None:
                # As for Kafka: done when every row's message is in the stream
                # under the rows' subject; the marker's is waited for below.
                records = counts_in.messages(stream, row_subject)
                if first_event is None and records:
                    first_event = time.monotonic() - child.started
                if records > expected_records:
                    raise child.failure(f"{consumer.label} stored {records} messages under {row_subject}, "
                                        f"expected {workload.changes}")
                if records == expected_records:
                    break
                if records:
                    # Each request is work for the server and the harness on the
                    # cores Siphon runs on: look less often far from the end.
                    rate = records / (time.monotonic() - child.started)
                    pause = min(0.1, max(0.005, (expected_records - records) / rate / 4))
                server.sample_peak()
            elif walsender is not None and bench.sent_past(walsender, marker_lsn):
                break
            if time.monotonic() > deadline:
                child.stop(consumer.stop_signal, timeout=10)
                raise child.failure(f"{consumer.label} did not finish {workload.name} within "
                                    f"{deadline - child.started:.0f} s")
            time.sleep(pause)
        elapsed = time.monotonic() - child.started
        # What watching cost (the file's tail, or the topics' offsets), on the
        # cores the consumer runs on.
        harness_cpu = own_cpu() - harness_cpu
        if consumer.output != "exit":
            # The slot's walsender now, which did the streaming: a consumer may
            # have opened and closed another replication connection first
            # (Debezium does), and the first one seen would be that one.
            walsender = bench.walsender(slot) or walsender
            walsender_cpu = cpu_seconds(walsender)
        if offsets is not None:
            # The end marker's record too, in a topic of its own: librdkafka
            # sends the first record of a topic it has not seen yet at its
            # next 1 s timer tick, so the marker comes up to 1 s after the
            # rows whatever the sink does (see Benchmarks/README.md).
            while offsets.records(message_topic) < 1:
                if child.exited() or time.monotonic() - child.started - elapsed > 30:
                    raise child.failure(f"{consumer.label} delivered every row of {workload.name} but not the "
                                        f"end marker within 30 s")
                time.sleep(0.005)
            marker_s = time.monotonic() - child.started
        if counts_in is not None:
            # The end marker's message, on the logical messages' subject.
            while counts_in.messages(stream, message_subject) < 1:
                if child.exited() or time.monotonic() - child.started - elapsed > 30:
                    raise child.failure(f"{consumer.label} delivered every row of {workload.name} but not the "
                                        f"end marker within 30 s")
                time.sleep(0.005)
            marker_s = time.monotonic() - child.started
            stream_total = counts_in.total(stream)
        status = child.stop(consumer.stop_signal)
        if status != 0:
            raise child.failure(f"{consumer.label} exited with status {status} when stopped")
    finally:
        # Whatever broke, no consumer outlives its run (its slot is dropped next).
        if tail:
            tail.close()
        if not child.exited():
            child.stop(consumer.stop_signal, timeout=10)
        if cluster:
            offsets.close()
            broker_cpu = cluster.stop()
        if server:
            counts_in.close()
            server_cpu = server.stop()
    counts = consumer.count(out) if consumer.output == "file" else None
    if out != os.devnull:
        os.remove(out)
    rows = sum(counts[op] for op in "cud") if counts else None
    if consumer.exact and rows != workload.changes:
        raise child.failure(f"{consumer.label} wrote {rows} row changes for {workload.name}, expected "
                            f"{workload.changes} (by op: {counts})")
    millions = workload.changes / 1e6
    result = {
        "seconds": elapsed,
        "changes_per_s": workload.changes / elapsed,
        "cpu_s_per_m": child.cpu() / millions,
        "walsender_cpu_s_per_m": walsender_cpu / millions if walsender_cpu is not None else None,
        "peak_rss_mb": child.peak_rss_mb(),
        "first_event_s": first_event,
        "harness_cpu_s_per_m": harness_cpu / millions,
        "counts": counts,
    }
    if cluster:
        if cluster.proc.returncode != 0:
            raise Failure(f"the mock Kafka broker of {slot} exited with status {cluster.proc.returncode} "
                          f"(log: {bench.work}/{slot}.broker.log)")
        result.update({"broker_cpu_s_per_m": broker_cpu / millions, "broker_peak_rss_mb": cluster.peak_rss_mb(),
                       "records": records, "tombstones": deletes, "marker_s": marker_s})
    if server:
        if server.proc.returncode != 0:
            raise Failure(f"the nats-server of {slot} exited with status {server.proc.returncode} "
                          f"(log: {bench.work}/{slot}.server.log)")
        result.update({"broker_cpu_s_per_m": server_cpu / millions, "broker_peak_rss_mb": server.peak_rss_mb(),
                       "records": records, "stream_messages": stream_total, "marker_s": marker_s})
    details = consumer.details(child.log_path) if hasattr(consumer, "details") else {}
    if "handler_cpu_s" in details:
        result["handler_cpu_s_per_m"] = details["handler_cpu_s"] / millions
    return result


def run_drain(bench, args):
    results = {}
    for workload in workloads.workloads(args.quick):
        if args.workloads and workload.name not in args.workloads:
            continue
        drain_consumers = consumers.drain_consumers(bench, workload, args.consumers)
        if not drain_consumers:
            continue
        # Every slot of a round is created before its backlog; stay within max_replication_slots.
        reps_per_round = max(1, 16 // len(drain_consumers))
        runs = {c.name: [] for c in drain_consumers}
        into_target = any(c.output == "target" for c in drain_consumers)
        for first in range(0, args.repeat, reps_per_round):
            reps = range(first, min(args.repeat, first + reps_per_round))
            with bench.db.cursor() as cur:
                workload.setup(cur)
            # The table as the slots will see it, for the database sinks' targets.
            backlog = database_sink.Backlog(bench, workload) if into_target else None
            slots = {(rep, c.name): f"{c.name}_{workload.name}_{rep}" for rep in reps for c in drain_consumers}
            try:
                for c in drain_consumers:
                    for rep in reps:
                        bench.create_slot(slots[rep, c.name], c.plugin)
                started = time.monotonic()
                with bench.db.cursor() as cur:
                    workload.generate(cur)
                    deletes = workload.deletes(cur)
                marker = bench.end_marker(workload.name)
                log(f"{workload.title}: backlog written in {time.monotonic() - started:.1f} s")
                if backlog:
                    backlog.written(bench)
                for rep in reps:
                    for c in rotated(drain_consumers, rep):
                        if c.output == "target":
                            result = database_sink.drain_once(bench, workload, c, slots[rep, c.name], backlog, Child)
                            bench.drop_slot(slots[rep, c.name])
                            runs[c.name].append(result)
                            log(f"  {workload.name} {c.label} [{rep + 1}/{args.repeat}]: {result['seconds']:.2f} s, "
                                f"{result['changes_per_s']:,.0f} changes/s, applier + target backend CPU "
                                f"{result['apply_cpu_s_per_m']:.2f} s/M, walsender "
                                f"{result['walsender_cpu_s_per_m'] or 0:.2f} s/M, load {os.getloadavg()[0]:.2f}")
                            continue
                        result = drain_once(bench, workload, c, slots[rep, c.name], marker, deletes)
                        bench.drop_slot(slots[rep, c.name])
                        runs[c.name].append(result)
                        server = "nats-server" if c.output == "nats" else "mock broker"
                        broker = (f", {server} CPU {result['broker_cpu_s_per_m']:.2f} s/M, "
                                  f"RSS {result['broker_peak_rss_mb']:.0f} MB" if "broker_cpu_s_per_m" in result else "")
                        log(f"  {workload.name} {c.label} [{rep + 1}/{args.repeat}]: {result['seconds']:.2f} s, "
                            f"{result['changes_per_s']:,.0f} changes/s, CPU {result['cpu_s_per_m']:.2f} s/M, "
                            f"RSS {result['peak_rss_mb']:.0f} MB{broker}")
            finally:
                for slot in slots.values():
                    bench.drop_slot(slot)
        bench.sql(f"DROP TABLE {workload.name}")
        bench.sql("CHECKPOINT")
        # The machine is shared: what else ran is part of the numbers.
        load = os.getloadavg()
        log(f"{workload.title}: load average {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f} at the end")
        results[workload.name] = {
            "title": workload.title,
            "changes": workload.changes,
            "load_average_at_end": list(load),
            "consumers": {c.name: dict(median_of(runs[c.name]), label=c.label) for c in drain_consumers},
        }
    return results


# MARK: latency

STAMPED = re.compile(rb'"stamped"(?:,"type":"[^"]*","value")?:"([^"]+)"')


def stamp_seconds(value):
    return datetime.datetime.fromisoformat(value.decode()).timestamp()


def write_steadily(dsn, rate, seconds, written, took, tick=0.001):
    """The paced writer (its own process): row k is due at start + k/rate;
    every tick (1 ms) one autocommit INSERT writes the rows that are due,
    each stamped by clock_timestamp() as it is inserted."""
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    cur = conn.cursor()
    total = int(rate * seconds)
    sent = 0
    start = time.monotonic()
    while sent < total:
        due = min(total, int((time.monotonic() - start) * rate) + 1)
        if due > sent:
            cur.execute("INSERT INTO lat (pad) SELECT 'x' FROM generate_series(1, %s)", (due - sent,))
            sent = due
        pause = start + sent / rate - time.monotonic()
        if pause > 0:
            time.sleep(max(pause, tick))
    took.value = time.monotonic() - start
    written.value = sent
    conn.close()


def latency_once(bench, consumer, rate, seconds, slot):
    out = os.path.join(bench.work, f"{slot}.out")
    bench.create_slot(slot, consumer.plugin)
    child = Child(consumer.command(bench, slot, out), os.path.join(bench.work, f"{slot}.log"))
    tail = FileTail(out)
    watch = FileWatch(bench.work)
    writer = None
    try:
        # Attached and caught up: a first row has reached the file.
        bench.sql("INSERT INTO lat (pad) VALUES ('warm-up')")
        deadline = time.monotonic() + 60
        while not any(STAMPED.search(line) for line in tail.new_lines()[0]):
            if child.exited() or time.monotonic() > deadline:
                raise child.failure(f"{consumer.label} did not deliver the warm-up row within 60 s")
            time.sleep(0.005)
        context = multiprocessing.get_context("spawn")
        written, took = context.Value("q", -1), context.Value("d", 0.0)
        writer = context.Process(target=write_steadily, args=(bench.dsn, rate, seconds, written, took))
        writer.start()
        latencies = []
        deadline = None
        while True:
            lines, seen = tail.new_lines()
            for line in lines:
                match = STAMPED.search(line)
                if match:
                    latencies.append(seen - stamp_seconds(match.group(1)))
            if child.exited():
                raise child.failure(f"{consumer.label} exited during the latency run")
            if not writer.is_alive():
                if writer.exitcode != 0:
                    raise Failure(f"the latency writer failed (exit {writer.exitcode})")
                if deadline is None:
                    deadline = time.monotonic() + 120
                if len(latencies) >= written.value:
                    break
                if time.monotonic() > deadline:
                    raise child.failure(f"{consumer.label} delivered {len(latencies)} of {written.value} rows")
            watch.wait(0.01)
        status = child.stop(consumer.stop_signal)
        if status != 0:
            raise child.failure(f"{consumer.label} exited with status {status} when stopped")
    finally:
        tail.close()
        watch.close()
        if writer is not None and writer.is_alive():
            writer.terminate()
        if child.exited() is False:
            child.stop(consumer.stop_signal, timeout=10)
        bench.drop_slot(slot)
    os.remove(out)
    if len(latencies) != written.value:
        raise Failure(f"{consumer.label} delivered {len(latencies)} rows, the writer wrote {written.value}")
    latencies.sort()
    millis = [1000 * x for x in latencies]
    return {
        "rows": len(millis),
        "achieved_per_s": written.value / took.value,
        "p50_ms": millis[len(millis) // 2],
        "p99_ms": millis[min(len(millis) - 1, int(len(millis) * 0.99))],
        "max_ms": millis[-1],
        "cpu_s_per_m": child.cpu() / (len(millis) / 1e6),
        "peak_rss_mb": child.peak_rss_mb(),
    }


def run_latency(bench, args):
    bench.sql("DROP TABLE IF EXISTS lat")
    bench.sql("CREATE TABLE lat (id bigserial PRIMARY KEY, stamped timestamptz NOT NULL DEFAULT clock_timestamp(), "
              "pad text)")
    results = {}
    for rate in args.rates:
        runs = {}
        for rep in range(args.repeat):
            for c in rotated(consumers.latency_consumers(bench, args.consumers), rep):
                result = latency_once(bench, c, rate, args.latency_seconds, f"lat_{c.name}_{rate}_{rep}")
                runs.setdefault(c.name, (c.label, []))[1].append(result)
                log(f"  latency {rate}/s {c.label} [{rep + 1}/{args.repeat}]: achieved "
                    f"{result['achieved_per_s']:,.0f}/s, p50 {result['p50_ms']:.2f} ms, "
                    f"p99 {result['p99_ms']:.2f} ms, max {result['max_ms']:.2f} ms")
        results[str(rate)] = {name: dict(median_of(r), label=label) for name, (label, r) in runs.items()}
    bench.sql("DROP TABLE lat")
    return results


# MARK: snapshot


def snapshot_once_copy(bench, rows):
    argv = [f"{bench.pgbin}/psql", "-X", "-q", "-h", "127.0.0.1", "-p", str(bench.port), "-U", "postgres",
            "-d", "bench", "-c", "COPY (SELECT * FROM snap) TO STDOUT"]
    child = Child(argv, os.path.join(bench.work, "copy.log"), stdout=subprocess.DEVNULL)
    while not child.exited():
        child.sample_peak()
        time.sleep(0.002)
    elapsed = time.monotonic() - child.started
    if child.status != 0:
        raise child.failure("psql COPY failed")
    return {"seconds": elapsed, "rows_per_s": rows / elapsed, "peak_rss_mb": child.peak_rss_mb()}


def snapshot_once_siphon(bench, rows, slot):
    """Siphon from process start until the last snapshot row is in the file.

    The harness does not read the file while Siphon writes it: on two cores,
    reading 2.5 GB as it grew took the harness 1-2.7 CPU-seconds, out of the
    process it was timing (psql's COPY goes to /dev/null with no reader).
    It waits for Siphon's log to say the table has been read, then for the
    file to stop growing for a while, and takes the moment it last saw it
    grow; then, with Siphon still running, it counts the rows, and goes on
    waiting if any are missing."""
    consumer = consumers.Siphon(name="siphon_snapshot", snapshot="initial", tables=("public.snap",))
    out = os.path.join(bench.work, f"{slot}.out")
    log_path = os.path.join(bench.work, f"{slot}.log")
    child = Child(consumer.command(bench, slot, out), log_path)
    deadline = child.started + max(300, rows / 5000)
    size, grew = 0, child.started
    read_all = False
    try:
        while True:
            now = time.monotonic()
            current = os.path.getsize(out) if os.path.exists(out) else 0
            if current != size:
                size, grew = current, now
            if not read_all:
                with open(log_path, "rb") as log:
                    read_all = b"initial snapshot read" in log.read()
            elif now - grew >= 0.3:
                counts = consumer.count(out)
                if counts["r"] == rows:
                    break
                if counts["r"] > rows:
                    raise child.failure(f"siphon's snapshot wrote {counts['r']} rows, expected {rows}")
                grew = time.monotonic()  # rows are missing: the sink is behind, wait for more
            if child.exited():
                raise child.failure("siphon exited during the snapshot")
            if now > deadline:
                raise child.failure(f"siphon wrote {size:,} bytes of the snapshot in {deadline - child.started:.0f} s")
            time.sleep(0.005)
        elapsed = grew - child.started
        status = child.stop(consumer.stop_signal)
        if status != 0:
            raise child.failure(f"siphon exited with status {status} when stopped")
    finally:
        if child.exited() is False:
            child.stop(consumer.stop_signal, timeout=10)
        bench.drop_slot(slot)
    counts = consumer.count(out)
    os.remove(out)
    if counts["r"] != rows:
        raise child.failure(f"siphon's snapshot wrote {counts['r']} rows, expected {rows}")
    return {"seconds": elapsed, "rows_per_s": rows / elapsed, "cpu_s_per_m": child.cpu() / (rows / 1e6),
            "peak_rss_mb": child.peak_rss_mb()}


def warm_page_cache(folder, size):
    """Writes `size` bytes to a scratch file and deletes it. In this VM, page
    cache on guest memory never touched before costs several times more
    kernel time to fill than memory used and freed before (a 2.5 GB dd:
    5.8 s, then 0.4 s), so without this the first Siphon run, which writes
    2.5 GB, pays for the machine's state rather than its own work."""
    path = os.path.join(folder, "warm-up")
    block = b"\0" * (8 << 20)
    with open(path, "wb") as f:
        for _ in range(size // len(block)):
            f.write(block)
    os.remove(path)


def run_snapshot(bench, args):
    rows = 200_000 if args.quick else 5_000_000
    started = time.monotonic()
    workloads.create_table(bench.db.cursor(), "snap")
    bench.sql(f"INSERT INTO snap SELECT {workloads.row_values('g')} FROM generate_series(1, {rows}) g")
    bench.sql("VACUUM ANALYZE snap")
    # The table and its WAL are 1.7 GB of dirty page cache: written back now,
    # not by the kernel during the timed runs, on the cores they share.
    bench.sql("CHECKPOINT")
    os.sync()
    warm_page_cache(bench.work, rows * 600)  # a little more than Siphon's events (about 500 bytes a row)
    size = bench.value("SELECT pg_size_pretty(pg_table_size('snap'))")
    log(f"snapshot table: {rows:,} rows, {size}, written in {time.monotonic() - started:.1f} s")
    copy_runs, siphon_runs = [], []
    for rep in range(args.repeat):
        copy_runs.append(snapshot_once_copy(bench, rows))
        siphon_runs.append(snapshot_once_siphon(bench, rows, f"siphon_snap_{rep}"))
        log(f"  snapshot [{rep + 1}/{args.repeat}]: psql COPY {copy_runs[-1]['rows_per_s']:,.0f} rows/s, "
            f"siphon {siphon_runs[-1]['rows_per_s']:,.0f} rows/s, RSS {siphon_runs[-1]['peak_rss_mb']:.0f} MB")
    bench.sql("DROP TABLE snap")
    return {"rows": rows, "table_size": size, "copy": median_of(copy_runs), "siphon": median_of(siphon_runs)}


# MARK: main


def parse_args():
    parser = argparse.ArgumentParser(description="Siphon benchmark harness (use Scripts/bench.sh)")
    parser.add_argument("--siphon", required=True, help="the siphon binary")
    parser.add_argument("--siphon-baseline", default=None,
                        help="a second siphon binary (another commit's build), run next to --siphon in every mode")
    parser.add_argument("--minimal-consumer", default=None,
                        help="the built minimal_consumer.c (latency mode's reference; left out without it)")
    parser.add_argument("--debezium-python", default=None,
                        help="the Python of the Debezium virtual environment (bench.sh sets it up); "
                             "without it the Debezium peer is left out")
    parser.add_argument("--debezium-jvm", default=None, help="the libjvm.so Debezium runs on (default: JPype's choice)")
    parser.add_argument("--kafka-mock", default=None,
                        help="the built kafka_mock.c (the Kafka sink's broker; without it the Kafka sink is left out)")
    parser.add_argument("--nats-server", default=None,
                        help="nats-server (the NATS sink's server, started per run with JetStream; without it "
                             "the NATS sink is left out)")
    parser.add_argument("--target-port", type=int, default=None,
                        help="a second PostgreSQL 15 on --host (bench.sh starts it): the database sinks' target; "
                             "without it siphon_pg and native_pg are left out")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--pgbin", default="/usr/lib/postgresql/15/bin")
    parser.add_argument("--work", required=True, help="scratch folder for outputs and logs")
    parser.add_argument("--command", default=None, help="the command line to print in the results")
    parser.add_argument("--siphon-origin", default=None, help="where the binary came from, for the results")
    parser.add_argument("--quick", action="store_true", help="small sizes, 5 s latency runs, 1 repetition")
    parser.add_argument("--repeat", type=int, default=None, help="repetitions; the median is reported (default 3)")
    parser.add_argument("--only", default="drain,latency,snapshot",
                        help="modes to run, comma-separated (bench.sh also knows sqlite)")
    parser.add_argument("--workloads", default=None, help="drain workloads to run, e.g. w1,w3 (default all)")
    parser.add_argument("--consumers", default=None,
                        help="only these consumers, comma-separated, e.g. debezium,siphon (default: all, "
                             "Debezium on W1 only); " + ", ".join(consumers.drain_names()) + ", minimal")
    parser.add_argument("--latency-seconds", type=float, default=None, help="length of each latency run (30)")
    parser.add_argument("--rates", default="1000,5000", help="latency-mode rates in rows/s")
    parser.add_argument("--out", default=None, help="raw results JSON (default /tmp/siphon-bench-DATE.json)")
    parser.add_argument("--no-write", action="store_true",
                        help="do not write Benchmarks/RESULTS.md and README.md (only full runs of every "
                             "mode without --quick write them)")
    args = parser.parse_args()
    args.repeat = args.repeat or (1 if args.quick else 3)
    args.latency_seconds = args.latency_seconds or (5 if args.quick else 30)
    args.rates = [int(r) for r in args.rates.split(",")]
    args.only = set(args.only.split(","))
    args.workloads = set(args.workloads.split(",")) if args.workloads else None
    args.consumers = set(args.consumers.split(",")) if args.consumers else None
    if args.consumers:
        unknown = args.consumers - set(consumers.drain_names()) - {"minimal"}
        if unknown:
            parser.error(f"unknown consumers: {', '.join(sorted(unknown))}")
        if "siphon_kafka" in args.consumers and not args.kafka_mock:
            parser.error("the siphon_kafka consumer needs --kafka-mock (Scripts/bench.sh builds it)")
        if "siphon_nats" in args.consumers and not args.nats_server:
            parser.error("the siphon_nats consumer needs --nats-server (Scripts/bench.sh installs it)")
        if args.consumers & {"siphon_pg", "native_pg"} and not args.target_port:
            parser.error("the siphon_pg and native_pg consumers need --target-port (Scripts/bench.sh starts it)")
        if "debezium" in args.consumers and not args.debezium_python:
            parser.error("the debezium consumer needs --debezium-python (Scripts/bench.sh sets it up)")
    args.command = args.command or " ".join(sys.argv)
    return args


def main():
    args = parse_args()
    # SIGTERM unwinds like an error, so the finally blocks stop the consumer
    # and drop the slots.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = datetime.datetime.now(datetime.timezone.utc)
    bench = Bench(args)
    results = {"started": started.isoformat(timespec="seconds"), "command": args.command,
               "quick": args.quick, "repeat": args.repeat, "latency_seconds": args.latency_seconds,
               "machine": report.machine(bench, REPO)}
    log(f"== {results['machine']['cpu']} x{results['machine']['cpus']}, {results['machine']['postgres']}")
    if bench.debezium_python and "drain" in args.only:
        results["machine"]["debezium"] = consumers.debezium_versions(bench)
        log(f"== Debezium {results['machine']['debezium']['debezium']} on {results['machine']['debezium']['java']}")
    failure = None
    try:
        if "drain" in args.only:
            log("== drain")
            results["drain"] = run_drain(bench, args)
        if "latency" in args.only:
            log("== latency")
            results["latency"] = run_latency(bench, args)
        if "snapshot" in args.only:
            log("== snapshot")
            results["snapshot"] = run_snapshot(bench, args)
    except Failure as error:
        failure = str(error)
        results["failure"] = failure
    results["minutes"] = round((datetime.datetime.now(datetime.timezone.utc) - started).total_seconds() / 60, 1)
    out = args.out or f"/tmp/siphon-bench-{started.strftime('%Y%m%d-%H%M%S')}.json"
    with open(out, "w") as f:
        json.dump(results, f, indent=2)
    markdown = report.markdown(results)
    print(markdown)
    complete = {"drain", "latency", "snapshot"} <= args.only and not args.workloads and not args.consumers
    if complete and not (args.quick or args.no_write or failure):
        report.write(markdown, results, REPO)
        log("wrote Benchmarks/RESULTS.md (and README.md's bench block if it has one)")
    log(f"raw results: {out}; {results['minutes']} minutes")
    if failure:
        log(f"FAILED: {failure}")
        sys.exit(1)


if __name__ == "__main__":
    main()
