import CRdKafka
import Foundation
import SiphonCore

/// One `open` of the Kafka sink: its producer, delivery ledger, what
/// Kafka held at `open`, and the topic names worked out so far.
///
/// Used by the pipeline's task only (the sink does not flush alongside
/// writes, so `write`, `flush` and `close` never overlap); the ledger is
/// the one part librdkafka's callbacks touch, and it has its own lock.
final class KafkaSession: @unchecked Sendable {
    let producer: KafkaHandle
    let ledger: DeliveryLedger
    let held: KafkaSinkPosition
    private let configuration: KafkaSinkConfiguration
    private let prefix: String
    private let pipeline: [UInt8]
    /// Topic names by event kind and table.
    private var topics: [TopicKey: Topic] = [:]
    /// The pipeline's topics known to exist: those there at `open`, and
    /// those this session created (`sink.create_topics`).
    private var existing: Set<String>

    private struct Topic {
        var name: String
        /// The same, NUL-terminated, for librdkafka.
        var cName: [CChar]
        /// Its partition count, when Kafka held records of it at `open`
        /// (the events sent to it must be checked against them).
        var heldPartitions: Int32?
    }

    private struct TopicKey: Hashable {
        var op: SiphonCore.Operation
        var table: TableName?
    }

    private let context: ProducerContext

    init(producer: KafkaHandle, context: ProducerContext, held: KafkaSinkPosition, sink: KafkaSink) {
        self.producer = producer
        self.context = context
        ledger = context.ledger
        self.held = held
        existing = Set(held.partitionCounts.keys)
        configuration = sink.configuration
        prefix = sink.prefix
        pipeline = Array(sink.pipeline.utf8)
    }

    /// The topics `batch` is bound for that did not exist at `open` and
    /// were not created since, in the order the batch first names them.
    func missingTopics(in batch: EventBatch) throws -> [String] {
        var missing: [String] = []
        for event in batch.events {
            let name = try topicName(for: event, batch: batch).name
            if !existing.contains(name), !missing.contains(name) { missing.append(name) }
        }
        if configuration.transactionMetadata, let first = batch.events.first {
            let name = try transactionTopic(for: first, batch: batch).name
            if !existing.contains(name), !missing.contains(name) { missing.append(name) }
        }
        return missing
    }

    /// Topics that exist now (created through the admin API).
    func created(_ names: [String]) {
        existing.formUnion(names)
    }

    /// Serves the delivery reports librdkafka has queued, without waiting.
    func serveReports() {
        ledger.drainWakeups()
        rd_kafka_poll(producer.pointer, 0)
    }

    /// Waits (on the pipe librdkafka writes when reports arrive) without
    /// holding the pipeline's thread, then serves what arrived.
    func waitForReports() async {
        _ = await FileDescriptorWait.wait(ledger.wakeRead, for: .read, timeout: .milliseconds(100))
        serveReports()
    }

    /// The records of one event, in the order they are sent.
    enum Step: Int, Comparable {
        /// The transaction's BEGIN, before its first event.
        case begin
        /// The event itself.
        case value
        /// The tombstone after a keyed delete.
        case tombstone
        /// The transaction's END, after its last event.
        case end

        static func < (lhs: Step, rhs: Step) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    enum Sent {
        case done
        /// librdkafka's queue is full: wait for reports, then call again
        /// from `step` (the records before it were sent).
        case queueFull(from: Step)
    }

    /// The transaction records around the event being sent, worked out
    /// when its first step is sent and kept while the queue is full.
    private var around = TransactionMetadata.Records()

    /// Sends event `index` of `batch` (its BEGIN, the event, its tombstone,
    /// its END), from `step` on, skipping what Kafka already holds.
    func send(_ batch: EventBatch, _ index: Int, from step: Step) throws -> Sent {
        let event = batch.events[index]
        let topic = try topicName(for: event, batch: batch)
        let tombstone = configuration.tombstones && event.op == .delete && event.key != nil
        if step == .begin {
            around = configuration.transactionMetadata ? transactions.observe(event, in: batch.buffer.bytes) : .init()
        }
        var decision = KafkaSinkPosition.Decision.send
        if let count = topic.heldPartitions {
            let partition = batch.buffer.bytes.withUnsafeBytes { raw in
                Self.partition(of: event.key.map { UnsafeRawBufferPointer(rebasing: raw[$0]) }, count: count)
            }
            decision = held.decide(topic: topic.name, partition: partition, position: event.position, secondFollows: tombstone)
        }
        if step <= .begin, let begin = around.begin {
            guard try produceTransaction(begin, of: event, batch: batch, second: false) else { return .queueFull(from: .begin) }
        }
        if step <= .value, decision == .send {
            guard try produce(batch, event, topic: topic.cName, value: true) else { return .queueFull(from: .value) }
        }
        if step <= .tombstone, tombstone && decision != .skip {
            guard try produce(batch, event, topic: topic.cName, value: false) else { return .queueFull(from: .tombstone) }
        }
        if step <= .end, let end = around.end {
            guard try produceTransaction(end, of: event, batch: batch, second: true) else { return .queueFull(from: .end) }
        }
        ledger.eventSent(event.position, boundary: !configuration.transactionMetadata || event.endsTransaction)
        return .done
    }

    /// The partition librdkafka's murmur2 partitioner will choose.
    private static func partition(of key: UnsafeRawBufferPointer?, count: Int32) -> Int32 {
        if let key, key.count > 0 {
            return rd_kafka_msg_partitioner_murmur2(nil, key.baseAddress, key.count, count, nil, nil)
        }
        return rd_kafka_msg_partitioner_murmur2(nil, nil, 0, count, nil, nil)
    }

    private var transactions = TransactionMetadata()
    private var transactionTopic: Topic?

    /// A BEGIN or END record (`second`), unless Kafka holds it; false when
    /// librdkafka's queue is full.
    private func produceTransaction(_ record: (key: [UInt8], value: [UInt8]), of event: EventRecord, batch: EventBatch,
                                    second: Bool) throws -> Bool {
        let topic = try transactionTopic(for: event, batch: batch)
        if let count = topic.heldPartitions {
            let partition = record.key.withUnsafeBytes { Self.partition(of: $0, count: count) }
            if held.decide(topic: topic.name, partition: partition, position: event.position, secondFollows: second) == .skip {
                return true
            }
        }
        let recordNumber = ledger.nextRecord()
        let err: rd_kafka_resp_err_t = record.key.withUnsafeBytes { key in
            record.value.withUnsafeBytes { value in
                topic.cName.withUnsafeBufferPointer { topicName in
                    pipeline.withUnsafeBufferPointer { pipelineName in
                        event.position.withHexDigits { id in
                            var fields = [rd_kafka_vu_t](repeating: rd_kafka_vu_t(), count: 6)
                            fields[0].vtype = RD_KAFKA_VTYPE_TOPIC
                            fields[0].u.cstr = topicName.baseAddress
                            fields[1].vtype = RD_KAFKA_VTYPE_KEY
                            fields[1].u.mem.ptr = UnsafeMutableRawPointer(mutating: key.baseAddress)
                            fields[1].u.mem.size = key.count
                            fields[2].vtype = RD_KAFKA_VTYPE_VALUE
                            fields[2].u.mem.ptr = UnsafeMutableRawPointer(mutating: value.baseAddress)
                            fields[2].u.mem.size = value.count
                            fields[3].vtype = RD_KAFKA_VTYPE_MSGFLAGS
                            fields[3].u.i = RD_KAFKA_MSG_F_COPY
                            fields[4].vtype = RD_KAFKA_VTYPE_OPAQUE
                            fields[4].u.ptr = UnsafeMutableRawPointer(bitPattern: UInt(recordNumber + 1))
                            fields[5] = Self.header(Self.idHeader, id.baseAddress!, id.count)
                            fields.append(Self.header(Self.pipelineHeader, pipelineName.baseAddress!, pipelineName.count))
                            guard let error = rd_kafka_produceva(producer.pointer, fields, fields.count) else {
                                return RD_KAFKA_RESP_ERR_NO_ERROR
                            }
                            defer { rd_kafka_error_destroy(error) }
                            return rd_kafka_error_code(error)
                        }
                    }
                }
            }
        }
        if err == RD_KAFKA_RESP_ERR_NO_ERROR { return true }
        ledger.unsend(recordNumber)
        if err == RD_KAFKA_RESP_ERR__QUEUE_FULL { return false }
        throw SiphonError(.sink, "Kafka refused the transaction record of event \(event.position) for topic \(topic.name) (\(KafkaErrors.name(err))); \(KafkaErrors.isPermanent(err) ? "the pipeline stops before it" : "the pipeline starts again from its checkpoint")",
                          transient: !KafkaErrors.isPermanent(err))
    }

    /// `sink.transaction_topic`, rendered with the first event's facts.
    private func transactionTopic(for event: EventRecord, batch: EventBatch) throws -> Topic {
        if let topic = transactionTopic { return topic }
        let template = configuration.transactionTopic
        var values = TopicTemplate.Values(prefix: prefix, db: "", schema: "", table: "", connector: "")
        if template.usesSourceFacts {
            let facts = SourceFacts.dbAndConnector(in: batch.buffer.bytes[event.line])
            guard let db = facts.db, let connector = facts.connector else {
                throw SiphonError(.sink, "sink.transaction_topic: the event at \(event.position) does not say its {db} or {connector}")
            }
            values.db = db
            values.connector = connector
        }
        let name = template.render(values)
        let topic = Topic(name: name, cName: Array(name.utf8CString),
                          heldPartitions: held.lastRecords[name] != nil ? held.partitionCounts[name] : nil)
        transactionTopic = topic
        context.topic(name, holds: "transaction metadata")
        return topic
    }

    /// One record: the event (or, without `value`, its tombstone) with its headers.
    private func produce(_ batch: EventBatch, _ event: EventRecord, topic: [CChar], value: Bool) throws -> Bool {
        let record = ledger.nextRecord()
        let schemaVersion = value ? Self.schemaVersion(in: batch.buffer.bytes[event.line]) : nil
        let err: rd_kafka_resp_err_t = batch.buffer.bytes.withUnsafeBytes { raw in
            topic.withUnsafeBufferPointer { topicName in
                pipeline.withUnsafeBufferPointer { pipelineName in
                    event.position.withHexDigits { id in
                        // At most 9 fields: on the stack, not an array allocated per record.
                        withUnsafeTemporaryAllocation(of: rd_kafka_vu_t.self, capacity: 10) { buffer in
                        var fields = FieldList(buffer)
                        var field = rd_kafka_vu_t()
                        field.vtype = RD_KAFKA_VTYPE_TOPIC
                        field.u.cstr = topicName.baseAddress
                        fields.append(field)
                        let base = UnsafeMutableRawPointer(mutating: raw.baseAddress!)
                        if let key = event.key {
                            field = rd_kafka_vu_t()
                            field.vtype = RD_KAFKA_VTYPE_KEY
                            field.u.mem.ptr = base + key.lowerBound
                            field.u.mem.size = key.count
                            fields.append(field)
                        }
                        if value {
                            field = rd_kafka_vu_t()
                            field.vtype = RD_KAFKA_VTYPE_VALUE
                            field.u.mem.ptr = base + event.line.lowerBound
                            field.u.mem.size = event.line.count
                            fields.append(field)
                        }
                        field = rd_kafka_vu_t()
                        field.vtype = RD_KAFKA_VTYPE_MSGFLAGS
                        field.u.i = RD_KAFKA_MSG_F_COPY
                        fields.append(field)
                        field = rd_kafka_vu_t()
                        field.vtype = RD_KAFKA_VTYPE_OPAQUE
                        field.u.ptr = UnsafeMutableRawPointer(bitPattern: UInt(record + 1))
                        fields.append(field)
                        fields.append(Self.header(Self.idHeader, id.baseAddress!, id.count))
                        fields.append(Self.header(Self.pipelineHeader, pipelineName.baseAddress!, pipelineName.count))
                        if let op = Self.opValue(event.op) {
                            fields.append(Self.header(Self.opHeader, op.utf8Start, op.utf8CodeUnitCount))
                        }
                        if let version = schemaVersion {
                            fields.append(Self.header(Self.versionHeader, raw.baseAddress!.assumingMemoryBound(to: UInt8.self) + version.lowerBound,
                                                      version.count))
                        }
                        guard let error = rd_kafka_produceva(producer.pointer, buffer.baseAddress, fields.count) else {
                            return RD_KAFKA_RESP_ERR_NO_ERROR
                        }
                        defer { rd_kafka_error_destroy(error) }
                        return rd_kafka_error_code(error)
                        }
                    }
                }
            }
        }
        if err == RD_KAFKA_RESP_ERR_NO_ERROR { return true }
        ledger.unsend(record)
        if err == RD_KAFKA_RESP_ERR__QUEUE_FULL { return false }
        let key = event.key.map { String(decoding: batch.buffer.bytes[$0], as: UTF8.self) } ?? "null"
        let table = event.table.map { "table \($0)" } ?? "event \(event.position)"
        throw SiphonError(.sink, "Kafka refused the record of \(table) with key \(key) for topic \(topic.text) (\(KafkaErrors.name(err))); \(KafkaErrors.isPermanent(err) ? "the pipeline stops before it: raise the topic's and the producer's message.max.bytes, or leave the table out" : "the pipeline starts again from its checkpoint")",
                          transient: !KafkaErrors.isPermanent(err))
    }

    private static let idHeader: StaticString = "siphon-id"
    private static let pipelineHeader: StaticString = "siphon-pipeline"
    private static let opHeader: StaticString = "siphon-op"
    private static let versionHeader: StaticString = "siphon-schema-version"
    /// The `siphon-op` header's value; none for schema changes.
    private static func opValue(_ op: SiphonCore.Operation) -> StaticString? {
        switch op {
        case .create: "c"
        case .update: "u"
        case .delete: "d"
        case .read: "r"
        case .truncate: "t"
        case .message: "m"
        case .schemaChange: nil
        }
    }

    /// The fields of one `rd_kafka_produceva` call, in stack memory.
    private struct FieldList {
        let buffer: UnsafeMutableBufferPointer<rd_kafka_vu_t>
        private(set) var count = 0
        init(_ buffer: UnsafeMutableBufferPointer<rd_kafka_vu_t>) { self.buffer = buffer }
        mutating func append(_ field: rd_kafka_vu_t) {
            precondition(count < buffer.count, "more Kafka record fields than room for")
            buffer[count] = field
            count += 1
        }
    }

    private static func header(_ name: StaticString, _ value: UnsafePointer<UInt8>, _ count: Int) -> rd_kafka_vu_t {
        var field = rd_kafka_vu_t()
        field.vtype = RD_KAFKA_VTYPE_HEADER
        field.u.header.name = UnsafeRawPointer(name.utf8Start).assumingMemoryBound(to: CChar.self)
        field.u.header.val = UnsafeRawPointer(value)
        field.u.header.size = count
        return field
    }

    /// Where the digits of the event's top-level `"schema_version":N` are
    /// in the batch's buffer (the last one in the line: row data comes before it).
    private static let schemaVersionMarker = Array("\"schema_version\":".utf8)

    static func schemaVersion(in line: ArraySlice<UInt8>) -> Range<Int>? {
        let marker = schemaVersionMarker
        var start = line.endIndex - marker.count
        while start >= line.startIndex {
            if line[start] == marker[0], line[start..<(start + marker.count)].elementsEqual(marker) {
                let digits = line[(start + marker.count)...].prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
                return digits.isEmpty ? nil : digits.indices
            }
            start -= 1
        }
        return nil
    }

    /// The event's topic, from its template, NUL-terminated.
    private func topicName(for event: EventRecord, batch: EventBatch) throws -> Topic {
        let key = TopicKey(op: event.op == .schemaChange || event.op == .message ? event.op : .create, table: event.table)
        if let name = topics[key] { return name }
        let template: TopicTemplate
        switch event.op {
        case .schemaChange: template = configuration.schemaTopic
        case .message: template = configuration.messageTopic
        default: template = configuration.topic
        }
        var values = TopicTemplate.Values(prefix: prefix, db: "", schema: event.table?.schema ?? "",
                                          table: event.table?.name ?? "", connector: "")
        if template.usesSourceFacts {
            let facts = SourceFacts.dbAndConnector(in: batch.buffer.bytes[event.line])
            guard let db = facts.db, let connector = facts.connector else {
                throw SiphonError(.sink, "sink.topic: the event of \(event.table?.description ?? "position \(event.position)") does not say its {db} or {connector}")
            }
            values.db = db
            values.connector = connector
        }
        if template.parts.contains(.table) || template.parts.contains(.schema), event.table == nil {
            throw SiphonError(.sink, "sink.topic: event \(event.position) belongs to no table, but the topic template names {schema} or {table}")
        }
        let name = template.render(values)
        let topic = Topic(name: name, cName: Array(name.utf8CString),
                          heldPartitions: held.lastRecords[name] != nil ? held.partitionCounts[name] : nil)
        topics[key] = topic
        switch event.op {
        case .schemaChange: context.topic(name, holds: "schema changes")
        case .message: context.topic(name, holds: "logical messages")
        default: context.topic(name, holds: event.table.map { "table \($0)" } ?? "events")
        }
        return topic
    }

    /// Destroys the producer; on a thread that may block.
    func release() { producer.destroy() }
}
