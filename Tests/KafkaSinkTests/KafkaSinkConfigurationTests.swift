import KafkaSink
import KafkaTesting
import XCTest
@testable import SiphonCore

/// Reading `sink: {type: kafka, ...}`: defaults, and every bad key named.
final class KafkaSinkConfigurationTests: XCTestCase {
    private func read(_ yaml: String) throws -> (KafkaSinkConfiguration?, [String]) {
        let root = try XCTUnwrap(try ConfigNode.parse(yaml: yaml).root)
        let problems = ConfigProblems()
        let reader = ConfigReader(node: root, keyPath: "sink", file: "p.yaml", problems: problems)
        let configuration = KafkaSinkConfiguration(reading: reader)
        return (configuration, problems.all.map(\.description))
    }

    func testDefaults() throws {
        let (configuration, problems) = try read("brokers: k1:9092, k2:9092\n")
        XCTAssertEqual(problems, [])
        let read = try XCTUnwrap(configuration)
        XCTAssertEqual(read.brokers, ["k1:9092", "k2:9092"])
        XCTAssertEqual(read.topic.text, "{prefix}.{schema}.{table}")
        XCTAssertEqual(read.schemaTopic.text, "{prefix}")
        XCTAssertEqual(read.messageTopic.text, "{prefix}.message")
        XCTAssertNil(read.prefix)
        XCTAssertEqual(read.compression, .none)
        XCTAssertTrue(read.tombstones)
    }

    func testEveryKey() throws {
        let (configuration, problems) = try read("""
            brokers: [k1:9092, k2:9092]
            topic: "cdc.{db}.{schema}.{table}"
            schema_topic: "cdc.{connector}.schema"
            message_topic: cdc.messages
            prefix: shop
            compression: zstd
            tombstones: false
            properties:
              linger.ms: 20
              security.protocol: SASL_SSL
              sasl.mechanisms: SCRAM-SHA-512
              sasl.username: siphon
              sasl.password: "hunter2-very-secret"
            """)
        XCTAssertEqual(problems, [])
        let read = try XCTUnwrap(configuration)
        XCTAssertEqual(read.brokers, ["k1:9092", "k2:9092"])
        XCTAssertEqual(read.topic.render(.init(prefix: "p", db: "app", schema: "public", table: "orders", connector: "postgresql")),
                       "cdc.app.public.orders")
        XCTAssertEqual(read.prefix, "shop")
        XCTAssertEqual(read.compression, .zstd)
        XCTAssertFalse(read.tombstones)
        XCTAssertEqual(read.properties.map(\.key), ["linger.ms", "security.protocol", "sasl.mechanisms", "sasl.username", "sasl.password"])
        XCTAssertEqual(read.properties.first?.value, "20", "numbers pass through as text")
    }

    func testBadValuesNameTheirKeys() throws {
        let (configuration, problems) = try read("""
            topic: "{prefix}.{tabel}"
            compression: brotli
            properties:
              no.such.property: x
              acks: "1"
            """)
        XCTAssertNil(configuration)
        let text = problems.joined(separator: "\n")
        XCTAssertTrue(text.contains("sink.brokers: required"), text)
        XCTAssertTrue(text.contains("sink.topic: names an unknown placeholder {tabel}"), text)
        XCTAssertTrue(text.contains("sink.compression: must be one of none, lz4, zstd, snappy, gzip"), text)
        XCTAssertTrue(text.contains("sink.properties.no.such.property: librdkafka has no such property"), text)
        XCTAssertTrue(text.contains("sink.properties.acks: cannot be set here"), text)
        XCTAssertEqual(problems.count, 5, text)
    }

    /// librdkafka quotes a value it rejects; the sink never does.
    func testARejectedValueIsNeverQuoted() throws {
        let (configuration, problems) = try read("""
            brokers: k1:9092
            properties:
              linger.ms: "hunter2-very-secret"
            """)
        XCTAssertNil(configuration)
        XCTAssertEqual(problems.count, 1)
        let text = problems.joined()
        XCTAssertTrue(text.contains("sink.properties.linger.ms: librdkafka rejects this value"), text)
        XCTAssertFalse(text.contains("hunter2"), text)
    }

    func testCreateTopics() throws {
        let (absent, _) = try read("brokers: k1:9092\n")
        XCTAssertNil(try XCTUnwrap(absent).createTopics, "absent: creation is left to the broker")
        let (configuration, problems) = try read("""
            brokers: k1:9092
            create_topics: {partitions: 6, replication_factor: 3}
            """)
        XCTAssertEqual(problems, [])
        XCTAssertEqual(try XCTUnwrap(configuration).createTopics, .init(partitions: 6, replicationFactor: 3))
    }

    func testBadCreateTopicsNameTheirKeys() throws {
        for (yaml, expected) in [
            ("{partitions: 0, replication_factor: 1}", ["sink.create_topics.partitions: must be between 1 and 2147483647"]),
            ("{partitions: 3, replication_factor: -1}", ["sink.create_topics.replication_factor: must be between 1 and 32767"]),
            ("{partitions: \"3\", replication_factor: 1.5}", ["sink.create_topics.partitions: must be an integer, not a string",
                                                             "sink.create_topics.replication_factor: must be an integer"]),
            ("{partitions: 3}", ["sink.create_topics.replication_factor: required"]),
            ("{partitions: 3, replication_factor: 1, replicas: 2}", ["sink.create_topics.replicas: unknown key"]),
            ("3", ["sink.create_topics: must be a mapping"]),
        ] {
            let (_, problems) = try read("brokers: k1:9092\ncreate_topics: \(yaml)\n")
            XCTAssertEqual(problems.count, expected.count, "\(yaml): \(problems)")
            for (problem, prefix) in zip(problems, expected) {
                XCTAssertTrue(problem.contains(prefix), "\(yaml): \(problem)")
            }
        }
    }

    func testTemplates() throws {
        XCTAssertThrowsError(try TopicTemplate("{prefix}.{table"))
        XCTAssertThrowsError(try TopicTemplate("prefix}.x"))
        XCTAssertThrowsError(try TopicTemplate(""))
        let rows = TopicTemplate.defaultRows
        XCTAssertTrue(rows.matches("shop.public.orders", prefix: "shop"))
        XCTAssertFalse(rows.matches("shop.orders", prefix: "shop"), "{schema} and {table} each need text")
        XCTAssertFalse(rows.matches("shopping.public.orders", prefix: "shop"))
        XCTAssertTrue(TopicTemplate.defaultMessages.matches("shop.message", prefix: "shop"))
        XCTAssertFalse(TopicTemplate.defaultSchema.matches("shop.message", prefix: "shop"))
    }
}
