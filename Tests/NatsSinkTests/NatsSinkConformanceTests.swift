import Foundation
import NatsSink
import NatsTesting
import SiphonCore
import SiphonTestSupport
import SiphonTesting
import XCTest

/// The NATS sink keeps every promise of the sink conformance suite, each
/// check against its own nats-server (file storage).
final class NatsSinkConformanceTests: XCTestCase {
    struct Subject: SinkConformanceSubject {
        var exactlyOnce: Bool { true }
        var tracksPosition: Bool { true }
        func makeDestination() throws -> any ConformanceDestination { try Destination() }
    }

    final class Destination: ConformanceDestination, @unchecked Sendable {
        let server: NatsServer
        static let stream = "CONFORMANCE"

        init() throws {
            server = try NatsServer.start()
            try server.client().createStream(Self.stream, subjects: ["conformance.>"])
        }

        func makeSink(pipeline: String) throws -> any Sink {
            server.sink(pipeline: pipeline, stream: .init(name: Self.stream)) { $0.ackTimeout = .seconds(1) }
        }

        /// The row events, in stream order.
        func storedEvents() throws -> [ConformanceEvent] {
            try server.client().messages(stream: Self.stream).filter { $0.subject == "conformance.s.t" }.map { message in
                let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(message.data.utf8)) as? [String: Any])
                let position = try XCTUnwrap(Position(try XCTUnwrap(object["id"] as? String)))
                let key = (object["key"] as? [String: Any])?["id"].map { "\($0)" } ?? "null"
                return ConformanceEvent(position: position, key: key)
            }
        }

        /// The stream is full and refuses new messages (discard new), while
        /// the server answers everything else: the sink opens, and its
        /// publishes are refused. (A server that stops altogether is
        /// NatsSinkFaultTests' and the integration tests' case: the
        /// pipeline cannot reopen until it is back.)
        func induceTransientFailure() throws -> Bool {
            try server.client().fill(stream: Self.stream, full: true)
            return true
        }

        func clearTransientFailure() throws {
            try server.client().fill(stream: Self.stream, full: false)
        }

        /// Another pipeline's message last on the pipeline's subjects.
        func inducePermanentFailure() throws -> Bool {
            try server.client().publish(subject: "conformance.s.t", data: "{}",
                                        headers: ["siphon-id": "00000000000000010000000000000000", "siphon-pipeline": "someone-else"])
            return true
        }

        /// JetStream keeps no torn messages.
        func simulateCrashDamage() throws {}
    }

    var suite: SinkConformance { SinkConformance(subject: Subject()) }

    func testDeliversEveryEventInOrderPerKey() async throws { try await suite.deliversEveryEventInOrderPerKey() }
    func testAcknowledgesOnlyWhatIsDurable() async throws { try await suite.acknowledgesOnlyWhatIsDurable() }
    func testResumesAfterACrash() async throws { try await suite.resumesAfterACrash() }
    func testRefusesACheckpointAheadOfTheSink() async throws { try await suite.refusesACheckpointAheadOfTheSink() }
    func testStopsOnPermanentErrors() async throws { try await suite.stopsOnPermanentErrors() }
    func testRecoversFromTransientErrors() async throws { try await suite.recoversFromTransientErrors() }
}
