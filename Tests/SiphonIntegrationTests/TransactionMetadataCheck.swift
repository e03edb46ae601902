import Foundation
import SiphonCore
import SiphonTestSupport
import XCTest

/// What the Kafka and NATS crash loops check of Debezium's transaction
/// metadata after their kills: one BEGIN and one END per transaction, BEGIN
/// first, END counting the transaction's changes per table as the audit
/// table (`KafkaPostgresCrashTests.setup`) does.
enum TransactionMetadataCheck {
    /// A BEGIN or END record or message as read back: its JSON value and its headers.
    struct Record {
        var value: String?
        var headers: [String: String]
    }

    static func check(_ records: [Record], server: PostgresServer, database: String, seed: Double,
                      file: StaticString = #filePath, line: UInt = #line) throws {
        let audit = try server.psql("SELECT tx || ' public.' || tbl FROM audit ORDER BY seq", database: database)
            .split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        var expected: [String: [String: Int]] = [:]
        for change in audit { expected[change[0], default: [:]][change[1], default: 0] += 1 }
        var begun: Set<String> = [], ended: [String: [String: Int]] = [:]
        for record in records {
            let value = try XCTUnwrap(record.value.flatMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] },
                                      file: file, line: line)
            let id = try XCTUnwrap(value["id"] as? String, file: file, line: line)
            XCTAssertNotNil(record.headers["siphon-id"].flatMap { Position($0) }, "siphon-id of \(id)", file: file, line: line)
            XCTAssertNotNil(value["ts_ms"] as? Int, "ts_ms of \(id)", file: file, line: line)
            let tx = String(id.prefix { $0 != ":" })
            switch value["status"] as? String {
            case "BEGIN":
                XCTAssertFalse(begun.contains(id), "seed \(seed): BEGIN of \(id) twice", file: file, line: line)
                begun.insert(id)
            case "END":
                XCTAssertTrue(begun.contains(id), "seed \(seed): END of \(id) before its BEGIN", file: file, line: line)
                XCTAssertNil(ended[tx], "seed \(seed): END of \(id) twice", file: file, line: line)
                let collections = try XCTUnwrap(value["data_collections"] as? [[String: Any]], file: file, line: line)
                ended[tx] = Dictionary(uniqueKeysWithValues: collections.map { ($0["data_collection"] as! String, $0["event_count"] as! Int) })
                XCTAssertEqual(value["event_count"] as? Int, ended[tx]!.values.reduce(0, +), file: file, line: line)
            default: XCTFail("not a transaction record: \(record)", file: file, line: line)
            }
        }
        XCTAssertGreaterThan(begun.count, 0, "transaction records written", file: file, line: line)
        XCTAssertEqual(begun.count, ended.count, "seed \(seed): every BEGIN has its END", file: file, line: line)
        for tx in Set(expected.keys).union(ended.keys).sorted() where expected[tx] != ended[tx] {
            XCTFail("seed \(seed): transaction \(tx): committed \(expected[tx] ?? [:]), END says \(ended[tx] ?? [:])", file: file, line: line)
        }
    }
}
