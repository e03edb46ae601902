import CRdKafka
import Foundation
import KafkaSink
import KafkaTesting
import Logging
import SiphonCore
import SiphonTestSupport
import SiphonTesting
import XCTest

/// Every kind of event through the sink and back out of Kafka with a
/// librdkafka consumer: topics, keys, values, headers, tombstones, order.
final class KafkaSinkRoundTripTests: XCTestCase {
    let orders = TableName(schema: "public", name: "orders")
    let logs = TableName(schema: "public", name: "logs")

    /// r, c, u, d (+ tombstone), t on a keyed table; a keyless insert; a
    /// schema change; a logical message. Positions (1, 0...).
    func everyKind(pipeline: String) -> EventBatch {
        var batch = EventBatch()
        var low: UInt64 = 0
        func next() -> Position {
            defer { low += 1 }
            return Position(high: 1, low: low)
        }
        let envelope = EventEnvelope(options: EventOptions(), connector: "postgresql", pipeline: pipeline)
        let source: JSONWriter = { json in
            json.appendRaw("{\"name\":")
            json.appendString(pipeline)
            json.appendRaw(",\"db\":\"app\",\"connector\":\"postgresql\"}")
        }
        func row(_ op: SiphonCore.Operation, _ table: TableName, key: Int?, version: Int = 1) {
            batch.appendRowEvent(position: next(), op: op, table: table, envelope: envelope, source: source, transaction: nil,
                                 timestampMicros: 0, schemaVersion: version,
                                 facts: { CloudEventFacts(sourceMillis: 0, snapshot: .none, database: "app") }) { image, json in
                switch image {
                case .before where op == .update || op == .delete, .after where op != .delete && op != .truncate:
                    json.appendRaw("{\"id\":\(key ?? 0),\"note\":\"x\"}".utf8)
                case .key where key != nil:
                    json.appendRaw("{\"id\":\(key!)}".utf8)
                default:
                    return false
                }
                return true
            }
        }
        row(.read, orders, key: 1)
        row(.create, orders, key: 2)
        row(.update, orders, key: 1)
        row(.delete, orders, key: 2)
        row(.create, logs, key: nil)
        batch.appendSchemaEvent(position: next(), table: orders, envelope: envelope, source: source, timestampMicros: 0,
                                database: "app", ddl: nil, version: 2, previousVersion: 1,
                                tableChange: { $0.appendRaw("{\"id\":\"public.orders\"}") }, changes: { $0.appendRaw("{}") },
                                facts: { CloudEventFacts(sourceMillis: 0, snapshot: .none, database: "app") })
        row(.update, orders, key: 1, version: 2)
        batch.appendMessageEvent(position: next(), envelope: envelope, source: source, transaction: nil, timestampMicros: 0,
                                 prefix: "audit", content: Array("hello".utf8),
                                 facts: { CloudEventFacts(sourceMillis: 0, snapshot: .none, database: "app") })
        row(.truncate, orders, key: nil, version: 2)
        batch.markTransactionEnd()
        return batch
    }

    func testEveryKindOfEventRoundTrips() async throws {
        let kafka = try MockKafka()
        try kafka.createTopic("shop.public.orders", partitions: 4)
        let batch = everyKind(pipeline: "shop")
        let sink = kafka.sink(pipeline: "shop")
        let opened = try await sink.open()
        XCTAssertEqual(opened, .untracked)
        try await sink.write(batch)
        let flushed = try await sink.flush()
        XCTAssertEqual(flushed, batch.lastPosition)
        try await sink.close()

        let records = try kafka.records { $0.hasPrefix("shop") }
        let lines = (0..<batch.count).map { String(decoding: batch.line($0), as: UTF8.self) }
        // Topics: rows per table (the mock creates the ones not made above), schema changes, messages.
        XCTAssertEqual(Set(records.map(\.topic)), ["shop.public.orders", "shop.public.logs", "shop", "shop.message"])

        let orderRecords = records.filter { $0.topic == "shop.public.orders" }
        func inOrder(key: String?) -> [MockKafka.Record] {
            orderRecords.filter { $0.key == key }.sorted { $0.offset < $1.offset }
        }
        let one = inOrder(key: "{\"id\":1}")
        XCTAssertEqual(one.map(\.value), [lines[0], lines[2], lines[6]], "key 1: r, u, u in order")
        XCTAssertEqual(one.map { $0.headers["siphon-op"] }, ["r", "u", "u"])
        XCTAssertEqual(one.map { $0.headers["siphon-schema-version"] }, ["1", "1", "2"])
        XCTAssertEqual(Set(one.map(\.partition)).count, 1, "one key, one partition")

        let two = inOrder(key: "{\"id\":2}")
        XCTAssertEqual(two.map(\.value), [lines[1], lines[3], nil], "key 2: c, d, then a tombstone")
        XCTAssertEqual(two.map { $0.headers["siphon-op"] }, ["c", "d", "d"])
        XCTAssertEqual(two.map { $0.headers["siphon-id"] }, [batch.events[1].position, batch.events[3].position, batch.events[3].position].map(\.description))
        XCTAssertEqual(two[2].offset, two[1].offset + 1, "the tombstone follows its delete in the partition")

        let truncate = inOrder(key: nil)
        XCTAssertEqual(truncate.map(\.value), [lines[8]])
        XCTAssertEqual(truncate.first?.headers["siphon-op"], "t")

        let keyless = records.filter { $0.topic == "shop.public.logs" }
        XCTAssertEqual(keyless.map(\.value), [lines[4]])
        XCTAssertEqual(keyless.first?.key, nil)

        let schema = records.filter { $0.topic == "shop" }
        XCTAssertEqual(schema.map(\.value), [lines[5]])
        XCTAssertEqual(schema.first?.headers["siphon-schema-version"], "2")
        XCTAssertNil(schema.first?.headers["siphon-op"], "schema changes have no op")

        let messages = records.filter { $0.topic == "shop.message" }
        XCTAssertEqual(messages.map(\.value), [lines[7]])
        XCTAssertEqual(messages.first?.key, "{\"prefix\":\"audit\"}")
        XCTAssertEqual(messages.first?.headers["siphon-op"], "m")

        for record in records {
            XCTAssertEqual(record.headers["siphon-pipeline"], "shop")
            XCTAssertNotNil(record.headers["siphon-id"].flatMap { Position($0) })
        }
        XCTAssertEqual(records.count, batch.count + 1, "every event once, plus one tombstone")
    }

    /// Each record is in the partition the sink computes when it decides
    /// what Kafka already holds: murmur2 of the key (Java's), and one fixed
    /// partition for every keyless record.
    func testRecordsLandWhereTheSinkComputesThem() async throws {
        let kafka = try MockKafka()
        try kafka.createTopic("shop.public.orders", partitions: 4)
        var batch = EventBatch()
        for key in 0..<20 { TestRow.append(to: &batch, position: Position(high: 1, low: UInt64(key)), pipeline: "shop", key: key) }
        for index in 0..<8 { TestRow.append(to: &batch, position: Position(high: 2, low: UInt64(index)), pipeline: "shop", key: nil) }
        let sink = kafka.sink(pipeline: "shop")
        _ = try await sink.open()
        try await sink.write(batch)
        _ = try await sink.flush()
        try await sink.close()
        let records = try kafka.records { $0 == "shop.public.orders" }
        XCTAssertEqual(records.count, 28)
        for record in records {
            var key = record.key.map { Array($0.utf8) }
            let expected = key.map { bytes in bytes.withUnsafeBytes { rd_kafka_msg_partitioner_murmur2(nil, $0.baseAddress, $0.count, 4, nil, nil) } }
                ?? rd_kafka_msg_partitioner_murmur2(nil, nil, 0, 4, nil, nil)
            key = nil
            XCTAssertEqual(record.partition, expected, "key \(record.key ?? "null")")
        }
        XCTAssertGreaterThan(Set(records.map(\.partition)).count, 1, "keys spread over partitions")
    }

    /// A restarted sink sent the same events again (the checkpoint was
    /// behind) writes only what Kafka does not hold.
    func testARestartedSinkWritesNothingTwice() async throws {
        let kafka = try MockKafka()
        try kafka.createTopic("shop.public.orders", partitions: 4)
        let batch = everyKind(pipeline: "shop")
        let first = kafka.sink(pipeline: "shop")
        _ = try await first.open()
        try await first.write(batch.suffix(after: Position(high: 0, low: 0)))
        _ = try await first.flush()
        try await first.close()
        let before = try kafka.records { $0.hasPrefix("shop") }

        var longer = batch
        var extra = EventBatch()
        TestRow.append(to: &extra, position: Position(high: 2, low: 0), pipeline: "shop")
        longer.append(extra)
        let second = kafka.sink(pipeline: "shop")
        _ = try await second.open()
        try await second.write(longer)
        let flushed = try await second.flush()
        XCTAssertEqual(flushed, Position(high: 2, low: 0))
        try await second.close()
        let after = try kafka.records { $0.hasPrefix("shop") }
        XCTAssertEqual(after.count, before.count + 1, "only the new event was written")
        XCTAssertEqual(Set(after.compactMap { $0.headers["siphon-id"] }), Set(before.compactMap { $0.headers["siphon-id"] } + ["00000000000000020000000000000000"]))
    }

    /// The delete reached Kafka but its tombstone did not (a crash between
    /// them): sent again, only the tombstone is written.
    func testADeleteWithoutItsTombstoneGetsOnlyTheTombstone() async throws {
        let kafka = try MockKafka()
        try kafka.createTopic("shop.public.orders", partitions: 1)
        let batch = everyKind(pipeline: "shop")
        let delete = batch.events[3]
        XCTAssertEqual(delete.op, .delete)
        try kafka.produce(topic: "shop.public.orders", key: "{\"id\":2}", value: String(decoding: batch.line(3), as: UTF8.self),
                          headers: ["siphon-id": delete.position.description, "siphon-pipeline": "shop"])
        let sink = kafka.sink(pipeline: "shop")
        _ = try await sink.open()
        // Events 0...3 (the delete is the last of them the topic holds).
        try await sink.write(firstEvents(batch, 4))
        _ = try await sink.flush()
        try await sink.close()
        let records = try kafka.records { $0 == "shop.public.orders" }
        XCTAssertEqual(records.map(\.value), [String(decoding: batch.line(3), as: UTF8.self), nil])
        XCTAssertEqual(records.last?.key, "{\"id\":2}")
    }

    /// A record over message.max.bytes stops the pipeline: a permanent
    /// error naming the table and the key, and nothing reported durable.
    func testARecordTooLargeIsAPermanentErrorNamingTableAndKey() async throws {
        let kafka = try MockKafka()
        let sink = kafka.sink(pipeline: "shop") { $0.properties.append(("message.max.bytes", "1000")) }
        _ = try await sink.open()
        var batch = EventBatch()
        TestRow.append(to: &batch, position: Position(high: 1, low: 0), pipeline: "shop", note: String(repeating: "x", count: 2000))
        do {
            try await sink.write(batch)
            _ = try await sink.flush()
            XCTFail("a record over message.max.bytes was taken")
        } catch let error as SiphonError {
            XCTAssertFalse(error.isTransient, error.message)
            XCTAssertTrue(error.message.contains("public.orders"), error.message)
            XCTAssertTrue(error.message.contains("{\"id\":7}"), error.message)
            XCTAssertTrue(error.message.contains("MSG_SIZE_TOO_LARGE"), error.message)
        }
        try await sink.close()
    }

    /// No broker listening: `open` fails within its lookup timeout with a
    /// transient error (the pipeline retries with backoff) that says what to check.
    func testUnreachableBrokersAreATransientErrorThatSaysWhatToCheck() async throws {
        var configuration = KafkaSinkConfiguration(brokers: ["127.0.0.1:1"])
        configuration.properties = [("sasl.password", "hunter2-very-secret")]
        let sink = KafkaSink(configuration: configuration, pipeline: "shop", logger: Logger(label: "kafka-test"),
                             lookupTimeout: .milliseconds(500))
        let started = ContinuousClock.now
        do {
            _ = try await sink.open()
            XCTFail("opened without a broker")
        } catch let error as SiphonError {
            XCTAssertTrue(error.isTransient, error.message)
            XCTAssertTrue(error.message.contains("check sink.brokers"), error.message)
            XCTAssertFalse(error.message.contains("hunter2"), error.message)
        }
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(5))
        try await sink.close()
    }

    private func firstEvents(_ batch: EventBatch, _ count: Int) -> EventBatch {
        var result = batch
        while result.count > count { _ = result.removeLastEvent() }
        return result
    }
}

/// A `c` row of public.orders with key `{"id":key}` (7 unless given; nil: no key), ending its transaction.
enum TestRow {
    static let table = TableName(schema: "public", name: "orders")

    static func append(to batch: inout EventBatch, position: Position, pipeline: String, key: Int? = 7, note: String = "x") {
        TestEvents.append(to: &batch, position: position, key: key, pipeline: pipeline, endsTransaction: true,
                          table: table, note: note)
    }
}
