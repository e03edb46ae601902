import CRdKafka
import SiphonCore

/// What the pipeline's topics already hold: the last record of every
/// partition of every topic the sink's templates can name, read back on
/// `open` (its `siphon-id` header is the event's position).
///
/// The producer is idempotent and keeps order per partition, so each
/// partition holds a prefix of what was sent to it: an event at or below
/// its partition's last record is already there, and one above it is not.
/// That is what lets the sink skip, after a crash, exactly the events that
/// made it to Kafka, whatever the checkpoint says, as long as each topic
/// has one writer and an event maps to the same partition every time
/// (murmur2 of the key over an unchanged partition count).
struct KafkaSinkPosition: Sendable {
    struct LastRecord: Sendable, Equatable {
        var position: Position
        /// The second record of its event: the tombstone after a delete (a
        /// null value), or a transaction's END (`TransactionMetadata`), in
        /// Kafka after the first.
        var second: Bool
    }

    /// Partition counts of the topics inspected.
    var partitionCounts: [String: Int32] = [:]
    /// The last record of each non-empty partition, by topic.
    var lastRecords: [String: [Int32: LastRecord]] = [:]

    /// The highest position held anywhere (for the log line and `offsets show`).
    var highest: Position? {
        lastRecords.values.flatMap(\.values).map(\.position).max()
    }

    /// Whether the topics may be written by this sink's templates.
    static func isPipelineTopic(_ topic: String, configuration: KafkaSinkConfiguration, prefix: String) -> Bool {
        [configuration.topic, configuration.schemaTopic, configuration.messageTopic, configuration.transactionTopic]
            .contains { $0.matches(topic, prefix: prefix) }
    }

    /// Reads the last record of every partition of the pipeline's topics.
    /// Blocks on the network: call it through `Blocking.run`. Fails
    /// permanently when a last record was not written by `pipeline`.
    static func read(client: KafkaHandle, configuration: KafkaSinkConfiguration, prefix: String, pipeline: String,
                     consumerSettings: [(key: String, value: String)], timeoutMs: Int32) throws -> KafkaSinkPosition {
        var result = KafkaSinkPosition()
        let topics = try client.topics(timeoutMs: timeoutMs)
            .filter { isPipelineTopic($0.key, configuration: configuration, prefix: prefix) }
        var consumer: KafkaHandle?
        for (topic, count) in topics.sorted(by: { $0.key < $1.key }) {
            result.partitionCounts[topic] = count
            for partition in 0..<count {
                let marks = try client.watermarks(topic: topic, partition: partition, timeoutMs: timeoutMs)
                guard marks.high > marks.low else { continue }
                if consumer == nil {
                    // One record per partition: no point waiting for the broker to batch more.
                    consumer = try KafkaHandle(RD_KAFKA_CONSUMER, settings: [("fetch.wait.max.ms", "10")] + consumerSettings,
                                               secrets: client.secrets) {
                        rd_kafka_conf_set_log_cb($0) { _, _, _, _ in }
                    }
                }
                let last = try readRecord(consumer!, topic: topic, partition: partition, offset: marks.high - 1,
                                          pipeline: pipeline, timeoutMs: timeoutMs)
                result.lastRecords[topic, default: [:]][partition] = last
            }
        }
        return result
    }

    private static func readRecord(_ consumer: KafkaHandle, topic: String, partition: Int32, offset: Int64,
                                   pipeline: String, timeoutMs: Int32) throws -> LastRecord {
        let handle = try KafkaTopicHandle(consumer, name: topic)
        guard rd_kafka_consume_start(handle.pointer, partition, offset) == 0 else {
            throw KafkaErrors.error(rd_kafka_last_error(), doing: "read the last record of \(topic) partition \(partition)")
        }
        defer { rd_kafka_consume_stop(handle.pointer, partition) }
        let deadline = ContinuousClock.now + .milliseconds(Int(timeoutMs))
        while true {
            guard let message = rd_kafka_consume(handle.pointer, partition, 1000) else {
                if ContinuousClock.now > deadline {
                    throw SiphonError(.sink, "timed out reading the last record of \(topic) partition \(partition); check that the brokers are up",
                                      transient: true)
                }
                continue
            }
            defer { rd_kafka_message_destroy(message) }
            let err = message.pointee.err
            if err == RD_KAFKA_RESP_ERR__PARTITION_EOF { continue }
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw KafkaErrors.error(err, doing: "read the last record of \(topic) partition \(partition)")
            }
            // A record ahead of the one asked for (the partition grew meanwhile) is as good a witness.
            guard message.pointee.offset >= offset else { continue }
            return try lastRecord(message, topic: topic, partition: partition, pipeline: pipeline)
        }
    }

    /// The position and writer a record's headers name.
    static func lastRecord(_ message: UnsafeMutablePointer<rd_kafka_message_t>, topic: String, partition: Int32,
                           pipeline: String) throws -> LastRecord {
        let place = "the last record of Kafka topic \(topic) partition \(partition)"
        let id = header(message, "siphon-id").flatMap { Position($0) }
        guard let id else {
            throw SiphonError(.sink, "\(place) has no siphon-id header: Siphon did not write it. Point the sink at topics only this pipeline writes (sink.topic, sink.prefix)")
        }
        let writer = header(message, "siphon-pipeline")
        guard writer == pipeline else {
            throw SiphonError(.sink, "\(place) was written by \(writer.map { "pipeline '\($0)'" } ?? "another pipeline"), not by '\(pipeline)': two pipelines must never write the same topic, or each would skip the other's events. Give this pipeline its own sink.prefix or sink.topic")
        }
        return LastRecord(position: id, second: message.pointee.payload == nil || isTransactionEnd(message))
    }

    private static let endStatus = Array("{\"status\":\"END\"".utf8)

    static func isTransactionEnd(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> Bool {
        guard let payload = message.pointee.payload, message.pointee.len >= endStatus.count else { return false }
        return UnsafeRawBufferPointer(start: payload, count: endStatus.count).elementsEqual(endStatus)
    }

    static func header(_ message: UnsafeMutablePointer<rd_kafka_message_t>, _ name: String) -> String? {
        var headers: OpaquePointer?
        guard rd_kafka_message_headers(message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR, let headers else { return nil }
        var value: UnsafeRawPointer?
        var size = 0
        guard rd_kafka_header_get_last(headers, name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR, let value else { return nil }
        return String(decoding: UnsafeRawBufferPointer(start: value, count: size), as: UTF8.self)
    }

    enum Decision: Equatable {
        /// Not in Kafka yet: send it (and its second record).
        case send
        /// The first record is in Kafka, the second (a tombstone, an END) is not.
        case secondOnly
        /// Already in Kafka.
        case skip
    }

    /// Whether an event bound for `partition` of `topic` is already there.
    /// Past it, nothing is skipped (see `KafkaSink.GapGuard`); nil with
    /// `trustsNothing` set: nothing is skipped at all.
    private(set) var skipsUpTo: Position?
    private(set) var trustsNothing = false

    /// Skips nothing after `position` (nil: nothing at all), whatever the partitions hold.
    mutating func skipsNothingAfter(_ position: Position?) {
        if let position { skipsUpTo = position } else { trustsNothing = true }
    }

    func decide(topic: String, partition: Int32, position: Position, secondFollows: Bool) -> Decision {
        if trustsNothing { return .send }
        if let limit = skipsUpTo, position > limit { return .send }
        guard let last = lastRecords[topic]?[partition] else { return .send }
        if position < last.position { return .skip }
        if position > last.position { return .send }
        return secondFollows && !last.second ? .secondOnly : .skip
    }
}
