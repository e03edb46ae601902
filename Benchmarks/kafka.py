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

from confluent_kafka import Consumer, KafkaException, TopicPartition

import consumers


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
        self.peak_kb = max(self.peak_kb, consumers.vm_hwm_kb(self.proc.pid))

    def stop(self):
        """SIGTERM (unless it has exited), then the CPU time of its whole life."""
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
        have the broker create it. Every topic of the listing is kept."""
        if topic not in self.partitions:
            metadata = self.client.list_topics(timeout=5)
            for name, found in metadata.topics.items():
                if found.error is None and found.partitions:
                    self.partitions[name] = sorted(found.partitions)
        return self.partitions.get(topic)

    def listed(self, topic):
        """Whether `topic` was in a listing made so far (no request)."""
        return topic in self.partitions

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
