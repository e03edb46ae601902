import CRdKafka
import Foundation
import KafkaSink
import KafkaTesting
import SiphonCore
import SiphonTestSupport
import Synchronization
import XCTest

/// Faults through the mock cluster: while records are unacknowledged the
/// sink reports nothing durable past them, and nothing is lost or doubled.
final class KafkaSinkFaultTests: XCTestCase {
    private func batch(_ count: Int, high: UInt64 = 1) -> EventBatch {
        var batch = EventBatch()
        for index in 0..<count {
            TestRow.append(to: &batch, position: Position(high: high, low: UInt64(index)), pipeline: "shop", key: index % 10)
        }
        return batch
    }

    /// The broker goes down with records in flight and comes back before
    /// they time out: `flush` waits (it does not return a position past
    /// them), then returns the last one, each record in Kafka once.
    func testFlushWaitsThroughABrokerOutage() async throws {
        let kafka = try MockKafka()
        try kafka.createTopic("shop.public.orders", partitions: 4)
        let sink = kafka.sink(pipeline: "shop", messageTimeoutMs: 20_000)
        _ = try await sink.open()
        try await sink.write(batch(10))
        let warm = try await sink.flush()
        XCTAssertEqual(warm, Position(high: 1, low: 9))

        rd_kafka_mock_broker_set_down(kafka.cluster, 1)
        let next = batch(50, high: 2)
        try await sink.write(next)
        let returned = Mutex(false)
        let flushing = Task {
            defer { returned.withLock { $0 = true } }
            return try await sink.flush()
        }
        try await Task.sleep(for: .milliseconds(700))
        XCTAssertFalse(returned.withLock { $0 }, "flush returned while the broker was down")
        rd_kafka_mock_broker_set_up(kafka.cluster, 1)
        let flushed = try await flushing.value
        XCTAssertEqual(flushed, next.lastPosition)
        try await sink.close()

        let ids = try kafka.records { $0 == "shop.public.orders" }.compactMap { $0.headers["siphon-id"] }
        XCTAssertEqual(ids.count, 60)
        XCTAssertEqual(Set(ids).count, 60, "no record twice")
    }

    /// Produce requests fail with a retriable error for a while: librdkafka
    /// retries, `flush` returns once they succeed, nothing doubled (the
    /// producer is idempotent).
    func testRetriedProduceRequestsDoubleNothing() async throws {
        let kafka = try MockKafka()
        try kafka.createTopic("shop.public.orders", partitions: 2)
        let sink = kafka.sink(pipeline: "shop", messageTimeoutMs: 20_000)
        _ = try await sink.open()
        let errors = [rd_kafka_resp_err_t](repeating: RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, count: 5)
        rd_kafka_mock_push_request_errors_array(kafka.cluster, 0, errors.count, errors)
        let sent = batch(100)
        try await sink.write(sent)
        let flushed = try await sink.flush()
        XCTAssertEqual(flushed, sent.lastPosition)
        try await sink.close()
        let ids = try kafka.records { $0 == "shop.public.orders" }.compactMap { $0.headers["siphon-id"] }
        XCTAssertEqual(ids.count, 100)
        XCTAssertEqual(Set(ids).count, 100)
    }

    /// A record that times out fails `flush` transiently, and the position
    /// it returns never passes it: the first flush after the failure throws.
    func testATimedOutRecordFailsTheFlushTransiently() async throws {
        let kafka = try MockKafka()
        try kafka.createTopic("shop.public.orders", partitions: 1)
        let sink = kafka.sink(pipeline: "shop", messageTimeoutMs: 500)
        _ = try await sink.open()
        try await sink.write(batch(5))
        _ = try await sink.flush()
        rd_kafka_mock_broker_set_down(kafka.cluster, 1)
        try await sink.write(batch(5, high: 2))
        do {
            let position = try await sink.flush()
            XCTFail("flush returned \(position?.description ?? "nil") with records undelivered")
        } catch let error as SiphonError {
            XCTAssertTrue(error.isTransient, error.message)
            XCTAssertTrue(error.message.contains("timed out"), error.message)
        }
        try await sink.close()
    }

    /// A record times out while the broker is down; one sent after it, to
    /// the same partition, arrives once the broker is back. The partition's
    /// last record is then past an event Kafka does not have: after the
    /// failure, the same sink (the pipeline restarts it in-process) sends
    /// that event again instead of skipping it.
    func testARecordThatTimedOutBeforeALaterOneArrivedIsSentAgain() async throws {
        let kafka = try MockKafka()
        try kafka.createTopic("shop.public.orders", partitions: 1)
        let sink = kafka.sink(pipeline: "shop", messageTimeoutMs: 2000) { configuration in
            configuration.properties += [("reconnect.backoff.ms", "20"), ("reconnect.backoff.max.ms", "100")]
        }
        _ = try await sink.open()
        try await sink.write(batch(1))
        _ = try await sink.flush()
        rd_kafka_mock_broker_set_down(kafka.cluster, 1)
        let lost = batch(1, high: 2), later = batch(1, high: 3)
        try await sink.write(lost)
        try await Task.sleep(for: .milliseconds(1500))
        try await sink.write(later)
        do {
            let position = try await sink.flush()
            return XCTFail("flush returned \(position?.description ?? "nil") with a record timed out")
        } catch let error as SiphonError {
            XCTAssertTrue(error.isTransient, error.message)
        }
        rd_kafka_mock_broker_set_up(kafka.cluster, 1)
        func ids() throws -> [String] {
            try kafka.records { $0 == "shop.public.orders" }.compactMap { $0.headers["siphon-id"] }
        }
        for _ in 0..<40 where try !ids().contains(later.lastPosition!.description) {
            try await Task.sleep(for: .milliseconds(100))
        }
        XCTAssertEqual(try ids(), [Position(high: 1, low: 0), later.lastPosition!].map(\.description),
                       "the setup: the later record arrived, the earlier one did not")

        // The pipeline restarts from its checkpoint (the first event) with the same sink.
        _ = try await sink.open()
        var again = lost
        again.append(later)
        try await sink.write(again)
        let flushed = try await sink.flush()
        XCTAssertEqual(flushed, later.lastPosition)
        try await sink.close()
        XCTAssertTrue(try ids().contains(lost.lastPosition!.description), "the timed-out event is in Kafka")
    }

    /// The broker answers OUT_OF_ORDER_SEQUENCE_NUMBER (librdkafka 2.0.2 can
    /// get there after a disconnect): the flush fails transiently, and a
    /// new producer on the next open sends what is missing, nothing twice.
    func testAnOutOfOrderSequenceIsRecoveredByANewProducer() async throws {
        let kafka = try MockKafka()
        try kafka.createTopic("shop.public.orders", partitions: 1)
        let first = kafka.sink(pipeline: "shop", messageTimeoutMs: 5000)
        _ = try await first.open()
        try await first.write(batch(5))
        _ = try await first.flush()
        let errors = [rd_kafka_resp_err_t](repeating: RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, count: 1)
        rd_kafka_mock_push_request_errors_array(kafka.cluster, 0, errors.count, errors)
        let all = batch(20)
        try await first.write(batch(20).suffix(after: Position(high: 1, low: 4)))
        var failed: SiphonError?
        do { _ = try await first.flush() } catch let error as SiphonError { failed = error }
        try await first.close()
        let error = try XCTUnwrap(failed, "the flush after OUT_OF_ORDER_SEQUENCE_NUMBER succeeded")
        XCTAssertTrue(error.isTransient, error.message)

        // The pipeline sends again from its checkpoint (here: everything).
        let second = kafka.sink(pipeline: "shop")
        _ = try await second.open()
        try await second.write(all)
        let flushed = try await second.flush()
        XCTAssertEqual(flushed, all.lastPosition)
        try await second.close()
        let ids = try kafka.records { $0 == "shop.public.orders" }.compactMap { $0.headers["siphon-id"] }
        XCTAssertEqual(ids, (0..<20).map { Position(high: 1, low: UInt64($0)).description }, "each once, in order")
    }

    /// The broker refuses a record as too large (the topic's
    /// max.message.bytes is below the producer's): a permanent error naming
    /// the table and the key, and nothing reported durable past it.
    func testABrokerRefusingARecordAsTooLargeStopsNamingTableAndKey() async throws {
        let kafka = try MockKafka()
        try kafka.createTopic("shop.public.orders", partitions: 1)
        let sink = kafka.sink(pipeline: "shop")
        _ = try await sink.open()
        try await sink.write(batch(3))
        let before = try await sink.flush()
        let errors = [rd_kafka_resp_err_t](repeating: RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, count: 1)
        rd_kafka_mock_push_request_errors_array(kafka.cluster, 0, errors.count, errors)
        var next = EventBatch()
        TestRow.append(to: &next, position: Position(high: 2, low: 0), pipeline: "shop", key: 42)
        try await sink.write(next)
        do {
            let position = try await sink.flush()
            XCTFail("flush returned \(position?.description ?? "nil") past a refused record")
        } catch let error as SiphonError {
            XCTAssertFalse(error.isTransient, error.message)
            XCTAssertTrue(error.message.contains("table public.orders"), error.message)
            XCTAssertTrue(error.message.contains("{\"id\":42}"), error.message)
        }
        XCTAssertEqual(before, Position(high: 1, low: 2))
        try await sink.close()
    }

    /// Before which round of writes the leader of every partition moves, and to which broker.
    static let leaderMoves: [Int: Int32] = [6: 2, 11: 1, 16: 2]

    /// The leader of every partition moves between two brokers of a
    /// three-broker cluster, back and forth, while records are in flight:
    /// librdkafka finds the new leader and sends there; `flush` returns the
    /// last event, and each record is in Kafka once, per key in order.
    ///
    /// Known to fail now and then (about 1 run in 10 here): librdkafka
    /// 2.0.2 reports records delivered that the mock partition's log does
    /// not hold. A plain idempotent librdkafka producer, without the sink,
    /// does the same (Scripts/librdkafka-leader-change-probe.c). This
    /// mock checks idempotent sequence numbers only for transactional
    /// producers, so it is not known whether a real broker would see the
    /// same; until that is settled, this test is what shows it, run on
    /// request (`SIPHON_KAFKA_LEADER_TEST=1`): a test that fails one run in
    /// ten at random would fail the suite for a defect it cannot point at.
    func testLeaderChangesDuringWritesLoseAndDoubleNothing() async throws {
        try XCTSkipUnless(ProcessInfo.processInfo.environment["SIPHON_KAFKA_LEADER_TEST"] == "1",
                          "librdkafka 2.0.2's mock loses records on leader changes now and then, without Siphon; see the comment")
        let kafka = try MockKafka(brokers: 3)
        let topic = "shop.public.orders"
        try kafka.createTopic(topic, partitions: 3, replicationFactor: 3)
        for partition in Int32(0)..<3 { rd_kafka_mock_partition_set_leader(kafka.cluster, topic, partition, 1) }
        let sink = kafka.sink(pipeline: "shop", messageTimeoutMs: 30_000) { configuration in
            configuration.properties += [("retry.backoff.ms", "20")]
        }
        _ = try await sink.open()
        try await sink.write(batch(50))
        let warm = try await sink.flush()
        XCTAssertEqual(warm, Position(high: 1, low: 49))

        // Records of the batches before each move are still in flight when
        // it happens (nothing is flushed until the end).
        var sent: [EventBatch] = []
        for round in 0..<20 {
            if let leader = Self.leaderMoves[round] {
                for partition in Int32(0)..<3 { rd_kafka_mock_partition_set_leader(kafka.cluster, topic, partition, leader) }
            }
            let next = batch(100, high: UInt64(2 + round))
            try await sink.write(next)
            sent.append(next)
            try await Task.sleep(for: .milliseconds(15))
        }
        let flushed = try await sink.flush()
        XCTAssertEqual(flushed, sent.last?.lastPosition, "flush returns the last event")
        // The producer follows the leader: with broker 1 down, what is
        // written now can only arrive through broker 2.
        rd_kafka_mock_broker_set_down(kafka.cluster, 1)
        let last = batch(100, high: 30)
        try await sink.write(last)
        let lastFlushed = try await sink.flush()
        XCTAssertEqual(lastFlushed, last.lastPosition)
        try await sink.close()
        rd_kafka_mock_broker_set_up(kafka.cluster, 1)

        let records = try kafka.records { $0 == topic }
        let ids = records.compactMap { $0.headers["siphon-id"] }
        let expected = (0..<50).map { Position(high: 1, low: UInt64($0)).description }
            + (sent + [last]).flatMap { $0.events.map(\.position.description) }
        XCTAssertEqual(ids.count, expected.count, "nothing lost, nothing doubled")
        XCTAssertEqual(Set(expected).subtracting(ids).count, 0,
                       "flush returned \(lastFlushed?.description ?? "nil") but Kafka lacks \(Set(expected).subtracting(ids).count) records, e.g. \(Set(expected).subtracting(ids).sorted().prefix(3))")
        XCTAssertEqual(Set(ids).count, ids.count, "a record is in Kafka twice")
        var lastByKey: [String: Position] = [:]
        for record in records {
            let key = try XCTUnwrap(record.key)
            let position = try XCTUnwrap(record.headers["siphon-id"].flatMap { Position($0) })
            if let last = lastByKey[key] { XCTAssertGreaterThan(position, last, "key \(key) out of order") }
            lastByKey[key] = position
        }
    }
}
