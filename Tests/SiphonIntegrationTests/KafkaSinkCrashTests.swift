import Foundation
import KafkaTesting
import SiphonCore
import SiphonTestSupport
import XCTest

/// `siphon run` from SQLite into librdkafka's mock cluster (hosted by a
/// helper process, `siphon-kafka-mock`, reached over TCP like a real broker,
/// keeping its data while siphon is killed and started again).
final class KafkaSinkCrashTests: XCTestCase {
    func testKillNineInALoopLeavesEveryChangeInKafkaExactlyOnce() throws {
        let harness = try SQLiteHarness(setup: "CREATE TABLE t (id INTEGER PRIMARY KEY, v INT);", snapshot: "never")
        let topic = "\(harness.name).main.t"
        let kafka = try MockKafka.inHelperProcess(topics: [topic: 4])
        try """
            version: 1
            name: \(harness.name)
            source:
              type: sqlite
              path: \(harness.databasePath)
              tables: ["*"]
              snapshot: never
            sink:
              type: kafka
              brokers: \(kafka.bootstraps)
              properties:
                linger.ms: 5
            state:
              path: \(harness.statePath)
            """.write(toFile: harness.configPath, atomically: true, encoding: .utf8)

        // Each round, one transaction: three inserts, an update, a delete and a
        // key change (a delete and an insert): 7 row events, 2 tombstones.
        let rounds = 250
        let script = harness.folder.path + "/writer.sh"
        try """
            set -e
            for i in $(seq 0 \(rounds - 1)); do
              a=$((i * 3 + 1)); b=$((a + 1)); c=$((a + 2))
              \(SQLiteHarness.shell) -cmd '.timeout 10000' '\(harness.databasePath)' \
                "BEGIN; INSERT INTO t VALUES ($a, 0); INSERT INTO t VALUES ($b, 0); INSERT INTO t VALUES ($c, 0); UPDATE t SET v = 1 WHERE id = $a; DELETE FROM t WHERE id = $b; UPDATE t SET id = $c + 1000000 WHERE id = $c; COMMIT;" >/dev/null
            done
            """.write(toFile: script, atomically: true, encoding: .utf8)

        var process = try harness.start()
        try process.waitFor(stderrContaining: "capturing", timeout: .seconds(30))
        let writer = try SiphonProcess(executable: URL(fileURLWithPath: "/bin/bash"), arguments: [script])
        // Some runs outlast the 1 s checkpoint interval, some do not.
        process = try harness.killNine(process, times: 8) { 0.3 + Double($0 % 3) * 0.5 }
        XCTAssertEqual(try writer.waitForExit(timeout: .seconds(180)), 0, writer.stderrText)
        let expected = rounds * 7
        var records: [MockKafka.Record] = []
        do {
            try eventually(timeout: .seconds(60), "\(expected) row events in Kafka") {
                guard process.isRunning else { throw TestSupportError("siphon exited:\n\(process.stderrText.suffix(3000))") }
                records = try kafka.records { $0 == topic }
                return records.filter { $0.value != nil }.count >= expected
            }
        } catch {
            throw TestSupportError("\(error); have \(records.filter { $0.value != nil }.count); stderr:\n\(process.stderrText.suffix(3000))")
        }
        try harness.stop(process)
        records = try kafka.records { $0 == topic }

        let rows = records.filter { $0.value != nil }
        let ids = rows.compactMap { $0.headers["siphon-id"] }
        XCTAssertEqual(ids.count, expected, "no loss and no duplicate")
        XCTAssertEqual(Set(ids).count, ids.count, "an event id is in Kafka twice")
        let tombstones = records.filter { $0.value == nil }
        XCTAssertEqual(tombstones.count, rounds * 2, "one tombstone per delete")
        XCTAssertEqual(Set(tombstones.compactMap { $0.headers["siphon-id"] }).count, tombstones.count)
        // Per key, in commit order: partitions are read in offset order.
        var lastByKey: [String: Position] = [:]
        for record in records {
            guard let key = record.key, let position = record.headers["siphon-id"].flatMap({ Position($0) }) else { continue }
            if let last = lastByKey[key] {
                XCTAssertGreaterThanOrEqual(position, last, "key \(key) out of order")
            }
            lastByKey[key] = position
        }
    }
}
