import CRdKafka
import Foundation
import KafkaSink
import KafkaTesting
import Logging
import SiphonCore
import SiphonTestSupport
import SiphonTesting
import XCTest

/// The Kafka sink keeps every promise of the sink conformance suite, against
/// librdkafka's mock cluster (four partitions, so keys spread and the skip
/// on resume is per partition).
final class KafkaSinkConformanceTests: XCTestCase {
    struct Subject: SinkConformanceSubject {
        var exactlyOnce: Bool { true }
        /// It reads what Kafka holds on open, but answers `.untracked`: see `KafkaSink`.
        var tracksPosition: Bool { false }
        func makeDestination() throws -> any ConformanceDestination { try Destination() }
    }

    final class Destination: ConformanceDestination, @unchecked Sendable {
        let kafka: MockKafka
        static let topic = "conformance.s.t"

        init() throws {
            kafka = try MockKafka()
            try kafka.createTopic(Self.topic, partitions: 4)
        }

        func makeSink(pipeline: String) throws -> any Sink { kafka.sink(pipeline: pipeline) }

        /// The row events, partition after partition (each key lives in one).
        func storedEvents() throws -> [ConformanceEvent] {
            try kafka.records { $0 == Self.topic }.compactMap { record in
                guard let value = record.value else { return nil }
                let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(value.utf8)) as? [String: Any])
                let position = try XCTUnwrap(Position(try XCTUnwrap(object["id"] as? String)))
                let key = (object["key"] as? [String: Any])?["id"].map { "\($0)" } ?? "null"
                return ConformanceEvent(position: position, key: key)
            }
        }

        /// Every produce request fails with a retriable error until cleared,
        /// so records time out (message.timeout.ms) while metadata still works.
        func induceTransientFailure() throws -> Bool {
            let errors = [rd_kafka_resp_err_t](repeating: RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, count: 100_000)
            rd_kafka_mock_push_request_errors_array(kafka.cluster, 0, errors.count, errors)
            return true
        }

        func clearTransientFailure() throws { rd_kafka_mock_clear_request_errors(kafka.cluster, 0) }

        /// Another pipeline's record last in a partition of the topic.
        func inducePermanentFailure() throws -> Bool {
            try kafka.produce(topic: Self.topic, key: "{\"id\":1}", value: "{}",
                              headers: ["siphon-id": "00000000000000010000000000000000", "siphon-pipeline": "someone-else"])
            return true
        }

        /// Kafka keeps no torn records.
        func simulateCrashDamage() throws {}
    }

    var suite: SinkConformance { SinkConformance(subject: Subject()) }

    func testDeliversEveryEventInOrderPerKey() async throws { try await suite.deliversEveryEventInOrderPerKey() }
    func testAcknowledgesOnlyWhatIsDurable() async throws { try await suite.acknowledgesOnlyWhatIsDurable() }
    func testResumesAfterACrash() async throws { try await suite.resumesAfterACrash() }
    func testStopsOnPermanentErrors() async throws { try await suite.stopsOnPermanentErrors() }
    func testRecoversFromTransientErrors() async throws { try await suite.recoversFromTransientErrors() }
}
