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
}
