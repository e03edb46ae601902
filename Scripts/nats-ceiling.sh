#!/usr/bin/env bash
# The NATS sink's ceiling on this machine (Benchmarks/nats_ceiling.c): libnats
# and nats-server alone, no PostgreSQL and no Siphon, storing COUNT messages of
# SIZE bytes in a file-storage JetStream stream, with the sink's headers and
# without, REPEAT interleaved runs each on a fresh server; prints each run and
# the medians (rate, publisher and server CPU seconds per million messages).
#   Scripts/nats-ceiling.sh [COUNT=200000] [SIZE=700] [REPEAT=3]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source Scripts/lib/packages.sh
ensure_packages nats-server libnats-dev gcc python3

count=${1:-200000} size=${2:-700} repeat=${3:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
gcc -O2 -o "$work/nats_ceiling" Benchmarks/nats_ceiling.c -lnats

python3 - "$work" "$count" "$size" "$repeat" <<'PY'
import json, os, signal, socket, statistics, subprocess, sys, time
work, count, size, repeat = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
results = {0: [], 1: []}
for run in range(repeat):
    for headers in (1, 0):
        s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
        store = os.path.join(work, f"store-{run}-{headers}")
        server = subprocess.Popen(["nats-server", "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", store],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(500):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close(); break
            except OSError:
                time.sleep(0.01)
        out = subprocess.run([os.path.join(work, "nats_ceiling"), f"nats://127.0.0.1:{port}", str(count), str(size), str(headers), "4096"],
                             capture_output=True, text=True)
        server.send_signal(signal.SIGINT)
        _, _, usage = os.wait4(server.pid, 0)
        if out.returncode != 0:
            sys.exit(f"probe failed: {out.stderr}")
        r = json.loads(out.stdout)
        r["server_cpu"] = usage.ru_utime + usage.ru_stime
        results[headers].append(r)
        print(f"run {run + 1} headers={'sink' if headers else 'none'}: {r['rate']:.0f} msg/s, "
              f"publisher {r['cpu'] * 1e6 / count:.1f} s/M, nats-server {r['server_cpu'] * 1e6 / count:.1f} s/M", flush=True)
load = os.getloadavg()[0]
for headers in (1, 0):
    runs = results[headers]
    label = "the sink's headers" if headers else "no headers"
    print(f"median, {label}: "
          f"{statistics.median(r['rate'] for r in runs):.0f} msg/s, "
          f"publisher {statistics.median(r['cpu'] for r in runs) * 1e6 / count:.1f} CPU s/M, "
          f"nats-server {statistics.median(r['server_cpu'] for r in runs) * 1e6 / count:.1f} CPU s/M")
print(f"load average at the end: {load:.2f}; {os.cpu_count()} CPUs")
PY
