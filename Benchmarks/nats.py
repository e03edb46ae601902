"""The NATS side of a drain run of the NATS JetStream sink: a nats-server
(Debian's, with JetStream and file storage in the run's folder) in a process
of its own, and the stream's per-subject message counts that say what has
reached it.

The counts come from the JetStream API over a plain NATS connection spoken
from here (the text protocol: CONNECT, SUB, PUB, MSG), so no client library
is needed: `$JS.API.STREAM.INFO.<stream>` with a `subjects_filter` answers
with the number of messages stored under each subject. The sink publishes
with expected-sequence checks and `Nats-Msg-Id`, so no message is stored
twice and the count is what was acknowledged.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import time

import consumers


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """One nats-server with JetStream, started for one drain run and stopped
    after it, so its CPU time (from os.wait4) and peak RSS are that run's
    alone (as kafka.MockCluster). Its store is removed when it stops."""

    def __init__(self, binary, store, log_path):
        self.store = store
        self.log_file = open(log_path, "wb")
        for attempt in range(3):
            self.port = free_port()
            self.proc = subprocess.Popen([binary, "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", store],
                                         stdin=subprocess.DEVNULL, stdout=self.log_file, stderr=subprocess.STDOUT)
            if self._ready(10):
                break
            self.proc.kill()
            self.proc.wait()
        else:
            self.log_file.close()
            raise RuntimeError(f"{binary} did not accept connections on 127.0.0.1 (log: {log_path})")
        self.url = f"nats://127.0.0.1:{self.port}"
        self.peak_kb = 0
        self.rusage = None

    def _ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                time.sleep(0.02)
        return False

    def sample_peak(self):
        self.peak_kb = max(self.peak_kb, consumers.vm_hwm_kb(self.proc.pid))

    def stop(self):
        """SIGINT (unless it has exited; nats-server exits 0 on it, 1 on
        SIGTERM), then the CPU time of its whole life."""
        if self.rusage is None:
            self.sample_peak()
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGINT)
            _, status, self.rusage = os.wait4(self.proc.pid, 0)
            self.proc.returncode = os.waitstatus_to_exitcode(status)
            self.log_file.close()
            shutil.rmtree(self.store, ignore_errors=True)
        return self.rusage.ru_utime + self.rusage.ru_stime

    def peak_rss_mb(self):
        return self.peak_kb / 1024


class StreamCounts:
    """Messages per subject in a stream, asked over one NATS connection."""
    inbox = "_INBOX.siphon_bench"

    def __init__(self, url):
        host, port = url.rsplit("//", 1)[1].rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=5)
        self.buffer = b""
        self._line()  # INFO {...}
        self.sock.sendall(b'CONNECT {"verbose":false,"pedantic":false,"headers":false,"name":"siphon-bench"}\r\n'
                          + f"SUB {self.inbox} 1\r\nPING\r\n".encode())
        while self._line() != b"PONG":
            pass
        self.exists = set()

    def _line(self):
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the NATS server closed the connection")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        if line.startswith(b"-ERR"):
            raise ConnectionError(f"NATS: {line.decode(errors='replace')}")
        return line

    def _exactly(self, n):
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the NATS server closed the connection")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def request(self, subject, payload):
        body = json.dumps(payload).encode()
        self.sock.sendall(f"PUB {subject} {self.inbox} {len(body)}\r\n".encode() + body + b"\r\n")
        while True:
            line = self._line()
            if line == b"PING":
                self.sock.sendall(b"PONG\r\n")
            elif line.startswith(b"MSG "):
                size = int(line.split()[-1])
                data = self._exactly(size + 2)[:size]
                return json.loads(data)

    def info(self, stream, subject=None):
        """The stream's info (with `subject`'s count under state.subjects),
        or None while the stream does not exist."""
        reply = self.request(f"$JS.API.STREAM.INFO.{stream}", {"subjects_filter": subject} if subject else {})
        error = reply.get("error")
        if error:
            if error.get("code") == 404:
                return None
            raise RuntimeError(f"STREAM.INFO {stream}: {error}")
        self.exists.add(stream)
        return reply

    def messages(self, stream, subject):
        """Messages stored under `subject` in `stream`; 0 while it does not exist."""
        info = self.info(stream, subject)
        if info is None:
            return 0
        return (info["state"].get("subjects") or {}).get(subject, 0)

    def total(self, stream):
        info = self.info(stream)
        return info["state"]["messages"] if info else 0

    def listed(self, stream):
        """Whether `stream` was seen to exist (no request)."""
        return stream in self.exists

    def close(self):
        self.sock.close()
