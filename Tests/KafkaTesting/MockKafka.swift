import CRdKafka
import Foundation
import KafkaSink
import Logging
import SiphonCore
import SiphonTestSupport

/// librdkafka's mock cluster: brokers on local TCP ports that keep their
/// data for as long as the object lives. Hosted in this process (the mock
/// API, `cluster`, then injects faults), or with `inHelperProcess` in a
/// process of its own (`siphon-kafka-mock`), for tests that kill and restart
/// `siphon run`: neither siphon's crashes nor anything in this process can
/// take the cluster's data with them.
public final class MockKafka: @unchecked Sendable {
    /// A record as a consumer reads it back.
    public struct Record: Equatable, Sendable {
        public var topic: String
        public var partition: Int32
        public var offset: Int64
        public var key: String?
        public var value: String?
        public var headers: [String: String]
    }

    private let handle: OpaquePointer?
    /// The cluster, for the mock API; only when hosted in this process.
    public let cluster: OpaquePointer!
    private let helper: SiphonProcess?
    /// `host:port` of the mock brokers, for a sink or a pipeline file.
    public let bootstraps: String
    private let reader: OpaquePointer

    public init(brokers: Int32 = 1) throws {
        let handle = try Self.client(RD_KAFKA_PRODUCER, [:])
        guard let cluster = rd_kafka_mock_cluster_new(handle, brokers) else {
            rd_kafka_destroy(handle)
            throw TestSupportError("cannot start librdkafka's mock cluster")
        }
        self.handle = handle
        self.cluster = cluster
        helper = nil
        bootstraps = String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
        reader = try Self.client(RD_KAFKA_CONSUMER, ["bootstrap.servers": bootstraps, "fetch.wait.max.ms": "10"])
    }

    /// A cluster in a `siphon-kafka-mock` process started for this object
    /// (and stopped with it), with `topics` (name: partitions) created.
    public static func inHelperProcess(topics: [String: Int32] = [:]) throws -> MockKafka {
        let process = try SiphonProcess(executable: try SiphonProcess.locateExecutable(named: "siphon-kafka-mock"),
                                        arguments: topics.sorted { $0.key < $1.key }.flatMap { ["--topic", "\($0.key):\($0.value)"] })
        try process.waitFor(stderrContaining: "ready ", timeout: .seconds(30))
        guard let line = process.stderrText.split(separator: "\n").first(where: { $0.hasPrefix("ready ") }) else {
            throw TestSupportError("siphon-kafka-mock said no address: \(process.stderrText)")
        }
        return try MockKafka(helper: process, bootstraps: String(line.dropFirst("ready ".count)))
    }

    private init(helper: SiphonProcess, bootstraps: String) throws {
        handle = nil
        cluster = nil
        self.helper = helper
        self.bootstraps = bootstraps
        reader = try Self.client(RD_KAFKA_CONSUMER, ["bootstrap.servers": bootstraps, "fetch.wait.max.ms": "10"])
    }

    /// Whether the helper process is up (always true in this process).
    public var isRunning: Bool { helper?.isRunning ?? true }

    deinit {
        rd_kafka_destroy(reader)
        if let cluster { rd_kafka_mock_cluster_destroy(cluster) }
        if let handle { rd_kafka_destroy(handle) }
        if let helper {
            helper.signal(SIGTERM)
            _ = try? helper.waitForExit(timeout: .seconds(10))
        }
    }

    static func client(_ type: rd_kafka_type_t, _ settings: [String: String]) throws -> OpaquePointer {
        let conf = rd_kafka_conf_new()
        var errstr = [CChar](repeating: 0, count: 512)
        for (key, value) in settings where rd_kafka_conf_set(conf, key, value, &errstr, errstr.count) != RD_KAFKA_CONF_OK {
            throw TestSupportError("\(key): \(errstr.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })")
        }
        rd_kafka_conf_set_log_cb(conf) { _, _, _, _ in }
        guard let client = rd_kafka_new(type, conf, &errstr, errstr.count) else {
            throw TestSupportError(errstr.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
        }
        return client
    }

    public func createTopic(_ name: String, partitions: Int32, replicationFactor: Int32 = 1) throws {
        guard let cluster else { throw TestSupportError("a cluster in a helper process takes its topics when it starts (inHelperProcess)") }
        let err = rd_kafka_mock_topic_create(cluster, name, partitions, replicationFactor)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw TestSupportError("create \(name): \(String(cString: rd_kafka_err2str(err)))") }
    }

    /// A sink of `pipeline` on this cluster; delivery fails after `messageTimeoutMs`.
    public func sink(pipeline: String, messageTimeoutMs: Int = 1500, configure: (inout KafkaSinkConfiguration) -> Void = { _ in }) -> KafkaSink {
        var configuration = KafkaSinkConfiguration(brokers: [bootstraps])
        configuration.properties = [("message.timeout.ms", "\(messageTimeoutMs)"), ("linger.ms", "2")]
        configure(&configuration)
        return KafkaSink(configuration: configuration, pipeline: pipeline, logger: Logger(label: "kafka-test"))
    }

    /// Every record of the topics `which` accepts, partition by partition, in offset order.
    public func records(_ which: (String) -> Bool = { _ in true }) throws -> [Record] {
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let err = rd_kafka_metadata(reader, 1, nil, &metadata, 5000)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else { throw TestSupportError("metadata: \(String(cString: rd_kafka_err2str(err)))") }
        defer { rd_kafka_metadata_destroy(metadata) }
        var topics: [(String, Int32)] = []
        for index in 0..<Int(metadata.pointee.topic_cnt) {
            let topic = metadata.pointee.topics[index]
            let name = String(cString: topic.topic)
            if which(name) { topics.append((name, topic.partition_cnt)) }
        }
        var result: [Record] = []
        for (name, count) in topics.sorted(by: { $0.0 < $1.0 }) {
            for partition in 0..<count { result += try records(topic: name, partition: partition) }
        }
        return result
    }

    private func records(topic: String, partition: Int32) throws -> [Record] {
        var low: Int64 = 0
        var high: Int64 = 0
        let err = rd_kafka_query_watermark_offsets(reader, topic, partition, &low, &high, 5000)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw TestSupportError("watermarks: \(String(cString: rd_kafka_err2str(err)))") }
        guard high > low else { return [] }
        guard let handle = rd_kafka_topic_new(reader, topic, nil) else { throw TestSupportError("topic \(topic)") }
        defer { rd_kafka_topic_destroy(handle) }
        guard rd_kafka_consume_start(handle, partition, low) == 0 else { throw TestSupportError("consume_start \(topic)") }
        defer { rd_kafka_consume_stop(handle, partition) }
        var result: [Record] = []
        let deadline = Date().addingTimeInterval(10)
        while result.last.map({ $0.offset < high - 1 }) ?? true {
            guard Date() < deadline else { throw TestSupportError("timed out reading \(topic) [\(partition)]") }
            guard let message = rd_kafka_consume(handle, partition, 500) else { continue }
            defer { rd_kafka_message_destroy(message) }
            guard message.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR else { continue }
            result.append(Record(topic: topic, partition: partition, offset: message.pointee.offset,
                                 key: text(message.pointee.key, message.pointee.key_len),
                                 value: text(message.pointee.payload, message.pointee.len),
                                 headers: headers(message)))
        }
        return result
    }

    private func text(_ pointer: UnsafeMutableRawPointer?, _ count: Int) -> String? {
        pointer.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: count), as: UTF8.self) }
    }

    private func headers(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> [String: String] {
        var headers: OpaquePointer?
        guard rd_kafka_message_headers(message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR, let headers else { return [:] }
        var result: [String: String] = [:]
        var index = 0
        var name: UnsafePointer<CChar>?
        var value: UnsafeRawPointer?
        var size = 0
        while rd_kafka_header_get_all(headers, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
            if let name { result[String(cString: name)] = value.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: size), as: UTF8.self) } ?? "" }
            index += 1
        }
        return result
    }

    /// Writes one record as another program would (for tests of what the sink finds on open).
    public func produce(topic: String, key: String?, value: String, headers: [String: String]) throws {
        let producer = try Self.client(RD_KAFKA_PRODUCER, ["bootstrap.servers": bootstraps])
        defer { rd_kafka_destroy(producer) }
        var list = rd_kafka_headers_new(headers.count)
        for (name, text) in headers { rd_kafka_header_add(list, name, -1, text, -1) }
        var bytes = Array(value.utf8)
        var keyBytes = key.map { Array($0.utf8) }
        let err = bytes.withUnsafeMutableBytes { payload in
            withOptionalBytes(&keyBytes) { keyPointer, keyCount in
                rd_kafka_producev_shim(producer, topic, payload.baseAddress, payload.count, keyPointer, keyCount, list)
            }
        }
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            rd_kafka_headers_destroy(list)
            throw TestSupportError("produce: \(String(cString: rd_kafka_err2str(err)))")
        }
        list = nil
        guard rd_kafka_flush(producer, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR else { throw TestSupportError("flush timed out") }
    }

    private func withOptionalBytes<R>(_ bytes: inout [UInt8]?, _ body: (UnsafeMutableRawPointer?, Int) -> R) -> R {
        guard bytes != nil else { return body(nil, 0) }
        return bytes!.withUnsafeMutableBytes { body($0.baseAddress, $0.count) }
    }

    /// rd_kafka_producev is variadic: the same through rd_kafka_produceva.
    private func rd_kafka_producev_shim(_ producer: OpaquePointer, _ topic: String, _ value: UnsafeMutableRawPointer?, _ count: Int,
                                        _ key: UnsafeMutableRawPointer?, _ keyCount: Int, _ headers: OpaquePointer?) -> rd_kafka_resp_err_t {
        topic.withCString { name in
            var fields: [rd_kafka_vu_t] = []
            var field = rd_kafka_vu_t()
            field.vtype = RD_KAFKA_VTYPE_TOPIC
            field.u.cstr = name
            fields.append(field)
            field = rd_kafka_vu_t()
            field.vtype = RD_KAFKA_VTYPE_VALUE
            field.u.mem.ptr = value
            field.u.mem.size = count
            fields.append(field)
            if let key {
                field = rd_kafka_vu_t()
                field.vtype = RD_KAFKA_VTYPE_KEY
                field.u.mem.ptr = key
                field.u.mem.size = keyCount
                fields.append(field)
            }
            field = rd_kafka_vu_t()
            field.vtype = RD_KAFKA_VTYPE_MSGFLAGS
            field.u.i = RD_KAFKA_MSG_F_COPY
            fields.append(field)
            field = rd_kafka_vu_t()
            field.vtype = RD_KAFKA_VTYPE_HEADERS
            field.u.headers = headers
            fields.append(field)
            guard let error = rd_kafka_produceva(producer, fields, fields.count) else { return RD_KAFKA_RESP_ERR_NO_ERROR }
            defer { rd_kafka_error_destroy(error) }
            return rd_kafka_error_code(error)
        }
    }
}
