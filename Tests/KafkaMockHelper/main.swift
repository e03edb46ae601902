// librdkafka's mock cluster in a process of its own, for tests that kill and
// restart `siphon run`: the cluster lives outside both the test process and
// siphon, so it keeps its data across siphon's crashes, and siphon reaches it
// over TCP like a real broker (Tests/KafkaTesting/MockKafka.swift starts it).
//
//     siphon-kafka-mock [--brokers N] [--topic NAME:PARTITIONS]...
//
// Creates the topics, writes `ready <bootstraps>` on stderr, and runs until
// SIGTERM or until the process that started it is gone (so a test runner
// killed mid-test leaves no cluster behind).
import CRdKafka
import Glibc

/// One line on stderr (write(2): the C `stderr` global is not concurrency-safe in Swift 6).
func say(_ line: String) {
    var line = line + "\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

func fail(_ message: String) -> Never {
    say("siphon-kafka-mock: \(message)")
    exit(2)
}

var brokers: Int32 = 1
var topics: [(name: String, partitions: Int32)] = []
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    guard let value = arguments.popFirst() else { fail("\(argument) needs a value") }
    switch argument {
    case "--brokers":
        guard let count = Int32(value), count > 0 else { fail("--brokers: a positive number, not \(value)") }
        brokers = count
    case "--topic":
        let parts = value.split(separator: ":")
        guard parts.count == 2, let partitions = Int32(parts[1]), partitions > 0 else {
            fail("--topic: NAME:PARTITIONS, not \(value)")
        }
        topics.append((String(parts[0]), partitions))
    default:
        fail("unknown argument \(argument)")
    }
}

let parent = getppid()
let conf = rd_kafka_conf_new()
rd_kafka_conf_set_log_cb(conf) { _, level, facility, text in
    guard level <= 3 else { return }
    say("siphon-kafka-mock: \(facility.map { String(cString: $0) } ?? ""): \(text.map { String(cString: $0) } ?? "")")
}
var errstr = [CChar](repeating: 0, count: 512)
// The handle only owns the cluster's threads; it produces nothing.
guard let handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, &errstr, errstr.count) else {
    fail(String(cString: errstr))
}
guard let cluster = rd_kafka_mock_cluster_new(handle, brokers) else { fail("cannot start the mock cluster") }
for topic in topics {
    let err = rd_kafka_mock_topic_create(cluster, topic.name, topic.partitions, 1)
    guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { fail("topic \(topic.name): \(String(cString: rd_kafka_err2str(err)))") }
}
say("ready \(String(cString: rd_kafka_mock_cluster_bootstraps(cluster)))")
while getppid() == parent {
    sleep(1)
}
