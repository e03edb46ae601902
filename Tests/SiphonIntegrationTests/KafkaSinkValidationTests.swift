import Foundation
import SiphonTestSupport
import XCTest

/// `siphon validate` on Kafka sinks: offline (no broker is reachable here),
/// bad keys named, exit 2, secrets never printed.
final class KafkaSinkValidationTests: XCTestCase {
    private func validate(_ sink: String) throws -> (status: Int32, stdout: String, stderr: String) {
        let folder = try TemporaryDirectory()
        let path = folder.path + "/pipeline.yaml"
        try """
            version: 1
            name: orders
            source:
              type: postgres
              url: "host=127.0.0.1 dbname=app"
              slot: s
              tables: public.*
            sink:
            \(sink.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return try SiphonProcess.run(["validate", "--config", path])
    }

    func testAValidKafkaSinkValidatesWithoutABroker() throws {
        let result = try validate("""
            type: kafka
            brokers: 127.0.0.1:1
            properties:
              sasl.password: "hunter2-very-secret"
            """)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertFalse((result.stdout + result.stderr).contains("hunter2"))
    }

    func testBadKafkaKeysExitTwoNamingEachKey() throws {
        let result = try validate("""
            type: kafka
            brokers: [k1:9092]
            topic: "{prefix}.{tabel}"
            compression: brotli
            properties:
              linger.ms: "hunter2-very-secret"
              no.such.property: 1
            """)
        XCTAssertEqual(result.status, 2, result.stdout + result.stderr)
        let text = result.stdout + result.stderr
        for key in ["sink.topic", "sink.compression", "sink.properties.linger.ms", "sink.properties.no.such.property"] {
            XCTAssertTrue(text.contains(key), "\(key) not named in: \(text)")
        }
        XCTAssertFalse(text.contains("hunter2"), text)
    }
}

extension KafkaSinkValidationTests {
    /// Two pipelines naming the same topics would skip each other's events;
    /// with the default prefix (each pipeline's name) they name different ones.
    func testTwoPipelinesMayNotWriteTheSameTopics() throws {
        let folder = try TemporaryDirectory()
        func write(_ name: String, prefix: String?) throws {
            try """
                version: 1
                name: \(name)
                source: {type: postgres, url: "host=127.0.0.1 dbname=app", slot: \(name), publication: \(name), tables: public.*}
                sink: {type: kafka, brokers: "k1:9092"\(prefix.map { ", prefix: \($0)" } ?? "")}
                state: {path: \(folder.path)/state-\(name)}
                """.write(toFile: "\(folder.path)/\(name).yaml", atomically: true, encoding: .utf8)
        }
        try write("one", prefix: nil)
        try write("two", prefix: nil)
        let apart = try SiphonProcess.run(["validate", "--config", folder.path])
        XCTAssertEqual(apart.status, 0, apart.stdout + apart.stderr)
        try write("one", prefix: "shop")
        try write("two", prefix: "shop")
        let shared = try SiphonProcess.run(["validate", "--config", folder.path])
        XCTAssertEqual(shared.status, 2, shared.stdout + shared.stderr)
        XCTAssertTrue((shared.stdout + shared.stderr).contains("Kafka topics shop.{schema}.{table}"), shared.stdout + shared.stderr)
    }
}
