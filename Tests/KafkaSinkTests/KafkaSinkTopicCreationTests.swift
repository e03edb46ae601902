import CRdKafka
import Foundation
import KafkaSink
import KafkaTesting
import Logging
import SiphonCore
import SiphonTestSupport
import XCTest

/// `sink.create_topics`: a topic the sink is about to write that does not
/// exist is created through the admin API before the first record to it;
/// without the key, the broker decides.
///
/// librdkafka 2.0.2's mock cluster has no CreateTopics handler and names no
/// controller, so a creation that succeeds cannot be shown here; what can
/// be: the sink asks (and waits for the answer) only for missing topics,
/// and a cluster that does not create the topic stops the batch before any
/// record of it is sent.
final class KafkaSinkTopicCreationTests: XCTestCase {
    private func batch(_ count: Int, high: UInt64 = 1) -> EventBatch {
        var batch = EventBatch()
        for index in 0..<count {
            TestRow.append(to: &batch, position: Position(high: high, low: UInt64(index)), pipeline: "shop", key: index)
        }
        return batch
    }

    private func sink(_ kafka: MockKafka, createTopics: KafkaSinkConfiguration.TopicCreation?) -> KafkaSink {
        var configuration = KafkaSinkConfiguration(brokers: [kafka.bootstraps], createTopics: createTopics)
        configuration.properties = [("message.timeout.ms", "3000"), ("linger.ms", "2")]
        return KafkaSink(configuration: configuration, pipeline: "shop", logger: Logger(label: "kafka-test"),
                         lookupTimeout: .seconds(1))
    }

    /// Without `create_topics` the sink asks nothing: the broker creates the
    /// topic when the producer first names it (the mock: 4 partitions).
    func testWithoutTheKeyTheBrokerCreatesTheTopic() async throws {
        let kafka = try MockKafka()
        let sink = sink(kafka, createTopics: nil)
        _ = try await sink.open()
        let sent = batch(40)
        try await sink.write(sent)
        let flushed = try await sink.flush()
        XCTAssertEqual(flushed, sent.lastPosition)
        try await sink.close()
        let records = try kafka.records { $0 == "shop.public.orders" }
        XCTAssertEqual(records.count, 40)
        XCTAssertEqual(Set(records.map(\.partition)), [0, 1, 2, 3], "the broker's default partition count")
    }

    /// A topic that exists is not created again: a sink with `create_topics`
    /// writes to it without an admin request (which this mock could not answer).
    func testAnExistingTopicIsNotCreatedAgain() async throws {
        let kafka = try MockKafka()
        try kafka.createTopic("shop.public.orders", partitions: 2)
        let sink = sink(kafka, createTopics: .init(partitions: 3, replicationFactor: 1))
        _ = try await sink.open()
        let sent = batch(20)
        try await sink.write(sent)
        let flushed = try await sink.flush()
        XCTAssertEqual(flushed, sent.lastPosition)
        try await sink.close()
        XCTAssertEqual(Set(try kafka.records { $0 == "shop.public.orders" }.map(\.partition)), [0, 1])
    }

    /// A missing topic the cluster does not create (here: it names no
    /// controller) fails the write with the topic named, transiently, and no
    /// record of it is sent: the broker cannot have auto-created it meanwhile
    /// with its own partition count.
    func testATopicTheClusterDoesNotCreateStopsTheWriteBeforeAnyRecord() async throws {
        let kafka = try MockKafka()
        let sink = sink(kafka, createTopics: .init(partitions: 3, replicationFactor: 1))
        _ = try await sink.open()
        do {
            try await sink.write(batch(20))
            XCTFail("the write went on without its topic")
        } catch let error as SiphonError {
            XCTAssertTrue(error.message.contains("cannot create topic shop.public.orders"), error.message)
            XCTAssertTrue(error.isTransient, error.message)
        }
        let flushed = try await sink.flush()
        XCTAssertNil(flushed, "nothing durable")
        try await sink.close()
        XCTAssertEqual(try kafka.records { $0 == "shop.public.orders" }.count, 0, "no record sent, so no topic auto-created")
    }
}
