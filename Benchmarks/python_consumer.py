#!/usr/bin/env python3
"""A small, fair logical replication consumer to compare Siphon with.

Reads a wal2json (format-version 2) slot through psycopg2's
LogicalReplicationConnection and appends each message, one JSON line per
change (plus B/C lines per transaction), to a file. Like Siphon it hands
what it has to the file whenever the stream is momentarily drained, and it
only confirms a position to PostgreSQL after an fsync of the file (every
--feedback-interval seconds). Stops on SIGTERM/SIGINT after a last fsync
and confirmation.
"""
import argparse
import os
import select
import signal
import time

import psycopg2
import psycopg2.extras


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--slot", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--feedback-interval", type=float, default=1.0)
    args = parser.parse_args()

    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    conn = psycopg2.connect(args.dsn, connection_factory=psycopg2.extras.LogicalReplicationConnection)
    cur = conn.cursor()
    cur.start_replication(slot_name=args.slot, decode=False, options={"format-version": "2"})
    out = open(args.out, "ab", buffering=1 << 20)
    written = 0  # LSN of the last message written to the file
    last_feedback = time.monotonic()

    def confirm():
        nonlocal last_feedback
        out.flush()
        os.fsync(out.fileno())
        if written:
            cur.send_feedback(flush_lsn=written)
        else:
            cur.send_feedback()
        last_feedback = time.monotonic()

    while not stopping:
        message = cur.read_message()
        if message is not None:
            out.write(message.payload)
            out.write(b"\n")
            written = message.data_start
            if time.monotonic() - last_feedback >= args.feedback_interval:
                confirm()
            continue
        out.flush()  # drained: make what we have visible in the file
        wait = args.feedback_interval - (time.monotonic() - last_feedback)
        if wait <= 0:
            confirm()
            wait = args.feedback_interval
        select.select([cur], [], [], min(wait, 0.1))
    confirm()
    out.close()
    conn.close()


if __name__ == "__main__":
    main()
