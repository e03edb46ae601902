import Foundation
import SiphonTestSupport
import XCTest

/// No loss and no duplicate across stops, crashes and server restarts.
final class DeliveryTests: PostgresTestCase {
    /// Each `key.id` of the row events, asserting every id appears once.
    private func assertExactlyOnce(_ pipeline: PipelineHarness, expected: ClosedRange<Int>,
                                   file: StaticString = #filePath, line: UInt = #line) throws {
        let events = try pipeline.events()
        let ids = events.compactMap { $0["id"] as? String }
        XCTAssertEqual(Set(ids).count, ids.count, "an event id is repeated in the file", file: file, line: line)
        XCTAssertEqual(ids, ids.sorted(), "ids are in position order", file: file, line: line)
        let keys = events.filter { $0["op"] as? String == "c" }.compactMap { $0[path: "key.id"] as? Int }
        XCTAssertEqual(keys.count, expected.count, "one insert event per row", file: file, line: line)
        XCTAssertEqual(Set(keys), Set(expected), "no row lost", file: file, line: line)
    }

    func testSigtermThenRestartLosesAndRepeatsNothing() throws {
        let pipeline = try PipelineHarness(server: server, snapshot: "never", setup: "CREATE TABLE t (id int PRIMARY KEY)")
        let first = try pipeline.start()
        try first.waitFor(stderrContaining: "streaming changes", timeout: .seconds(60))
        for id in 1...50 { try pipeline.sql("INSERT INTO t VALUES (\(id))") }
        try pipeline.waitForRowEvents(50, process: first)
        try pipeline.stop(first)
        // Changes made while Siphon is down are picked up on restart.
        for id in 51...100 { try pipeline.sql("INSERT INTO t VALUES (\(id))") }
        let offsets = try SiphonProcess.run(["offsets", "show", "--config", pipeline.configPath],
                                            environment: PipelineHarness.environment)
        XCTAssertEqual(offsets.status, 0, offsets.stderr)
        XCTAssertTrue(offsets.stdout.contains(pipeline.name) && offsets.stdout.contains("commit LSN"), offsets.stdout)
        let second = try pipeline.start()
        try pipeline.waitForRowEvents(100, process: second)
        try pipeline.stop(second)
        try assertExactlyOnce(pipeline, expected: 1...100)
    }

    func testKill9InALoopUnderLoad() throws {
        let pipeline = try PipelineHarness(server: server, snapshot: "never", setup: """
            CREATE TABLE load (id int PRIMARY KEY, payload text);
            CREATE PROCEDURE write_rows(first int, last int) LANGUAGE plpgsql AS $$
            BEGIN
              FOR i IN first..last LOOP
                INSERT INTO load VALUES (i, md5(i::text));
                IF i % 3 = 0 THEN INSERT INTO load VALUES (-i, 'same transaction'); DELETE FROM load WHERE id = -i; END IF;
                COMMIT;
                IF i % 20 = 0 THEN PERFORM pg_sleep(0.01); END IF;
              END LOOP;
            END $$;
            """)
        var process = try pipeline.start()
        try process.waitFor(stderrContaining: "streaming changes", timeout: .seconds(60))
        let total = 4000
        let writer = try ChildProcessRunner.start(server: server, database: pipeline.database,
                                                  sql: "CALL write_rows(1, \(total))")
        for round in 0..<6 {
            Thread.sleep(forTimeInterval: 0.4 + Double(round % 3) * 0.3)
            process.signal(SIGKILL)
            _ = try process.waitForExit(timeout: .seconds(10))
            process = try pipeline.start()
        }
        XCTAssertEqual(try writer.waitForExit(timeout: .seconds(120)), 0, writer.stderrText)
        try eventually(timeout: .seconds(120), "all \(total) inserts captured") {
            try pipeline.events().filter { $0["op"] as? String == "c" && ($0[path: "key.id"] as? Int ?? 0) > 0 }.count >= total
        }
        try pipeline.stop(process)
        let events = try pipeline.events()
        let ids = events.compactMap { $0["id"] as? String }
        XCTAssertEqual(Set(ids).count, ids.count, "an event id is repeated in the file")
        XCTAssertEqual(ids, ids.sorted())
        let positive = events.filter { $0["op"] as? String == "c" }.compactMap { $0[path: "key.id"] as? Int }.filter { $0 > 0 }
        XCTAssertEqual(positive.count, total)
        XCTAssertEqual(Set(positive), Set(1...total))
        // The short-lived rows come as insert then delete, each exactly once.
        let negatives = events.compactMap { $0[path: "key.id"] as? Int }.filter { $0 < 0 }
        XCTAssertEqual(negatives.count, 2 * (total / 3))
    }

    func testPostgresRestartMidStream() throws {
        let pipeline = try PipelineHarness(server: server, snapshot: "never", setup: "CREATE TABLE t (id int PRIMARY KEY)")
        let process = try pipeline.start()
        try process.waitFor(stderrContaining: "streaming changes", timeout: .seconds(60))
        for id in 1...30 { try pipeline.sql("INSERT INTO t VALUES (\(id))") }
        try pipeline.waitForRowEvents(30, process: process)
        try server.restart()
        for id in 31...60 { try pipeline.sql("INSERT INTO t VALUES (\(id))") }
        try pipeline.waitForRowEvents(60, timeout: .seconds(90), process: process)
        XCTAssertTrue(process.stderrText.contains("reconnecting"), process.stderrText)
        try pipeline.stop(process)
        try assertExactlyOnce(pipeline, expected: 1...60)
    }

    func testMillionRowTransactionInBoundedMemory() throws {
        let pipeline = try PipelineHarness(server: server, snapshot: "never",
                                           setup: "CREATE TABLE big (id int PRIMARY KEY, label text)")
        let process = try pipeline.start()
        try process.waitFor(stderrContaining: "streaming changes", timeout: .seconds(60))
        let rows = 1_000_000
        try pipeline.sql("INSERT INTO big SELECT g, 'row ' || g FROM generate_series(1, \(rows)) g")
        try eventually(timeout: .seconds(600), interval: .seconds(1), "\(rows) events") {
            guard process.isRunning else { throw TestSupportError("siphon exited:\n\(process.stderrText.suffix(3000))") }
            return try Self.lineCount(pipeline.outputPath) >= rows + 1
        }
        let peakKB = Self.peakResidentKB(pid: process.pid)
        // PostgreSQL streamed it before commit (protocol 2): the spill path was used.
        let streamed = try server.psql("SELECT stream_txns FROM pg_stat_replication_slots WHERE slot_name = 'slot_\(pipeline.name)'")
        XCTAssertGreaterThan(Int(streamed) ?? 0, 0, "the transaction was streamed in progress")
        try pipeline.stop(process)
        XCTAssertEqual(try Self.lineCount(pipeline.outputPath), rows + 1, "one schema event and one event per row")
        // The whole transaction is ~100 MB of JSON; memory stays far below it.
        XCTAssertLessThan(peakKB, 128 * 1024, "peak RSS \(peakKB) kB")
    }

    static func lineCount(_ path: String) throws -> Int {
        guard let handle = FileHandle(forReadingAtPath: path) else { return 0 }
        defer { try? handle.close() }
        var count = 0
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            count += chunk.reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
        }
        return count
    }

    static func peakResidentKB(pid: Int32) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0
        }
        return 0
    }
}
