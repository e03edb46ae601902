import Foundation
import NatsSink
import NatsTesting
import SiphonCore
import SiphonTestSupport
import SiphonTesting
import XCTest

/// Debezium's BEGIN and END messages on the transaction subject, exactly
/// once: whatever message of a transaction the stream ends with when a
/// session stops, the next one publishes what is missing and nothing twice,
/// and END counts every event of its transaction.
final class NatsTransactionMetadataTests: XCTestCase {
    private let pipeline = "shop"

    /// Events at (7, first...) of transaction `id`, on `orders` and `items` in turn.
    private func transaction(_ id: String, high: UInt64, count: Int, from first: Int = 1) -> EventBatch {
        var batch = EventBatch()
        var perTable: [String: Int] = [:]
        for order in first...count {
            let table = order % 2 == 1 ? "orders" : "items"
            perTable[table, default: 0] += 1
            TestEvents.append(to: &batch, position: Position(high: high, low: UInt64(order - 1)), key: order, pipeline: pipeline,
                              endsTransaction: order == count, table: TableName(schema: "public", name: table),
                              transaction: EventTransaction(id: id, totalOrder: order, dataCollectionOrder: perTable[table]!))
        }
        return batch
    }

    private func sink(_ server: NatsServer) -> NatsSink {
        server.sink(pipeline: pipeline, stream: .init(name: "SHOP", storage: .memory)) { $0.transactionMetadata = true }
    }

    private func json(_ text: String) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    /// What the stream holds, one line per message: `BEGIN id`, the event id, `END id count`.
    private func summary(_ server: NatsServer) throws -> [String] {
        try server.client().messages(stream: "SHOP").map { message in
            switch message.headers["siphon-transaction"] {
            case "BEGIN": return "BEGIN \(try json(message.data)["id"] as? String ?? "?")"
            case "END":
                let end = try json(message.data)
                return "END \(end["id"] as? String ?? "?") \(end["event_count"] as? Int ?? -1)"
            default: return message.headers["siphon-id"] ?? "?"
            }
        }
    }

    func testBeginAndEndAroundEachTransactionWithTheirHeaders() async throws {
        let server = try NatsServer.start()
        var batch = transaction("10:100", high: 7, count: 3)
        batch.append(transaction("11:200", high: 8, count: 1))
        let sink = sink(server)
        _ = try await sink.open()
        try await sink.write(batch)
        let flushed = try await sink.flush()
        XCTAssertEqual(flushed, Position(high: 8, low: 0))
        try await sink.close()

        let messages = try server.client().messages(stream: "SHOP")
        XCTAssertEqual(try summary(server), [
            "BEGIN 10:100", Position(high: 7, low: 0).description, Position(high: 7, low: 1).description,
            Position(high: 7, low: 2).description, "END 10:100 3",
            "BEGIN 11:200", Position(high: 8, low: 0).description, "END 11:200 1",
        ])
        let begin = messages[0], end = messages[4]
        XCTAssertEqual(begin.subject, "shop.transaction")
        XCTAssertEqual(begin.headers["siphon-id"], Position(high: 7, low: 0).description, "BEGIN: its first event's position")
        XCTAssertEqual(begin.headers["Nats-Msg-Id"], Position(high: 7, low: 0).description + "-begin")
        XCTAssertEqual(begin.headers["siphon-pipeline"], pipeline)
        XCTAssertNil(begin.headers["siphon-op"])
        XCTAssertEqual(end.headers["siphon-id"], Position(high: 7, low: 2).description, "END: its last event's position")
        XCTAssertEqual(end.headers["Nats-Msg-Id"], Position(high: 7, low: 2).description + "-end")
        let collections = try XCTUnwrap(try json(end.data)["data_collections"] as? [[String: Any]])
        XCTAssertEqual(collections.map { $0["data_collection"] as? String }, ["public.orders", "public.items"])
        XCTAssertEqual(collections.map { $0["event_count"] as? Int }, [2, 1])
    }

    /// A session that stops inside a transaction (BEGIN and two events in
    /// the stream, the third and END not): nothing of it was reported
    /// durable, the next `open` resumes at the transaction's first event,
    /// and the stream ends with one BEGIN, each event once, and an END
    /// that counts all three.
    func testAStopInsideATransactionResumesAtItsFirstEventAndCountsEveryEvent() async throws {
        let server = try NatsServer.start()
        let before = transaction("9:50", high: 6, count: 1)
        let whole = transaction("10:100", high: 7, count: 3)
        let sink = sink(server)
        _ = try await sink.open()
        try await sink.write(before)
        var partial = whole
        _ = partial.removeLastEvent()
        try await sink.write(partial)
        let flushed = try await sink.flush()
        XCTAssertEqual(flushed, Position(high: 6, low: 0), "durable stops at the last transaction end, never inside one")
        try await sink.close()
        XCTAssertEqual(try summary(server).suffix(3), ["BEGIN 10:100", Position(high: 7, low: 0).description,
                                                       Position(high: 7, low: 1).description])

        let again = self.sink(server)
        let opened = try await again.open()
        XCTAssertEqual(opened, .tracked(last: Position(high: 7, low: 0).predecessor),
                       "resumes at the transaction's first event, so END can count it")
        try await again.write(whole)
        let done = try await again.flush()
        XCTAssertEqual(done, Position(high: 7, low: 2))
        try await again.close()
        XCTAssertEqual(try summary(server), [
            "BEGIN 9:50", Position(high: 6, low: 0).description, "END 9:50 1",
            "BEGIN 10:100", Position(high: 7, low: 0).description, Position(high: 7, low: 1).description,
            Position(high: 7, low: 2).description, "END 10:100 3",
        ])
    }

    /// The stream ends with a BEGIN alone, or with an END: the next session
    /// publishes what follows, and never the BEGIN or the END again.
    func testAStreamEndingWithBeginOrEndGetsNothingTwice() async throws {
        let server = try NatsServer.start()
        let client = try server.client()
        let first = Position(high: 7, low: 0)
        try client.createStream("SHOP", subjects: ["shop.>"])
        try client.publish(subject: "shop.transaction",
                           data: #"{"status":"BEGIN","id":"10:100","ts_ms":1,"event_count":null,"data_collections":null}"#,
                           headers: ["siphon-id": first.description, "siphon-pipeline": pipeline,
                                     "siphon-transaction": "BEGIN", "Nats-Msg-Id": first.description + "-begin"])
        let whole = transaction("10:100", high: 7, count: 2)
        let sink = sink(server)
        let opened = try await sink.open()
        XCTAssertEqual(opened, .tracked(last: first.predecessor))
        try await sink.write(whole)
        _ = try await sink.flush()
        try await sink.close()
        let expected = ["BEGIN 10:100", first.description, Position(high: 7, low: 1).description, "END 10:100 2"]
        XCTAssertEqual(try summary(server), expected)

        let again = self.sink(server)
        let reopened = try await again.open()
        XCTAssertEqual(reopened, .tracked(last: Position(high: 7, low: 1)), "the END is the tail")
        try await again.write(whole)
        let flushed = try await again.flush()
        XCTAssertEqual(flushed, Position(high: 7, low: 1))
        try await again.close()
        XCTAssertEqual(try summary(server), expected, "everything was held: nothing published")
    }

    /// Without metadata, a stream whose tail is inside a transaction resumes right after it.
    func testWithoutMetadataTheTailIsTheResumePoint() async throws {
        let server = try NatsServer.start()
        var partial = transaction("10:100", high: 7, count: 3)
        _ = partial.removeLastEvent()
        let plain = server.sink(pipeline: pipeline, stream: .init(name: "SHOP", storage: .memory))
        _ = try await plain.open()
        try await plain.write(partial)
        let flushed = try await plain.flush()
        XCTAssertEqual(flushed, Position(high: 7, low: 1))
        try await plain.close()
        let again = server.sink(pipeline: pipeline, stream: .init(name: "SHOP", storage: .memory))
        let opened = try await again.open()
        XCTAssertEqual(opened, .tracked(last: Position(high: 7, low: 1)))
        try await again.close()
    }
}
