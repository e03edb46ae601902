#!/usr/bin/env python3
"""SQLite source benchmark: what capture costs the application's writer, how
fast Siphon drains the changelog into the file sink, and how long a commit
takes to reach the file at a steady rate.

The writer is a separate Python process using the standard sqlite3 module,
as a legacy application would be; Siphon is the release binary. Nothing here
asserts a time: it measures and reports (Markdown on stdout, JSON with --out).

  python3 Benchmarks/sqlite_bench.py --siphon .build/release/siphon [--quick] [--repeat N]
"""
import argparse
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

WRITER = r'''
import sqlite3, sys, time, json
path, mode, total, batch, rate = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
db = sqlite3.connect(path, isolation_level=None, timeout=30)
commits = []
start = time.perf_counter()
n = 0
while n < total:
    if rate > 0:
        due = start + n / rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    db.execute("BEGIN")
    for _ in range(min(batch, total - n)):
        n += 1
        db.execute("INSERT INTO t (id, a, b, c) VALUES (?, ?, ?, ?)", (n, n * 7, "row %d of the benchmark" % n, n / 3))
    db.execute("COMMIT")
    if mode == "latency":
        commits.append((n, time.time()))
elapsed = time.perf_counter() - start
print(json.dumps({"seconds": elapsed, "commits": commits}))
'''


def log(message):
    print(f"[sqlite-bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Bench:
    def __init__(self, args):
        self.siphon = os.path.realpath(args.siphon)
        self.root = tempfile.mkdtemp(prefix="siphon-sqlite-bench.")
        self.count = 0

    def fresh(self):
        """A new database in WAL mode with the benchmark table, and a pipeline file for it."""
        self.count += 1
        folder = os.path.join(self.root, f"run{self.count}")
        os.makedirs(folder)
        db = os.path.join(folder, "app.db")
        connection = sqlite3.connect(db)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a INT, b TEXT, c REAL)")
        connection.commit()
        connection.close()
        config = os.path.join(folder, "pipeline.yaml")
        with open(config, "w") as f:
            f.write(f"""version: 1
name: bench{self.count}
source:
  type: sqlite
  path: {db}
  snapshot: never
sink:
  type: file
  path: {folder}/out.jsonl
state:
  path: {folder}/state
""")
        return folder, db, config

    def start_siphon(self, folder, config):
        log_file = open(os.path.join(folder, "siphon.log"), "w")
        process = subprocess.Popen([self.siphon, "run", "--config", config], stderr=log_file, stdout=subprocess.DEVNULL)
        deadline = time.time() + 60
        while "capturing" not in open(os.path.join(folder, "siphon.log")).read():
            if process.poll() is not None or time.time() > deadline:
                raise SystemExit("siphon did not start:\n" + open(os.path.join(folder, "siphon.log")).read()[-2000:])
            time.sleep(0.01)
        return process

    def stop_siphon(self, process):
        process.send_signal(signal.SIGTERM)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = status
        if status != 0:
            raise SystemExit(f"siphon exited with status {status}")
        return usage

    def write(self, db, mode, total, batch, rate=0.0):
        result = subprocess.run([sys.executable, "-c", WRITER, db, mode, str(total), str(batch), str(rate)],
                                capture_output=True, text=True, check=True)
        return json.loads(result.stdout)

    def wait_for_lines(self, path, count, timeout=600):
        """Counts lines as they are appended, reading each byte once (reading
        the whole file again and again would make this process, and so the
        next child it forks, large)."""
        deadline = time.time() + timeout
        lines, offset = 0, 0
        while True:
            try:
                with open(path, "rb") as f:
                    f.seek(offset)
                    while chunk := f.read(1 << 20):
                        lines += chunk.count(b"\n")
                        offset += len(chunk)
            except FileNotFoundError:
                pass
            if lines >= count:
                return
            if time.time() > deadline:
                raise SystemExit(f"only {lines} of {count} events in {path}")
            time.sleep(0.005)

    @staticmethod
    def peak_rss_mb(pid):
        """VmHWM: the peak resident set of the process since its exec (wait4's
        ru_maxrss can also count the forking parent's pages)."""
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return None


def writer_slowdown(bench, batch, total, repeat):
    """Seconds for the same inserts with capture off (no triggers) and on (Siphon running)."""
    off, on = [], []
    for _ in range(repeat):
        folder, db, config = bench.fresh()
        off.append(bench.write(db, "plain", total, batch)["seconds"])
        folder, db, config = bench.fresh()
        process = bench.start_siphon(folder, config)
        on.append(bench.write(db, "plain", total, batch)["seconds"])
        bench.wait_for_lines(os.path.join(folder, "out.jsonl"), total + 1)
        bench.stop_siphon(process)
    return {"batch": batch, "rows": total, "off_s": statistics.median(off), "on_s": statistics.median(on),
            "slowdown": statistics.median(on) / statistics.median(off)}


def drain(bench, total, repeat):
    """A backlog written while Siphon is stopped, then drained: changes/s, CPU, peak RSS."""
    runs = []
    for _ in range(repeat):
        folder, db, config = bench.fresh()
        bench.stop_siphon(bench.start_siphon(folder, config))  # installs the triggers
        bench.write(db, "plain", total, 10_000)
        out = os.path.join(folder, "out.jsonl")
        lines_before = sum(1 for _ in open(out))
        started = time.perf_counter()
        process = bench.start_siphon(folder, config)
        bench.wait_for_lines(out, lines_before + total)
        seconds = time.perf_counter() - started
        # Cleanup goes on behind the sink: how long until the changelog is empty again?
        check = sqlite3.connect(db)
        while check.execute("SELECT count(*) FROM _siphon_changelog").fetchone()[0] > 1:
            time.sleep(0.01)
        cleaned = time.perf_counter() - started
        check.close()
        peak = bench.peak_rss_mb(process.pid)
        usage = bench.stop_siphon(process)
        cpu = usage.ru_utime + usage.ru_stime
        runs.append({"seconds": seconds, "rate": total / seconds, "cpu_per_m": cpu / total * 1e6,
                     "rss_mb": peak, "cleaned_s": cleaned})
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]} | {"rows": total}


def latency(bench, rate, seconds, repeat):
    """Commit (as the writer saw it return) to the line being in the file."""
    results = []
    for _ in range(repeat):
        folder, db, config = bench.fresh()
        process = bench.start_siphon(folder, config)
        out = os.path.join(folder, "out.jsonl")
        total = int(rate * seconds)
        writer = subprocess.Popen([sys.executable, "-c", WRITER, db, "latency", str(total), "1", str(rate)],
                                  stdout=subprocess.PIPE, text=True)
        seen = {}
        position = 0
        buffer = b""
        while len(seen) < total:
            try:
                with open(out, "rb") as f:
                    f.seek(position)
                    chunk = f.read()
            except FileNotFoundError:
                chunk = b""
            if chunk:
                now = time.time()
                position += len(chunk)
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    event = json.loads(line)
                    if event["op"] == "c":
                        seen[event["key"]["id"]] = now
            else:
                time.sleep(0.0005)
        commits = json.loads(writer.communicate()[0])["commits"]
        bench.stop_siphon(process)
        delays = sorted((seen[n] - at) * 1000 for n, at in commits)
        results.append({"p50": delays[len(delays) // 2], "p99": delays[int(len(delays) * 0.99)], "max": delays[-1]})
    return {key: statistics.median(r[key] for r in results) for key in results[0]} | {"rate": rate, "seconds": seconds}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--siphon", default=".build/release/siphon")
    parser.add_argument("--quick", action="store_true", help="small sizes, one run: a smoke test")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", help="write the raw results as JSON here")
    parser.add_argument("--readme", help="replace the sqlite-bench block of this README.md with the results")
    args = parser.parse_args()
    repeat = 1 if args.quick else args.repeat
    bench = Bench(args)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    results = {"started": started, "sqlite": sqlite3.sqlite_version, "repeat": repeat, "slowdown": []}
    sizes = {1: 2_000, 100: 100_000, 10_000: 500_000} if not args.quick else {1: 300, 100: 10_000, 10_000: 50_000}
    for batch, total in sizes.items():
        log(f"writer slowdown, {total} rows in transactions of {batch}")
        results["slowdown"].append(writer_slowdown(bench, batch, total, repeat))
    drain_rows = 200_000 if args.quick else 1_000_000
    log(f"drain of {drain_rows} changes")
    results["drain"] = drain(bench, drain_rows, repeat)
    log("latency at 1,000 commits/s")
    results["latency"] = latency(bench, 1000, 5 if args.quick else 30, repeat)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2)
    table = markdown(results)
    print(table)
    if args.readme:
        replace_block(args.readme, table)
    subprocess.run(["rm", "-rf", bench.root])


def replace_block(readme, table, start="<!-- sqlite-bench:start -->", end="<!-- sqlite-bench:end -->"):
    """Puts `table` between the markers in README.md, when both are there."""
    with open(readme) as f:
        text = f.read()
    if start not in text or end not in text:
        return
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    with open(readme, "w") as f:
        f.write(head + start + "\n" + table + "\n" + end + tail)
    log(f"wrote the SQLite table into {readme}")


def markdown(results):
    lines = [f"SQLite {results['sqlite']}, writer: Python's sqlite3 module in its own process (journal_mode=WAL, "
             f"synchronous=FULL, the defaults), table `t(id INTEGER PRIMARY KEY, a INT, b TEXT, c REAL)`; "
             f"median of {results['repeat']} run(s), {results['started']}.", "",
             "| Writer transactions | Rows | Capture off s | Capture on s | Slowdown |", "|--:|--:|--:|--:|--:|"]
    for row in results["slowdown"]:
        lines.append(f"| {row['batch']:,} rows | {row['rows']:,} | {row['off_s']:.2f} | {row['on_s']:.2f} | {row['slowdown']:.2f}x |")
    d = results["drain"]
    lines += ["", "| Drain (backlog into the file sink) | Changes/s | Seconds | Changelog emptied after s | Siphon CPU s / M changes | Peak RSS MB |",
              "|---|--:|--:|--:|--:|--:|",
              f"| {d['rows']:,} inserts | {d['rate']:,.0f} | {d['seconds']:.2f} | {d['cleaned_s']:.2f} | {d['cpu_per_m']:.1f} | {d['rss_mb']:.0f} |"]
    l = results["latency"]
    lines += ["", "| Commit to file, single-row transactions | p50 ms | p99 ms | max ms |", "|---|--:|--:|--:|",
              f"| {l['rate']:,} commits/s for {l['seconds']} s | {l['p50']:.1f} | {l['p99']:.1f} | {l['max']:.1f} |"]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
