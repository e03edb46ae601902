import Foundation
import SiphonTestSupport
import XCTest

/// Partitioned tables are captured under the parent's name, whichever
/// partition a row lives in, and through ATTACH and DETACH PARTITION.
final class PartitionedTableTests: PostgresTestCase {
    func testPartitionedTableUnderItsOwnNameThroughSnapshotAttachAndDetach() throws {
        let pipeline = try PipelineHarness(server: server, tables: ["public.meas", "public.unkeyed"], snapshot: "initial", setup: """
            CREATE TABLE meas (id int, region text, v int, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
            CREATE TABLE meas_eu PARTITION OF meas FOR VALUES IN ('eu');
            CREATE TABLE meas_us PARTITION OF meas FOR VALUES IN ('us');
            INSERT INTO meas VALUES (1, 'eu', 1), (2, 'us', 2);
            -- Its own identity is FULL, its partition's is not: UPDATEs of the partition would fail if published.
            CREATE TABLE unkeyed (id int, region text) PARTITION BY LIST (region);
            CREATE TABLE unkeyed_eu PARTITION OF unkeyed FOR VALUES IN ('eu');
            ALTER TABLE unkeyed REPLICA IDENTITY FULL;
            INSERT INTO unkeyed VALUES (1, 'eu');
            """)
        let process = try pipeline.start()
        try process.waitFor(stderrContaining: "streaming changes", timeout: .seconds(60))
        let snapshot = try pipeline.waitForRowEvents(2, process: process)
        XCTAssertEqual(snapshot.map { $0["op"] as? String }, ["r", "r"])

        try pipeline.sql("INSERT INTO meas VALUES (3, 'eu', 3); UPDATE meas SET v = 30 WHERE id = 3")
        // A partition attached while Siphon streams, its columns in another order.
        try pipeline.sql("""
            CREATE TABLE meas_asia (v int, region text NOT NULL, id int NOT NULL);
            ALTER TABLE meas ATTACH PARTITION meas_asia FOR VALUES IN ('asia');
            INSERT INTO meas_asia (id, region, v) VALUES (4, 'asia', 4);
            """)
        try pipeline.waitForRowEvents(5, process: process)
        // Once detached, its rows are no longer the partitioned table's.
        try pipeline.sql("ALTER TABLE meas DETACH PARTITION meas_asia")
        try pipeline.sql("INSERT INTO meas_asia (id, region, v) VALUES (5, 'asia', 5)")
        try pipeline.sql("INSERT INTO meas VALUES (6, 'us', 6)")
        try eventually(timeout: .seconds(60), "the insert after the detach") {
            try pipeline.rowEvents().contains { $0[path: "key.id"] as? Int == 6 }
        }
        try pipeline.sql("UPDATE unkeyed SET id = 2")  // the application's UPDATE still works
        try pipeline.stop(process)

        let rows = try pipeline.rowEvents()
        XCTAssertEqual(rows.map { $0["op"] as? String }, ["r", "r", "c", "u", "c", "c"])
        XCTAssertEqual(rows.compactMap { $0[path: "key.id"] as? Int }, [1, 2, 3, 3, 4, 6])
        XCTAssertTrue(rows.allSatisfy { $0[path: "source.table"] as? String == "meas" }, "\(rows)")
        let attached = try XCTUnwrap(rows.first { $0[path: "key.id"] as? Int == 4 })
        XCTAssertEqual(attached[path: "after.region"] as? String, "asia")
        XCTAssertEqual(attached[path: "after.v"] as? Int, 4)
        XCTAssertEqual(attached[path: "key.region"] as? String, "asia")
        let schemas = try pipeline.events().filter { $0["tableChanges"] != nil }
        XCTAssertEqual(schemas.compactMap { $0[path: "source.table"] as? String }, ["meas"])
        // The one without a usable identity in every partition is left out, with the fix.
        XCTAssertTrue(process.stderrText.contains("public.unkeyed"), process.stderrText)
        XCTAssertTrue(process.stderrText.contains("unkeyed_eu"), process.stderrText)
        let published = try pipeline.sql(returning: "SELECT tablename FROM pg_publication_tables WHERE pubname = 'pub_\(pipeline.name)'")
        XCTAssertEqual(published, "meas")
    }

    func testExistingPublicationWithoutViaRootWarnsWithTheFix() throws {
        let pipeline = try PipelineHarness(server: server, tables: ["public.meas"], snapshot: "never", setup: """
            CREATE TABLE meas (id int PRIMARY KEY) PARTITION BY RANGE (id);
            CREATE TABLE meas_low PARTITION OF meas FOR VALUES FROM (0) TO (100);
            """)
        try pipeline.sql("CREATE PUBLICATION pub_\(pipeline.name) FOR TABLE meas")
        let process = try pipeline.start()
        try process.waitFor(stderrContaining: "streaming changes", timeout: .seconds(60))
        try pipeline.stop(process)
        XCTAssertTrue(process.stderrText.contains("ALTER PUBLICATION pub_\(pipeline.name) SET (publish_via_partition_root = true)"),
                      process.stderrText)
        XCTAssertTrue(process.stderrText.contains("public.meas"), process.stderrText)
    }
}
