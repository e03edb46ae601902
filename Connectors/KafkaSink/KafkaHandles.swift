import CRdKafka
import Foundation
import SiphonCore
import Synchronization

/// An `rd_kafka_t`, destroyed with its owner. librdkafka's handles are
/// thread-safe, which is what makes this class Sendable; the raw pointer
/// never leaves it except into librdkafka calls.
final class KafkaHandle: @unchecked Sendable {
    let pointer: OpaquePointer
    /// Values that must never appear in text coming back from librdkafka.
    let secrets: [String]
    /// What the callbacks reach through the opaque pointer: released only
    /// after the client is destroyed, when no callback can run any more.
    private let context: AnyObject?
    private let destroyed = Mutex(false)

    /// Builds a producer or consumer from `settings` (applied in order).
    /// `prepare` gets the configuration last (callbacks, opaque).
    init(_ type: rd_kafka_type_t, settings: [(key: String, value: String)], secrets: [String],
         context: AnyObject? = nil, prepare: (OpaquePointer) -> Void = { _ in }) throws {
        self.secrets = secrets
        self.context = context
        guard let conf = rd_kafka_conf_new() else { throw SiphonError(.sink, "librdkafka could not make a configuration") }
        var errstr = [CChar](repeating: 0, count: 512)
        for (key, value) in settings where rd_kafka_conf_set(conf, key, value, &errstr, errstr.count) != RD_KAFKA_CONF_OK {
            rd_kafka_conf_destroy(conf)
            let said = Secrets.redact(errstr.text, secrets: secrets + [value])
            throw SiphonError(.configuration, "sink.properties.\(key): librdkafka rejects it (\(said))")
        }
        prepare(conf)
        // On success rd_kafka_new owns the configuration; on failure the caller still does.
        guard let handle = rd_kafka_new(type, conf, &errstr, errstr.count) else {
            rd_kafka_conf_destroy(conf)
            throw SiphonError(.sink, "cannot start the Kafka client: \(Secrets.redact(errstr.text, secrets: secrets))")
        }
        pointer = handle
    }

    /// Destroys the client now (it joins librdkafka's threads, so not on
    /// the pipeline's thread); later calls and deinit do nothing more.
    func destroy() {
        let first = destroyed.withLock { done in
            defer { done = true }
            return !done
        }
        if first { rd_kafka_destroy(pointer) }
    }

    deinit { destroy() }

    /// The names of the cluster's topics and their partition counts;
    /// blocks up to `timeoutMs` (call it off the pipeline's thread).
    func topics(timeoutMs: Int32) throws -> [String: Int32] {
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let err = rd_kafka_metadata(pointer, 1, nil, &metadata, timeoutMs)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else { throw KafkaErrors.error(err, doing: "list the cluster's topics") }
        defer { rd_kafka_metadata_destroy(metadata) }
        var result: [String: Int32] = [:]
        for index in 0..<Int(metadata.pointee.topic_cnt) {
            let topic = metadata.pointee.topics[index]
            guard topic.err == RD_KAFKA_RESP_ERR_NO_ERROR else { continue }
            result[String(cString: topic.topic)] = topic.partition_cnt
        }
        return result
    }

    /// The low and high watermarks of a partition; blocks.
    func watermarks(topic: String, partition: Int32, timeoutMs: Int32) throws -> (low: Int64, high: Int64) {
        var low: Int64 = 0
        var high: Int64 = 0
        let err = rd_kafka_query_watermark_offsets(pointer, topic, partition, &low, &high, timeoutMs)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaErrors.error(err, doing: "read the offsets of \(topic) partition \(partition)")
        }
        return (low, high)
    }
}

/// A topic handle (`rd_kafka_topic_t`) of a `KafkaHandle`, kept alive by it.
final class KafkaTopicHandle: @unchecked Sendable {
    let pointer: OpaquePointer
    let client: KafkaHandle

    init(_ client: KafkaHandle, name: String) throws {
        guard let topic = rd_kafka_topic_new(client.pointer, name, nil) else {
            throw KafkaErrors.error(rd_kafka_last_error(), doing: "open topic \(name)")
        }
        self.client = client
        pointer = topic
    }

    deinit { rd_kafka_topic_destroy(pointer) }
}

/// Runs blocking librdkafka calls (metadata, offsets, fetching one record)
/// on a thread of their own, so that the pipeline's thread never waits on
/// the network.
enum Blocking {
    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread { continuation.resume(with: Result { try body() }) }
            thread.name = "siphon-kafka-lookup"
            thread.start()
        }
    }
}

/// librdkafka's error codes, as `SiphonError`s that say whether a retry may help.
enum KafkaErrors {
    /// Errors no retry fixes: a person must change the record, the topic or the grants.
    static let permanent: Set<Int32> = [
        RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE.rawValue,
        RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE.rawValue,
        RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE.rawValue,
        RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED.rawValue,
        RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED.rawValue,
        RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION.rawValue,
        RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED.rawValue,
        RD_KAFKA_RESP_ERR__AUTHENTICATION.rawValue,
        RD_KAFKA_RESP_ERR__INVALID_ARG.rawValue,
        RD_KAFKA_RESP_ERR_UNSUPPORTED_COMPRESSION_TYPE.rawValue,
    ]

    static func isPermanent(_ err: rd_kafka_resp_err_t) -> Bool { permanent.contains(err.rawValue) }

    static func name(_ err: rd_kafka_resp_err_t) -> String {
        "\(String(cString: rd_kafka_err2name(err))): \(String(cString: rd_kafka_err2str(err)))"
    }

    static func error(_ err: rd_kafka_resp_err_t, doing action: String) -> SiphonError {
        SiphonError(.sink, "cannot \(action) (\(name(err))); check sink.brokers and that the cluster is up",
                    transient: !isPermanent(err))
    }
}

extension Array where Element == CChar {
    /// The text of a NUL-terminated buffer librdkafka filled in.
    var text: String { withUnsafeBufferPointer { String(cString: $0.baseAddress!) } }
}
