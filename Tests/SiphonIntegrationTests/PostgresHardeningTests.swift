import Foundation
import SiphonTestSupport
import XCTest

/// Databases that are a little unusual: an identity whose index is gone,
/// old-style string literals, many large transactions in progress at once.
final class PostgresHardeningTests: PostgresTestCase {
    func testTableWhoseIdentityIndexWasDroppedIsNotPublished() throws {
        let pipeline = try PipelineHarness(server: server, snapshot: "never", setup: """
            CREATE TABLE keyed (id int PRIMARY KEY);
            CREATE TABLE lost (id int NOT NULL, v int);
            CREATE UNIQUE INDEX lost_id ON lost (id);
            ALTER TABLE lost REPLICA IDENTITY USING INDEX lost_id;
            DROP INDEX lost_id;  -- relreplident stays 'i', with no index behind it
            INSERT INTO lost VALUES (1, 1);
            -- PostgreSQL takes no DEFERRABLE key as the identity either.
            CREATE TABLE deferred (id int PRIMARY KEY DEFERRABLE, v int);
            INSERT INTO deferred VALUES (1, 1);
            """)
        let process = try pipeline.start()
        try process.waitFor(stderrContaining: "streaming changes", timeout: .seconds(60))
        try pipeline.stop(process)
        let published = try pipeline.sql(returning: "SELECT tablename FROM pg_publication_tables WHERE pubname = 'pub_\(pipeline.name)' ORDER BY 1")
        XCTAssertEqual(published, "keyed")
        XCTAssertTrue(process.stderrText.contains("public.lost"), process.stderrText)
        XCTAssertTrue(process.stderrText.contains("REPLICA IDENTITY USING INDEX"), process.stderrText)
        XCTAssertTrue(process.stderrText.contains("public.deferred"), process.stderrText)
        // The application's UPDATEs still work.
        try pipeline.sql("UPDATE lost SET v = 2 WHERE id = 1")
        try pipeline.sql("UPDATE deferred SET v = 2 WHERE id = 1")
    }

    func testNamesWithBackslashesAndQuotesWithoutStandardConformingStrings() throws {
        let server = try PostgresServer.start(settings: ["standard_conforming_strings": "off"])
        XCTAssertEqual(try server.psql("SHOW standard_conforming_strings"), "off")
        let pipeline = try PipelineHarness(server: server, snapshot: "initial", setup: #"""
            CREATE TABLE "a\" (id int PRIMARY KEY, v text);
            CREATE TABLE "q'u""o\te" ("c\'ol" int PRIMARY KEY, "x""y" text);
            INSERT INTO "a\" VALUES (1, $$back\slash$$);
            INSERT INTO "q'u""o\te" VALUES (1, $$it's$$);
            """#)
        let process = try pipeline.start()
        try process.waitFor(stderrContaining: "streaming changes", timeout: .seconds(60))
        try pipeline.sql(#"INSERT INTO "a\" VALUES (2, $$two\$$); INSERT INTO "q'u""o\te" VALUES (2, $$"two"$$)"#)
        let rows = try pipeline.waitForRowEvents(4, process: process)
        try pipeline.stop(process)

        let byTable = Dictionary(grouping: rows) { $0[path: "source.table"] as? String ?? "?" }
        XCTAssertEqual(Set(byTable.keys), [#"a\"#, #"q'u"o\te"#])
        XCTAssertEqual(byTable[#"a\"#]?.map { $0["op"] as? String }, ["r", "c"])
        XCTAssertEqual(byTable[#"a\"#]?.map { $0[path: "after.v"] as? String }, [#"back\slash"#, #"two\"#])
        let quoted = try XCTUnwrap(byTable[#"q'u"o\te"#])
        XCTAssertEqual(quoted.map { $0["op"] as? String }, ["r", "c"])
        XCTAssertEqual(quoted.compactMap { ($0["after"] as? [String: Any])?[#"c\'ol"#] as? Int }, [1, 2])
        XCTAssertEqual(quoted.map { ($0["after"] as? [String: Any])?[#"x"y"#] as? String }, ["it's", #""two""#])
    }

    /// PostgreSQL streams a transaction to Siphon once it outgrows
    /// logical_decoding_work_mem (64kB here), long before it commits; each
    /// is kept in a spill file until then. Many at once must not cost a
    /// descriptor each.
    func testManyConcurrentStreamedTransactionsKeepDescriptorsBounded() throws {
        let server = try PostgresServer.start(settings: ["logical_decoding_work_mem": "64kB", "max_connections": "120"])
        let pipeline = try PipelineHarness(server: server, snapshot: "never",
                                           setup: "CREATE TABLE big (id int PRIMARY KEY, payload text)")
        let process = try pipeline.start()
        try process.waitFor(stderrContaining: "streaming changes", timeout: .seconds(60))
        let spill = pipeline.statePath + "/spill"
        let attributes = try FileManager.default.attributesOfItem(atPath: spill)
        XCTAssertEqual((attributes[.posixPermissions] as? Int).map { String($0, radix: 8) }, "700", "the spill folder is private")

        // The writers' transactions stay open until the gate is ended.
        let gate = try BackgroundSession(server: server, database: pipeline.database, name: "gate_\(pipeline.name)",
                                         sql: "SELECT pg_advisory_lock(4242); SELECT pg_sleep(600);")
        try eventually(timeout: .seconds(30), "the gate is closed") {
            try pipeline.sql(returning: "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242 AND granted") == "1"
        }
        let transactions = 60
        let rowsEach = 1000
        var writers: [BackgroundSession] = []
        for writer in 0..<transactions {
            let first = writer * rowsEach + 1
            writers.append(try BackgroundSession(server: server, database: pipeline.database, name: "w\(writer)_\(pipeline.name)", sql: """
                BEGIN;
                INSERT INTO big SELECT g, repeat('x', 100) FROM generate_series(\(first), \(first + rowsEach - 1)) g;
                SELECT pg_advisory_xact_lock_shared(4242);
                COMMIT;
                """))
        }
        // Every transaction in progress has been streamed (a spill file each) ...
        try eventually(timeout: .seconds(120), interval: .milliseconds(200), "\(transactions) spill files") {
            if !process.isRunning { throw TestSupportError("siphon exited:\n\(process.stderrText.suffix(3000))") }
            return try FileManager.default.contentsOfDirectory(atPath: spill).count == transactions
        }
        let modes = try FileManager.default.contentsOfDirectory(atPath: spill).map { file in
            (try FileManager.default.attributesOfItem(atPath: spill + "/" + file)[.posixPermissions] as? Int).map { String($0, radix: 8) }
        }
        XCTAssertEqual(Set(modes), ["600"], "spill files are private")
        // ... and they are not all held open.
        XCTAssertLessThanOrEqual(Self.openSpillFiles(pid: process.pid), Self.maxOpenSpillFiles)

        try gate.end()
        for writer in writers { XCTAssertEqual(try writer.waitForExit(timeout: .seconds(60)), 0, writer.stderrText) }
        try eventually(timeout: .seconds(180), interval: .milliseconds(500), "every row") {
            if !process.isRunning { throw TestSupportError("siphon exited:\n\(process.stderrText.suffix(3000))") }
            return try DeliveryTests.lineCount(pipeline.outputPath) >= transactions * rowsEach + 1
        }
        try pipeline.stop(process)
        let events = try pipeline.rowEvents()
        XCTAssertEqual(events.count, transactions * rowsEach)
        XCTAssertEqual(Set(events.compactMap { $0[path: "key.id"] as? Int }), Set(1...(transactions * rowsEach)))
        let streamed = try server.psql("SELECT stream_txns FROM pg_stat_replication_slots WHERE slot_name = 'slot_\(pipeline.name)'")
        XCTAssertGreaterThanOrEqual(Int(streamed) ?? 0, transactions, "each transaction was streamed in progress")
    }

    /// `SpillFiles.maxOpen` in the PostgreSQL source.
    static let maxOpenSpillFiles = 32

    /// Descriptors the process holds on spill files.
    static func openSpillFiles(pid: Int32) -> Int {
        let folder = "/proc/\(pid)/fd"
        let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return descriptors.filter { descriptor in
            (try? FileManager.default.destinationOfSymbolicLink(atPath: folder + "/" + descriptor))?.hasSuffix(".spill") ?? false
        }.count
    }
}
