import Foundation
import Logging
import PostgresSink
import SiphonCore
import SiphonTestSupport
import SiphonTesting
import XCTest

/// What the sink says when the target refuses it: a permanent error on one
/// line, saying what to fix, for what a person must change; a transient
/// one for an unreachable target; the password never.
final class PostgresSinkErrorTests: XCTestCase {
    static let password = "Sekr3t-pa55"

    private func sink(_ url: String) -> PostgresSink {
        PostgresSink(configuration: PostgresSinkConfiguration(url: url), pipeline: "errors", logger: Logger(label: "errors"))
    }

    private func write(_ sink: PostgresSink) async throws {
        _ = try await sink.open()
        var batch = EventBatch()
        TestEvents.append(to: &batch, position: Position(high: 1, low: 0), key: 1, pipeline: "errors", endsTransaction: true)
        try await sink.write(batch)
        _ = try await sink.flush()
    }

    private func expectOneLine(_ error: SiphonError, transient: Bool, containing parts: [String],
                               file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(error.isTransient, transient, error.message, file: file, line: line)
        XCTAssertFalse(error.message.contains("\n"), "not one line: \(error.message)", file: file, line: line)
        XCTAssertFalse(error.message.contains(Self.password), "the password is in: \(error.message)", file: file, line: line)
        for part in parts {
            XCTAssertTrue(error.message.contains(part), "'\(part)' is not in: \(error.message)", file: file, line: line)
        }
    }

    func testPermissionDeniedOnATargetTableIsPermanent() async throws {
        let server = try PostgresServer.start()
        try server.createDatabase("app")
        try server.psql("""
            CREATE ROLE writer LOGIN PASSWORD '\(Self.password)';
            CREATE SCHEMA s; GRANT USAGE ON SCHEMA s TO writer;
            CREATE TABLE s.t (id bigint PRIMARY KEY);
            CREATE TABLE public._siphon_offsets (pipeline text PRIMARY KEY, position text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now());
            GRANT SELECT, INSERT, UPDATE ON public._siphon_offsets TO writer;
            """, database: "app")
        let sink = sink(server.conninfo(database: "app", user: "writer", password: Self.password))
        do {
            try await write(sink)
            XCTFail("writing to a table the user may not write succeeded")
        } catch let error as SiphonError {
            expectOneLine(error, transient: false, containing: ["permission denied for table t", "user writer", "grant"])
        }
        try await sink.close()
        XCTAssertEqual(try server.psql("SELECT count(*) FROM s.t", database: "app"), "0")
    }

    func testWrongPasswordIsPermanentAndNotQuoted() async throws {
        let server = try PostgresServer.start()
        let sink = sink(server.conninfo(database: "postgres", user: "postgres", password: Self.password))
        do {
            _ = try await sink.open()
            XCTFail("a wrong password was accepted")
        } catch let error as SiphonError {
            expectOneLine(error, transient: false, containing: ["rejected the password", "sink.url"])
        }
        try await sink.close()
    }

    func testUnreachableTargetIsTransient() async throws {
        let server = try PostgresServer.start()
        let url = server.conninfo(database: "postgres", user: "postgres", password: Self.password)
        try server.stop()
        let sink = sink(url)
        do {
            _ = try await sink.open()
            XCTFail("connected to a stopped server")
        } catch let error as SiphonError {
            expectOneLine(error, transient: true, containing: ["cannot reach PostgreSQL target", "port=\(server.port)"])
        }
        try await sink.close()
    }

    /// The sink sends a target transaction's statements without waiting
    /// for each (libpq pipeline mode), and the next transaction's before the
    /// previous one's outcome is read. A statement that fails there must
    /// take its whole target transaction with it, rows already written by
    /// earlier statements of it included, record no position past the last
    /// transaction that committed, and stop the sink with the target's error.
    func testAFailedStatementInAPipelinedBatchCommitsNothingOfItsTransaction() async throws {
        let server = try PostgresServer.start()
        try server.createDatabase("app")
        try server.psql("""
            CREATE SCHEMA s;
            CREATE TABLE s.t (id bigint PRIMARY KEY, note text);
            CREATE TABLE s.u (id bigint PRIMARY KEY, note text CONSTRAINT no_bad_notes CHECK (note <> 'bad'));
            """, database: "app")
        // Two events per target transaction, and no commit for time.
        let configuration = PostgresSinkConfiguration(url: server.conninfo(database: "app"), batchMaxEvents: 2,
                                                      batchMaxDelay: .seconds(600))
        let t = TableName(schema: "s", name: "t"), u = TableName(schema: "s", name: "u")
        func position(_ n: UInt64) -> Position { Position(high: n, low: 0) }
        let sink = PostgresSink(configuration: configuration, pipeline: "pipelined", logger: Logger(label: "pipelined"))
        _ = try await sink.open()
        var first = EventBatch()
        TestEvents.append(to: &first, position: position(1), key: 1, pipeline: "pipelined", endsTransaction: true, table: t, note: "one")
        try await sink.write(first)
        let flushed = try await sink.flush()
        XCTAssertEqual(flushed, position(1))

        // Source transactions 2 and 3 fill one target transaction, sent
        // before transaction 4 (a good row into t, then one the target
        // refuses into u) is read and sent behind it.
        var batch = EventBatch()
        TestEvents.append(to: &batch, position: position(2), key: 2, pipeline: "pipelined", endsTransaction: true, table: t, note: "two")
        TestEvents.append(to: &batch, position: position(3), key: 3, pipeline: "pipelined", endsTransaction: true, table: t, note: "three")
        TestEvents.append(to: &batch, position: position(4), key: 4, pipeline: "pipelined", table: t, note: "four")
        TestEvents.append(to: &batch, position: position(5), key: 5, pipeline: "pipelined", endsTransaction: true, table: u, note: "bad")
        do {
            try await sink.write(batch)
            let durable = try await sink.flush()
            XCTFail("a target transaction with a refused row was reported durable through \(durable?.description ?? "nothing")")
        } catch let error as SiphonError {
            XCTAssertFalse(error.isTransient, error.message)
            XCTAssertTrue(error.message.contains("no_bad_notes"), error.message)
        }
        try await sink.close()

        XCTAssertEqual(try server.psql("SELECT string_agg(id::text, ',' ORDER BY id) FROM s.t", database: "app"), "1,2,3")
        XCTAssertEqual(try server.psql("SELECT count(*) FROM s.u", database: "app"), "0")
        XCTAssertEqual(try server.psql("SELECT position FROM _siphon_offsets WHERE pipeline = 'pipelined'", database: "app"),
                       position(3).description)
        // Opened again, the sink resumes after what committed.
        let reopened = PostgresSink(configuration: configuration, pipeline: "pipelined", logger: Logger(label: "pipelined"))
        let held = try await reopened.open()
        XCTAssertEqual(held, .tracked(last: position(3)))
        try await reopened.close()
    }
}
