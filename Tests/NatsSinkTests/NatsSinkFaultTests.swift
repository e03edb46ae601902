import Foundation
import NatsSink
import NatsTesting
import SiphonCore
import SiphonTestSupport
import SiphonTesting
import XCTest

/// Bad input and failures: each is an error that says what to fix, and
/// whether a retry may help; secrets never in it.
final class NatsSinkFaultTests: XCTestCase {
    func testWrongCredentialsArePermanentAndNeverQuoted() async throws {
        let server = try NatsServer.start(user: "siphon", password: "right-password-1")
        let sink = server.sink(pipeline: "shop", stream: .init(name: "SHOP")) {
            $0.credentials = .userPassword(user: "siphon", password: "hunter2-very-secret")
        }
        let error = try await openError(sink)
        XCTAssertFalse(error.isTransient, error.message)
        XCTAssertTrue(error.message.contains("refused the credentials"), error.message)
        XCTAssertTrue(error.message.contains("sink.user and sink.password"), error.message)
        XCTAssertFalse(error.message.contains("hunter2"), error.message)

        let anonymous = server.sink(pipeline: "shop", stream: .init(name: "SHOP")) { $0.credentials = .none }
        let second = try await openError(anonymous)
        XCTAssertFalse(second.isTransient, second.message)
        XCTAssertTrue(second.message.contains("no credentials are set"), second.message)

        // The right ones work.
        let good = server.sink(pipeline: "shop", stream: .init(name: "SHOP"))
        let opened = try await good.open()
        XCTAssertEqual(opened, .tracked(last: nil))
        try await good.close()
    }

    func testAnUnreachableServerIsTransientAndNamesIt() async throws {
        let port = try NatsServer.start().port  // started, then released (and killed) at once: nothing listens
        let sink = NatsSink(configuration: NatsSinkConfiguration(servers: ["nats://siphon:hunter2-very-secret@127.0.0.1:\(port)"],
                                                                 stream: .init(name: "SHOP")),
                            pipeline: "shop", logger: .init(label: "test"))
        let started = ContinuousClock.now
        let error = try await openError(sink)
        XCTAssertTrue(error.isTransient, error.message)
        XCTAssertTrue(error.message.contains("cannot reach NATS at nats://127.0.0.1:\(port)"), error.message)
        XCTAssertFalse(error.message.contains("hunter2"), error.message)
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(10), "the pipeline's retry, not libnats', does the waiting")
    }

    func testAMessageOverMaxPayloadIsPermanentNamingTableAndKey() async throws {
        let server = try NatsServer.start(maxPayload: 4096)
        let sink = server.sink(pipeline: "shop", stream: .init(name: "SHOP"))
        _ = try await sink.open()
        let small = NatsTestEvents.rows(pipeline: "shop", high: 1, count: 3)
        try await sink.write(small)
        let flushed = try await sink.flush()
        XCTAssertEqual(flushed, small.lastPosition)
        let big = NatsTestEvents.everyKind(pipeline: "shop", high: 2, note: String(repeating: "n", count: 5000))
        do {
            try await sink.write(big)
            _ = try await sink.flush()
            XCTFail("a message over max_payload was taken")
        } catch let error as SiphonError {
            XCTAssertFalse(error.isTransient, error.message)
            for part in ["table public.orders", "key {\"id\":1}", "max_payload", "4096"] {
                XCTAssertTrue(error.message.contains(part), "\(part) not in: \(error.message)")
            }
        }
        try await sink.close()
        XCTAssertEqual(try server.client().messages(stream: "SHOP").count, 3, "nothing of the refused batch")
    }

    func testAMessageOverTheStreamsMaxMessageSizeIsPermanent() async throws {
        let server = try NatsServer.start()
        try server.client().createStream("SMALL", subjects: ["shop.>"], maxMessageSize: 2000)
        let sink = server.sink(pipeline: "shop", stream: .init(name: "SMALL"))
        _ = try await sink.open()
        do {
            try await sink.write(NatsTestEvents.everyKind(pipeline: "shop", note: String(repeating: "n", count: 3000)))
            _ = try await sink.flush()
            XCTFail("a message over max_msg_size was taken")
        } catch let error as SiphonError {
            XCTAssertFalse(error.isTransient, error.message)
            XCTAssertTrue(error.message.contains("SMALL"), error.message)
            XCTAssertTrue(error.message.contains("table public.orders"), error.message)
        }
        try await sink.close()
    }

    /// The server stops mid-stream: `flush` fails (transiently) within
    /// the acknowledgement timeout without reporting anything unacknowledged
    /// durable; after the restart, on the same store, a new session
    /// resumes after what the stream holds.
    func testAServerDownMidStreamIsTransientAndNothingIsLostOrRepeated() async throws {
        let server = try NatsServer.start()
        let sink = server.sink(pipeline: "shop", stream: .init(name: "SHOP")) { $0.ackTimeout = .seconds(1) }
        _ = try await sink.open()
        let first = NatsTestEvents.rows(pipeline: "shop", high: 1, count: 100)
        try await sink.write(first)
        let flushed = try await sink.flush()
        XCTAssertEqual(flushed, first.lastPosition)
        try server.stop()
        let second = NatsTestEvents.rows(pipeline: "shop", high: 2, count: 100)
        do {
            try await sink.write(second)
            let durable = try await sink.flush()
            XCTFail("flush returned \(durable?.description ?? "nil") with the server down")
        } catch let error as SiphonError {
            XCTAssertTrue(error.isTransient, error.message)
        }
        try await sink.close()
        try server.start()
        let opened = try await sink.open()
        XCTAssertEqual(opened, .tracked(last: first.lastPosition))
        try await sink.write(second)
        let resumed = try await sink.flush()
        XCTAssertEqual(resumed, second.lastPosition)
        try await sink.close()
        let ids = try server.client().messages(stream: "SHOP").compactMap { $0.headers["siphon-id"] }
        XCTAssertEqual(ids, (first.events + second.events).map(\.position.description))
    }
}

extension NatsSinkFaultTests {
    /// Acknowledgements that stop coming (the server frozen) while the
    /// messages are stored after all: the stream's tail is then past what
    /// the session made durable. Stream mode resumes after the tail (the
    /// chain of expected ids guarantees everything before it is in);
    /// per-subject mode resumes after what was acknowledged, and the
    /// duplicate window drops the repeats. Each event once either way.
    func testMissingAcknowledgementsInBothModes() async throws {
        for shared in [false, true] {
            let server = try NatsServer.start()
            let client = try server.client()
            try client.createStream("SHOP", subjects: shared ? ["shop.>", "other.>"] : ["shop.>"])
            let sink = server.sink(pipeline: "shop", stream: .init(name: "SHOP")) { $0.ackTimeout = .milliseconds(500) }
            _ = try await sink.open()
            let first = NatsTestEvents.rows(pipeline: "shop", high: 1, count: 50)
            try await sink.write(first)
            let durable = try await sink.flush()
            XCTAssertEqual(durable, first.lastPosition)
            server.pause()
            let second = NatsTestEvents.rows(pipeline: "shop", high: 2, count: 50)
            do {
                try await sink.write(second)
                _ = try await sink.flush()
                XCTFail("flushed with the server frozen")
            } catch let error as SiphonError {
                XCTAssertTrue(error.isTransient, error.message)
            }
            server.resume()
            try await sink.close()
            try eventually(timeout: .seconds(10), "the frozen server stores what it had received") {
                try client.messages(stream: "SHOP").count == 100
            }
            let reopened = try await sink.open()
            XCTAssertEqual(reopened, .tracked(last: shared ? first.lastPosition : second.lastPosition), "shared: \(shared)")
            var both = first
            both.append(second)
            try await sink.write(both)
            let resumed = try await sink.flush()
            XCTAssertEqual(resumed, second.lastPosition)
            try await sink.close()
            let ids = try client.messages(stream: "SHOP").compactMap { $0.headers["siphon-id"] }
            XCTAssertEqual(ids, both.events.map(\.position.description), "shared: \(shared)")
        }
    }
}

extension NatsSinkFaultTests {
    /// `max_pending` bounds what is in flight: with the server frozen, the
    /// sink publishes that many, then waits (and gives up after
    /// `ack_timeout`) instead of queueing the rest in memory.
    func testMaxPendingBoundsWhatIsInFlight() async throws {
        let server = try NatsServer.start()
        let sink = server.sink(pipeline: "shop", stream: .init(name: "SHOP")) {
            $0.maxPending = 10
            $0.ackTimeout = .milliseconds(500)
        }
        _ = try await sink.open()
        server.pause()
        do {
            try await sink.write(NatsTestEvents.rows(pipeline: "shop", high: 1, count: 100))
            _ = try await sink.flush()
            XCTFail("wrote and flushed with the server frozen")
        } catch let error as SiphonError {
            XCTAssertTrue(error.isTransient, error.message)
        }
        server.resume()
        try await sink.close()
        let client = try server.client()
        try eventually(timeout: .seconds(10), "the frozen server stores what it had received") {
            try client.messages(stream: "SHOP").count == 10
        }
        try await Task.sleep(for: .milliseconds(300))
        let stored = try client.messages(stream: "SHOP").count
        XCTAssertEqual(stored, 10, "no more than max_pending left the sink")
    }
}
