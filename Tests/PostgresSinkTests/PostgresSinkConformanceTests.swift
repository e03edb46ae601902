import Foundation
import Logging
import PostgresSink
import SiphonCore
import SiphonTestSupport
import SiphonTesting
import XCTest

/// The PostgreSQL sink keeps every promise of the sink conformance suite,
/// against a real cluster (a new database per check).
///
/// A database holds rows, not events: changes to a key collapse into its
/// last state. What the destination holds is therefore read as the events
/// up to the position in `_siphon_offsets`, and only after checking, with
/// SQL, that the table's rows are exactly the keys those events wrote: a
/// row committed without its position (or a position without its rows)
/// fails every check.
final class PostgresSinkConformanceTests: XCTestCase {
    nonisolated(unsafe) static var server: PostgresServer?

    override class func setUp() {
        super.setUp()
        server = try? PostgresServer.start()
    }

    override class func tearDown() {
        server = nil
        super.tearDown()
    }

    struct Subject: SinkConformanceSubject {
        var exactlyOnce: Bool { true }
        var tracksPosition: Bool { true }
        func makeDestination() throws -> any ConformanceDestination {
            try Destination(server: try XCTUnwrap(PostgresSinkConformanceTests.server, "the target cluster did not start"))
        }
    }

    final class Destination: ConformanceDestination, @unchecked Sendable {
        let server: PostgresServer
        let database = "conformance_\(UUID().uuidString.prefix(8).lowercased())"
        private var url: String
        /// The events the suite's sources send (the same list for every check).
        static let sent = MemorySource(pipeline: "conformance", transactions: MemorySource.randomTransactions(120)).events

        init(server: PostgresServer) throws {
            self.server = server
            try server.createDatabase(database)
            try server.psql("CREATE SCHEMA s; CREATE TABLE s.t (id bigint PRIMARY KEY)", database: database)
            url = server.conninfo(database: database)
        }

        func makeSink(pipeline: String) throws -> any Sink {
            PostgresSink(configuration: PostgresSinkConfiguration(url: url, batchMaxEvents: 50, batchMaxDelay: .milliseconds(20)),
                         pipeline: pipeline, logger: Logger(label: "conformance"))
        }

        func storedEvents() throws -> [ConformanceEvent] {
            let exists = try server.psql("SELECT to_regclass('public._siphon_offsets') IS NOT NULL", database: database)
            let text = exists == "t"
                ? try server.psql("SELECT position FROM _siphon_offsets WHERE pipeline = 'conformance'", database: database) : ""
            let held = Position(text).map { last in Self.sent.filter { $0.position <= last } } ?? []
            let rows = try server.psql("SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM s.t", database: database)
            let expected = Set(held.map(\.key)).sorted().map(String.init).joined(separator: ",")
            guard rows == expected else {
                throw TestSupportError("the rows of s.t (\(rows)) are not those of the events up to the recorded position \(text) (\(expected))")
            }
            return held.map { ConformanceEvent(position: $0.position, key: String($0.key)) }
        }

        /// Every write to s.t fails as a serialization failure (SQLSTATE
        /// 40001) would, which retrying resolves: `open` still succeeds, as
        /// after a deadlock or a failover the pipeline reconnects. (An
        /// unreachable target is `PostgresSinkErrorTests`'.)
        func induceTransientFailure() throws -> Bool {
            try server.psql("""
                CREATE OR REPLACE FUNCTION s.fail() RETURNS trigger LANGUAGE plpgsql AS
                  $$BEGIN RAISE EXCEPTION 'induced serialization failure' USING ERRCODE = '40001'; END$$;
                CREATE TRIGGER fail BEFORE INSERT OR UPDATE ON s.t FOR EACH ROW EXECUTE FUNCTION s.fail();
                """, database: database)
            return true
        }

        func clearTransientFailure() throws {
            try server.psql("DROP TRIGGER fail ON s.t", database: database)
        }

        /// The sink connects as a role that may not create `_siphon_offsets`.
        func inducePermanentFailure() throws -> Bool {
            try server.psql("DROP ROLE IF EXISTS limited; CREATE ROLE limited LOGIN PASSWORD 'Limited-pw-1'")
            url = server.conninfo(database: database, user: "limited", password: "Limited-pw-1")
            return true
        }

        /// A committed transaction is whole or absent: nothing torn.
        func simulateCrashDamage() throws {}
    }

    var suite: SinkConformance { SinkConformance(subject: Subject()) }

    func testDeliversEveryEventInOrderPerKey() async throws { try await suite.deliversEveryEventInOrderPerKey() }
    func testAcknowledgesOnlyWhatIsDurable() async throws { try await suite.acknowledgesOnlyWhatIsDurable() }
    func testResumesAfterACrash() async throws { try await suite.resumesAfterACrash() }
    func testRefusesACheckpointAheadOfTheSink() async throws { try await suite.refusesACheckpointAheadOfTheSink() }
    func testStopsOnPermanentErrors() async throws { try await suite.stopsOnPermanentErrors() }
    func testRecoversFromTransientErrors() async throws { try await suite.recoversFromTransientErrors() }
}
