import Foundation
import SiphonCore
import SiphonTestSupport
import XCTest

/// `siphon run` from PostgreSQL into a second PostgreSQL cluster (the
/// database sink), killed with SIGKILL in a loop during a random workload
/// and started again: afterwards the target tables equal the source tables
/// row for row, compared with SQL on both clusters: nothing lost (a row
/// missing, stale, or present after its delete). A transaction applied
/// twice in order would leave the same rows (upserts write values, not
/// increments), so this test cannot see it; `_siphon_offsets` committed
/// with the rows is what prevents it (the conformance suite checks that).
final class DatabaseSinkCrashTests: PostgresTestCase {
    /// KafkaPostgresCrashTests' workload (inserts of deleted keys, counter
    /// updates, key changes, deletes over three tables, one with a
    /// two-column key), plus a table of type families whose counter and
    /// values change with every touch.
    static let setup = KafkaPostgresCrashTests.setup + """
        CREATE TABLE td (id int PRIMARY KEY, n numeric(12,3), j jsonb, ts timestamptz, tags text[], b bytea);
        INSERT INTO td SELECT g, g * 1.5, jsonb_build_object('g', g), '2026-01-01'::timestamptz + g * interval '1 hour',
                              ARRAY['x' || g, NULL], decode(md5(g::text), 'hex') FROM generate_series(1, 50) g;
        INSERT INTO ta SELECT g, g FROM generate_series(1, 100) g;
        CREATE PROCEDURE touch(rounds int) LANGUAGE plpgsql AS $$
        BEGIN
          FOR i IN 1..rounds LOOP
            UPDATE td SET n = n + 0.001, j = j || jsonb_build_object('i', i), ts = ts + interval '1 second',
                          tags = tags || i::text WHERE id = 1 + (i % 50);
            COMMIT;
            PERFORM pg_sleep(0.003);
          END LOOP;
        END $$;
        """

    func testKillNineInALoopLeavesTheTargetEqualToTheSource() throws {
        let target = try PostgresServer.start()
        try target.createDatabase("replica")
        let pipeline = try PipelineHarness(server: server, tables: ["public.ta", "public.tb", "public.tc", "public.td"],
                                           snapshot: "initial", setup: Self.setup, sink: """
                                               type: postgres
                                               url: "host=127.0.0.1 port=\(target.port) dbname=replica user=postgres password=${TEST_PGPASSWORD}"
                                               batch_max_events: 200
                                               batch_max_delay: 20ms
                                               """)
        var process = try pipeline.start()
        try process.waitFor(stderrContaining: "streaming changes", timeout: .seconds(60))
        let seed = Double(UInt8.random(in: 0...200)) / 200 - 0.5
        let writer = try ChildProcessRunner.start(server: server, database: pipeline.database, sql: "CALL workload(2500, \(seed))")
        let toucher = try ChildProcessRunner.start(server: server, database: pipeline.database, sql: "CALL touch(1500)")
        for round in 0..<10 {
            // Some runs outlast a checkpoint and several target commits, some do not.
            Thread.sleep(forTimeInterval: 0.3 + Double(round % 3) * 0.5)
            process.signal(SIGKILL)
            _ = try process.waitForExit(timeout: .seconds(10))
            process = try pipeline.start()
        }
        XCTAssertEqual(try writer.waitForExit(timeout: .seconds(180)), 0, "seed \(seed): \(writer.stderrText)")
        XCTAssertEqual(try toucher.waitForExit(timeout: .seconds(180)), 0, toucher.stderrText)

        let queries = ["SELECT * FROM ta ORDER BY id", "SELECT * FROM tb ORDER BY id", "SELECT * FROM tc ORDER BY a, b",
                       "SELECT * FROM td ORDER BY id"]
        var last: [(String, String)] = []
        do {
            try eventually(timeout: .seconds(90), interval: .milliseconds(250), "the target tables to equal the source's") {
                guard process.isRunning else { throw TestSupportError("siphon exited:\n\(process.stderrText.suffix(3000))") }
                last = try queries.map { query in
                    (try server.psql(query, database: pipeline.database), try target.psql(query, database: "replica"))
                }
                return last.allSatisfy { $0.0 == $0.1 }
            }
        } catch {
            for (query, pair) in zip(queries, last) where pair.0 != pair.1 {
                let source = Set(pair.0.split(separator: "\n")), replica = Set(pair.1.split(separator: "\n"))
                XCTFail("seed \(seed): \(query): only in source \(source.subtracting(replica).sorted().prefix(10)), only in target \(replica.subtracting(source).sorted().prefix(10))")
            }
            throw TestSupportError("seed \(seed): \(error); siphon stderr:\n\(process.stderrText.suffix(3000))")
        }
        try pipeline.stop(process)
        // The workload did what it is there for, and the position is recorded with the rows.
        XCTAssertGreaterThan(Int(try server.psql("SELECT count(*) FROM audit", database: pipeline.database)) ?? 0, 2000)
        XCTAssertEqual(try target.psql("SELECT count(*) FROM _siphon_offsets WHERE pipeline = '\(pipeline.name)'", database: "replica"), "1")
        XCTAssertEqual(try target.psql("SELECT count(*) FROM td WHERE array_length(tags, 1) > 10", database: "replica"), "50")
    }

    /// The same kill loop into an SQLite target file (ta, tb and tc, whose
    /// rows psql and the sqlite3 shell print alike).
    func testKillNineInALoopLeavesAnSQLiteTargetEqualToTheSource() throws {
        let folder = try TemporaryDirectory()
        let file = folder.appending("replica.db")
        let pipeline = try PipelineHarness(server: server, tables: ["public.ta", "public.tb", "public.tc"],
                                           snapshot: "initial", setup: Self.setup, sink: """
                                               type: sqlite
                                               path: \(file)
                                               batch_max_events: 200
                                               batch_max_delay: 20ms
                                               """)
        var process = try pipeline.start()
        try process.waitFor(stderrContaining: "streaming changes", timeout: .seconds(60))
        let seed = Double(UInt8.random(in: 0...200)) / 200 - 0.5
        let writer = try ChildProcessRunner.start(server: server, database: pipeline.database, sql: "CALL workload(2000, \(seed))")
        for round in 0..<8 {
            Thread.sleep(forTimeInterval: 0.3 + Double(round % 3) * 0.5)
            process.signal(SIGKILL)
            _ = try process.waitForExit(timeout: .seconds(10))
            process = try pipeline.start()
        }
        XCTAssertEqual(try writer.waitForExit(timeout: .seconds(180)), 0, "seed \(seed): \(writer.stderrText)")
        let queries = ["SELECT * FROM ta ORDER BY id", "SELECT * FROM tb ORDER BY id", "SELECT * FROM tc ORDER BY a, b"]
        func sqlite(_ query: String) throws -> String {
            let result = try SiphonProcess.run(executable: "/usr/bin/sqlite3", arguments: ["-cmd", ".timeout 10000", file, query])
            guard result.status == 0 else { throw TestSupportError("sqlite3: \(result.stderr)") }
            return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        var last: [(String, String)] = []
        do {
            try eventually(timeout: .seconds(90), interval: .milliseconds(250), "the SQLite tables to equal the source's") {
                guard process.isRunning else { throw TestSupportError("siphon exited:\n\(process.stderrText.suffix(3000))") }
                last = try queries.map { (try server.psql($0, database: pipeline.database), try sqlite($0)) }
                return last.allSatisfy { $0.0 == $0.1 }
            }
        } catch {
            for (query, pair) in zip(queries, last) where pair.0 != pair.1 {
                let source = Set(pair.0.split(separator: "\n")), replica = Set(pair.1.split(separator: "\n"))
                XCTFail("seed \(seed): \(query): only in source \(source.subtracting(replica).sorted().prefix(10)), only in target \(replica.subtracting(source).sorted().prefix(10))")
            }
            throw TestSupportError("seed \(seed): \(error); siphon stderr:\n\(process.stderrText.suffix(3000))")
        }
        try pipeline.stop(process)
        XCTAssertEqual(try sqlite("SELECT count(*) FROM _siphon_offsets WHERE pipeline = '\(pipeline.name)'"), "1")
    }
}
