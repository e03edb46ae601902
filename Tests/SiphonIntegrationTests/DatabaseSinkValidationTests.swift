import Foundation
import SiphonTestSupport
import XCTest

/// `siphon validate` on database sinks: every bad key at once, exit 2, each
/// named with its path; the url's password never printed.
final class DatabaseSinkValidationTests: XCTestCase {
    private func validate(_ sink: String) throws -> (status: Int32, stdout: String, stderr: String) {
        let folder = try TemporaryDirectory()
        let path = folder.path + "/pipeline.yaml"
        try """
            version: 1
            name: replica
            source:
              type: postgres
              url: "host=127.0.0.1 dbname=app user=siphon"
              slot: replica
            sink:
              \(sink.replacingOccurrences(of: "\n", with: "\n  "))
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return try SiphonProcess.run(["validate", "--config", path])
    }

    func testBadPostgresSinkKeysExitTwoNamingEachKey() throws {
        let result = try validate("""
            type: postgres
            url: "host=127.0.0.1 password=Sekr1t-word bogus"
            replication_role: master
            batch_max_events: 0
            batch_max_delay: 0s
            schema: ""
            tables:
              nodot: x
              public.orders: ""
            create_tablez: true
            """)
        XCTAssertEqual(result.status, 2, result.stderr)
        for expected in ["sink.url: not a valid conninfo", "sink.replication_role: must be one of origin, replica",
                         "sink.batch_max_events", "sink.batch_max_delay: must be between", "sink.schema: must be a schema name",
                         "sink.tables.nodot: must be a source table as schema.table", "sink.tables.public.orders: must name the target table",
                         "sink.create_tablez: unknown key (did you mean 'create_tables'?)"] {
            XCTAssertTrue(result.stderr.contains(expected), "'\(expected)' not in:\n\(result.stderr)")
        }
        XCTAssertFalse(result.stderr.contains("Sekr1t") || result.stdout.contains("Sekr1t"), result.stderr)
    }

    func testBadSQLiteSinkKeysExitTwoNamingEachKey() throws {
        let result = try validate("""
            type: sqlite
            tables:
              a.t: same
              b.t: same
            batch_max_delay: 2h
            """)
        XCTAssertEqual(result.status, 2, result.stderr)
        for expected in ["sink.path: required", "sink.tables.b.t: maps to table same, as a.t does", "sink.batch_max_delay: must be between"] {
            XCTAssertTrue(result.stderr.contains(expected), "'\(expected)' not in:\n\(result.stderr)")
        }
    }

    func testValidDatabaseSinksPassWithoutReachingAnything() throws {
        let folder = try TemporaryDirectory()
        for sink in ["type: postgres\nurl: \"postgres://siphon:pw@127.0.0.1:1/replica\"\nreplication_role: replica",
                     "type: sqlite\npath: \(folder.appending("edge.db"))"] {
            let result = try validate(sink)
            XCTAssertEqual(result.status, 0, result.stderr)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appending("edge.db")), "validate created the target file")
    }
}
