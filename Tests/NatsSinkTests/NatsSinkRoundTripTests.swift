import Foundation
import NatsSink
import NatsTesting
import SiphonCore
import SiphonTestSupport
import SiphonTesting
import XCTest

/// Every kind of event through the sink into a real nats-server's stream,
/// read back with a plain libnats client: subjects, payloads, headers,
/// order, the stream the sink creates or finds, and its tail on reopen.
final class NatsSinkRoundTripTests: XCTestCase {
    func testEveryKindOfEventRoundTripsWithItsHeaders() async throws {
        let server = try NatsServer.start()
        let batch = NatsTestEvents.everyKind(pipeline: "shop")
        let sink = server.sink(pipeline: "shop", stream: .init(name: "SHOP", storage: .memory))
        let opened = try await sink.open()
        XCTAssertEqual(opened, .tracked(last: nil), "a new stream holds nothing")
        try await sink.write(batch)
        let flushed = try await sink.flush()
        XCTAssertEqual(flushed, batch.lastPosition)
        try await sink.close()

        let client = try server.client()
        let stream = try XCTUnwrap(try client.configuration(stream: "SHOP"), "the sink created the stream")
        XCTAssertEqual(stream.subjects, ["shop.>"])
        XCTAssertEqual(stream.storage, "memory")
        let messages = try client.messages(stream: "SHOP")
        XCTAssertEqual(messages.count, batch.count, "one message per event")
        let lines = (0..<batch.count).map { String(decoding: batch.line($0), as: UTF8.self) }
        XCTAssertEqual(messages.map(\.data), lines, "every payload is the event's line, in order")
        XCTAssertEqual(messages.map(\.subject), [
            "shop.public.orders", "shop.public.orders", "shop.public.orders", "shop.public.orders", "shop.public.logs",
            "shop.schema", "shop.public.orders", "shop.message", "shop.public.orders",
        ])
        XCTAssertEqual(messages.map { $0.headers["siphon-op"] }, ["r", "c", "u", "d", "c", nil, "u", "m", "t"])
        XCTAssertEqual(messages.map { $0.headers["siphon-schema-version"] }, ["1", "1", "1", "1", "1", "2", "2", nil, "2"])
        for (message, event) in zip(messages, batch.events) {
            XCTAssertEqual(message.headers["siphon-id"], event.position.description)
            XCTAssertEqual(message.headers["Nats-Msg-Id"], event.position.description)
            XCTAssertEqual(message.headers["siphon-pipeline"], "shop")
        }
    }

    func testSubjectsFollowTheTemplates() async throws {
        let server = try NatsServer.start()
        let batch = NatsTestEvents.everyKind(pipeline: "shop")
        let sink = server.sink(pipeline: "shop", stream: .init(name: "CDC", subjects: ["cdc.>"])) {
            $0.prefix = "cdc"
            $0.subject = try! SubjectTemplate("{prefix}.{db}.{connector}.{schema}_{table}")
            $0.schemaSubject = try! SubjectTemplate("{prefix}.ddl.{table}")
            $0.messageSubject = try! SubjectTemplate("{prefix}.logical")
        }
        _ = try await sink.open()
        try await sink.write(batch)
        _ = try await sink.flush()
        try await sink.close()
        let subjects = try server.client().messages(stream: "CDC").map(\.subject)
        XCTAssertEqual(subjects, [
            "cdc.app.postgresql.public_orders", "cdc.app.postgresql.public_orders", "cdc.app.postgresql.public_orders",
            "cdc.app.postgresql.public_orders", "cdc.app.postgresql.public_logs", "cdc.ddl.orders",
            "cdc.app.postgresql.public_orders", "cdc.logical", "cdc.app.postgresql.public_orders",
        ])
    }

    /// A reopened sink says what the stream holds, and skips what it is given at or below it.
    func testAReopenedSinkTracksTheStreamsLastEvent() async throws {
        let server = try NatsServer.start()
        let first = NatsTestEvents.rows(pipeline: "shop", high: 1, count: 30)
        let sink = server.sink(pipeline: "shop", stream: .init(name: "SHOP", subjects: ["shop.>"])) {
            $0.subject = try! SubjectTemplate("{prefix}.{schema}.{table}")
        }
        _ = try await sink.open()
        try await sink.write(first)
        let got1 = try await sink.flush()
        XCTAssertEqual(got1, first.lastPosition)
        try await sink.close()

        let again = server.sink(pipeline: "shop", stream: .init(name: "SHOP"))
        let opened = try await again.open()
        XCTAssertEqual(opened, .tracked(last: first.lastPosition))
        var both = first
        both.append(NatsTestEvents.rows(pipeline: "shop", high: 2, count: 5))
        try await again.write(both)
        let got2 = try await again.flush()
        XCTAssertEqual(got2, Position(high: 2, low: 4))
        try await again.close()
        let ids = try server.client().messages(stream: "SHOP").compactMap { $0.headers["siphon-id"] }
        XCTAssertEqual(ids, both.events.map(\.position.description), "each event once, in order")
    }

    /// A stream created beforehand, taking other subjects too, is used as
    /// it is: not altered, the pipeline's tail found among the others'
    /// messages, per-subject expectations.
    func testAnExistingStreamIsUsedAsItIs() async throws {
        let server = try NatsServer.start()
        let client = try server.client()
        try client.createStream("SHARED", subjects: ["shop.>", "other.>"], duplicateWindow: .seconds(5))
        try client.publish(subject: "other.x", data: "{}")
        let batch = NatsTestEvents.everyKind(pipeline: "shop")
        let sink = server.sink(pipeline: "shop", stream: .init(name: "SHARED", subjects: ["x.>"], storage: .memory,
                                                             duplicateWindow: .seconds(1)))
        let got3 = try await sink.open()
        XCTAssertEqual(got3, .tracked(last: nil))
        try await sink.write(batch)
        let got4 = try await sink.flush()
        XCTAssertEqual(got4, batch.lastPosition)
        try await sink.close()
        try client.publish(subject: "other.y", data: "{}")

        let stream = try XCTUnwrap(try client.configuration(stream: "SHARED"))
        XCTAssertEqual(stream.subjects, ["shop.>", "other.>"], "never altered")
        XCTAssertEqual(stream.duplicateWindow, .seconds(5))
        XCTAssertEqual(stream.storage, "file")
        let again = server.sink(pipeline: "shop", stream: .init(name: "SHARED"))
        let got5 = try await again.open()
        XCTAssertEqual(got5, .tracked(last: batch.lastPosition), "the pipeline's last message, not the stream's")
        try await again.close()
        XCTAssertEqual(try client.messages(stream: "SHARED").count, batch.count + 2)
    }

    func testAStreamWhoseSubjectsDoNotCoverOursIsAPermanentErrorNamingBoth() async throws {
        let server = try NatsServer.start()
        try server.client().createStream("NARROW", subjects: ["shop.public.orders"])
        let sink = server.sink(pipeline: "shop", stream: .init(name: "NARROW"))
        do {
            _ = try await sink.open()
            XCTFail("opened on a stream that does not take the pipeline's subjects")
        } catch let error as SiphonError {
            XCTAssertFalse(error.isTransient)
            for part in ["NARROW", "shop.public.orders", "shop.*.*", "sink.subject"] {
                XCTAssertTrue(error.message.contains(part), "\(part) not in: \(error.message)")
            }
        }
        let stream = try XCTUnwrap(try server.client().configuration(stream: "NARROW"))
        XCTAssertEqual(stream.subjects, ["shop.public.orders"], "never altered")
    }

    /// Another pipeline's message last on our subjects: a permanent error naming it.
    func testAnotherWritersMessageOnOurSubjectsIsAPermanentError() async throws {
        let server = try NatsServer.start()
        let client = try server.client()
        try client.createStream("SHOP", subjects: ["shop.>"])
        try client.publish(subject: "shop.public.orders", data: "{}",
                           headers: ["siphon-id": "00000000000000010000000000000000", "siphon-pipeline": "someone-else"])
        let sink = server.sink(pipeline: "shop", stream: .init(name: "SHOP"))
        do {
            _ = try await sink.open()
            XCTFail("opened on a stream another pipeline writes")
        } catch let error as SiphonError {
            XCTAssertFalse(error.isTransient)
            XCTAssertTrue(error.message.contains("someone-else"), error.message)
            XCTAssertTrue(error.message.contains("SHOP"), error.message)
        }
    }

    /// `siphon offsets show`/`reset`: what the stream holds, read without
    /// creating the stream or changing anything.
    func testTheStoredPositionIsReadWithoutChangingAnything() async throws {
        let server = try NatsServer.start()
        let state = try TemporaryDirectory()
        let context = ConnectorContext(pipeline: "shop", state: try StateDirectory(path: state.path), logger: .init(label: "test"))
        let configuration = NatsSinkConfiguration(servers: [server.url], stream: .init(name: "SHOP"))
        let before = try await NatsSink.storedPosition(configuration, context: context)
        XCTAssertEqual(before, .tracked(last: nil))
        XCTAssertNil(try server.client().configuration(stream: "SHOP"), "the stream was not created")

        let batch = NatsTestEvents.everyKind(pipeline: "shop")
        let sink = server.sink(pipeline: "shop", stream: .init(name: "SHOP"))
        _ = try await sink.open()
        try await sink.write(batch)
        _ = try await sink.flush()
        try await sink.close()
        let after = try await NatsSink.storedPosition(configuration, context: context)
        XCTAssertEqual(after, .tracked(last: batch.lastPosition))
        XCTAssertEqual(try server.client().messages(stream: "SHOP").count, batch.count)
    }
}
