"""The Kafka side of a drain run of the Kafka sink: the mock cluster
(Benchmarks/kafka_mock.c, built by Scripts/bench.sh) in a process of its own,
and the offsets that say what has reached it.

librdkafka's mock broker keeps only the newest 5 MB of each partition, so the
records cannot all be read back afterwards; their offsets can. A partition's
high watermark is the number of records ever appended to it, and Siphon's
producer is idempotent, so no record is counted twice. The harness reads
high watermarks (one ListOffsets request per partition) with
python3-confluent-kafka, on Debian's librdkafka.
"""
import os
import signal
import subprocess
import time

from confluent_kafka import Consumer, KafkaException, TopicPartition


class MockCluster:
    """One mock broker, started for one drain run and stopped after it, so
    its CPU time (from os.wait4) and peak RSS are that run's alone."""

    def __init__(self, binary, log_path):
        self.log_file = open(log_path, "wb")
        self.proc = subprocess.Popen([binary], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self.log_file)
        self.bootstrap = self.proc.stdout.readline().decode().strip()
        if not self.bootstrap:
            self.proc.wait()
            raise RuntimeError(f"{binary} printed no bootstrap address (exit status {self.proc.returncode})")
        self.peak_kb = 0
        self.rusage = None

    def sample_peak(self):
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        self.peak_kb = max(self.peak_kb, int(line.split()[1]))
        except OSError:
            pass

    def stop(self):
        """SIGTERM, then the CPU time of its whole life; None if it had died."""
        if self.rusage is None:
            self.sample_peak()
            alive = self.proc.poll() is None
            if alive:
                self.proc.send_signal(signal.SIGTERM)
            _, status, self.rusage = os.wait4(self.proc.pid, 0)
            self.proc.returncode = os.waitstatus_to_exitcode(status)
            self.proc.stdout.close()
            self.log_file.close()
        return self.rusage.ru_utime + self.rusage.ru_stime

    def peak_rss_mb(self):
        return self.peak_kb / 1024


class Offsets:
    """High watermarks of a pipeline's topics on the mock cluster."""

    def __init__(self, bootstrap):
        self.client = Consumer({"bootstrap.servers": bootstrap, "group.id": "siphon-bench",
                                "enable.auto.commit": False, "log_level": 3})
        self.partitions = {}

    def _partitions(self, topic):
        """The topic's partitions once it exists. Listing every topic, not
        asking for this one: a metadata request naming a missing topic could
        have the broker create it."""
        if topic not in self.partitions:
            metadata = self.client.list_topics(timeout=5)
            found = metadata.topics.get(topic)
            if found is None or found.error is not None or not found.partitions:
                return None
            self.partitions[topic] = sorted(found.partitions)
        return self.partitions[topic]

    def records(self, topic):
        """Records ever appended to `topic` (the sum of its partitions'
        high watermarks); 0 while it does not exist."""
        partitions = self._partitions(topic)
        if partitions is None:
            return 0
        total = 0
        for partition in partitions:
            try:
                _, high = self.client.get_watermark_offsets(TopicPartition(topic, partition), timeout=5,
                                                            cached=False)
            except KafkaException:
                return 0
            total += high
        return total

    def close(self):
        self.client.close()


def wait_for(offsets, topic, count, deadline, poll=0.005):
    """Until `topic` holds `count` records (or more); the count seen."""
    while True:
        seen = offsets.records(topic)
        if seen >= count or time.monotonic() > deadline:
            return seen
        time.sleep(poll)
