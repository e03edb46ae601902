import Foundation
import NatsSink
import NatsTesting
import SiphonCore
import SiphonTestSupport
import SiphonTesting
import XCTest

/// Beyond the duplicate window, the expected-last-sequence checks are what
/// keeps a replay or a second writer out of the stream: it is rejected
/// (transiently), not stored twice.
final class NatsSinkExpectedSequenceTests: XCTestCase {
    /// Two sessions of one pipeline that both read the same tail (a replay):
    /// the second one's messages are refused, once the duplicate window
    /// (200 ms here) is long past.
    func testAReplayIsRejectedInTheStreamMode() async throws {
        try await replayIsRejected(streamSubjects: ["shop.>"])
    }

    /// The same in a stream other writers share (per-subject mode).
    func testAReplayIsRejectedInThePerSubjectMode() async throws {
        try await replayIsRejected(streamSubjects: ["shop.>", "other.>"])
    }

    private func replayIsRejected(streamSubjects: [String]) async throws {
        let server = try NatsServer.start()
        let client = try server.client()
        try client.createStream("SHOP", subjects: streamSubjects, duplicateWindow: .milliseconds(200))
        let setup = NatsTestEvents.rows(pipeline: "shop", high: 1, count: 5)
        let seed = server.sink(pipeline: "shop", stream: .init(name: "SHOP"))
        _ = try await seed.open()
        try await seed.write(setup)
        _ = try await seed.flush()
        try await seed.close()

        let first = server.sink(pipeline: "shop", stream: .init(name: "SHOP"))
        let replay = server.sink(pipeline: "shop", stream: .init(name: "SHOP"))
        let firstOpened = try await first.open()
        let replayOpened = try await replay.open()
        XCTAssertEqual(firstOpened, .tracked(last: setup.lastPosition))
        XCTAssertEqual(replayOpened, firstOpened)
        let more = NatsTestEvents.rows(pipeline: "shop", high: 2, count: 20)
        try await first.write(more)
        let flushed = try await first.flush()
        XCTAssertEqual(flushed, more.lastPosition)
        try await Task.sleep(for: .milliseconds(600))  // the duplicate window is over
        do {
            try await replay.write(more)
            let durable = try await replay.flush()
            XCTFail("a replay was acknowledged up to \(durable?.description ?? "nil")")
        } catch let error as SiphonError {
            XCTAssertTrue(error.isTransient, error.message)
            XCTAssertTrue(error.message.contains("re-reading the stream's tail"), error.message)
        }
        try await first.close()
        try await replay.close()
        let ids = try client.messages(stream: "SHOP").compactMap { $0.headers["siphon-id"] }
        XCTAssertEqual(ids, (setup.events + more.events).map(\.position.description), "each event once")
        // Reopened, the replaying sink resumes after the stream's tail.
        let reopened = try await replay.open()
        XCTAssertEqual(reopened, .tracked(last: more.lastPosition))
        try await replay.close()
    }

    /// A message of another writer lands between two of the sink's
    /// publishes (stream mode: Siphon should be the only writer): the
    /// sink's next publish is refused instead of stored after it.
    func testASecondWriterIsRejectedInTheStreamMode() async throws {
        let server = try NatsServer.start()
        let client = try server.client()
        let sink = server.sink(pipeline: "shop", stream: .init(name: "SHOP"))
        _ = try await sink.open()
        let first = NatsTestEvents.rows(pipeline: "shop", high: 1, count: 5)
        try await sink.write(first)
        _ = try await sink.flush()
        try client.publish(subject: "shop.public.intruder", data: "{}")
        do {
            try await sink.write(NatsTestEvents.rows(pipeline: "shop", high: 2, count: 5))
            _ = try await sink.flush()
            XCTFail("published after another writer's message")
        } catch let error as SiphonError {
            XCTAssertTrue(error.isTransient, error.message)
        }
        try await sink.close()
        let subjects = try client.messages(stream: "SHOP").map(\.subject)
        XCTAssertEqual(subjects, Array(repeating: "shop.s.t", count: 5) + ["shop.public.intruder"],
                       "nothing of the sink's after the other writer's message")
    }

    /// The same into an empty stream: even the sink's first message expects
    /// the stream to be as it was at `open`.
    func testASecondWriterIsRejectedInAnEmptyStream() async throws {
        let server = try NatsServer.start()
        let client = try server.client()
        let sink = server.sink(pipeline: "shop", stream: .init(name: "SHOP"))
        _ = try await sink.open()
        try client.publish(subject: "shop.public.intruder", data: "{}")
        do {
            try await sink.write(NatsTestEvents.rows(pipeline: "shop", high: 1, count: 5))
            _ = try await sink.flush()
            XCTFail("published after another writer's message")
        } catch let error as SiphonError {
            XCTAssertTrue(error.isTransient, error.message)
        }
        try await sink.close()
        XCTAssertEqual(try client.messages(stream: "SHOP").map(\.subject), ["shop.public.intruder"])
    }
}
