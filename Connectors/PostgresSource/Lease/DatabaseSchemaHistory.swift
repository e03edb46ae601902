import CLibPQ
import Foundation
import SiphonCore

/// With `lease:`, the schema history lives in the source database, in a
/// table Siphon owns, one row per slot:
///
///     siphon.schema_history(slot text PRIMARY KEY, pipeline text, history jsonb, updated_at timestamptz)
///
/// `history` is the document `schemas.json` would hold, so positions,
/// `forget(after:)` and "a fresh start ignores the history" work as with
/// the file; the instance that takes over reads what the one before it
/// wrote. The schema and table are created if missing (CREATE on the
/// database), never added to a publication, and left out of the tables
/// Siphon captures.
///
/// Written on its own autocommit connection with `synchronous_commit=on`
/// before the schema event it numbers is emitted, as the file is fsynced.
/// The calls block their thread (the decoder that records a version is
/// synchronous): a schema change is rare, and this costs one round trip.
struct DatabaseSchemaHistory: SchemaHistoryStore {
    static let schema = "siphon"
    static let table = "schema_history"
    let target: ConnectionTarget
    let slot: String
    let pipeline: String

    init(target: ConnectionTarget, slot: String, pipeline: String) {
        self.target = target.adding([
            "application_name": "siphon schema history", "options": "-c synchronous_commit=on",
            "connect_timeout": target.parameters["connect_timeout"] ?? "10",
        ])
        self.slot = slot
        self.pipeline = pipeline
    }

    var location: String { "\(Self.schema).\(Self.table) (slot \(slot)) on \(target.display)" }
    var damagedAdvice: String { "delete its row to rebuild schema versions from 1" }

    func read() throws -> [UInt8]? {
        try withConnection { connection in
            try ensureTable(connection)
            let rows = try execute(connection, "SELECT history::text FROM siphon.schema_history WHERE slot = $1", [slot])
            return rows.first?.first.flatMap { $0 }.map { Array($0.utf8) }
        }
    }

    func write(_ bytes: [UInt8]) throws {
        try withConnection { connection in
            try ensureTable(connection)
            try execute(connection, """
                INSERT INTO siphon.schema_history (slot, pipeline, history, updated_at) VALUES ($1, $2, $3::jsonb, now())
                ON CONFLICT (slot) DO UPDATE SET pipeline = excluded.pipeline, history = excluded.history, updated_at = now()
                """, [slot, pipeline, String(decoding: bytes, as: UTF8.self)])
        }
    }

    var exists: Bool {
        (try? withConnection { connection in
            let rows = try execute(connection, """
                SELECT to_regclass('siphon.schema_history') IS NOT NULL
                   AND EXISTS (SELECT 1 FROM siphon.schema_history WHERE slot = $1)
                """, [slot])
            return rows.first?.first == "t"
        }) ?? true
    }

    /// Creates the table when it is missing; looks first, so that a role
    /// without CREATE works once the table is there.
    private func ensureTable(_ connection: OpaquePointer) throws {
        let found = try execute(connection, "SELECT to_regclass('siphon.schema_history') IS NOT NULL", [])
        guard found.first?.first != "t" else { return }
        try execute(connection, """
            CREATE SCHEMA IF NOT EXISTS siphon;
            CREATE TABLE IF NOT EXISTS siphon.schema_history (
                slot text PRIMARY KEY, pipeline text NOT NULL, history jsonb NOT NULL,
                updated_at timestamptz NOT NULL DEFAULT now())
            """, [], simple: true)
    }

    private func withConnection<T>(_ body: (OpaquePointer) throws -> T) throws -> T {
        var parameters = target.parameters
        parameters["options"] = (parameters["options"].map { $0 + " " } ?? "") + "-c standard_conforming_strings=on"
        let keys = Array(parameters.keys)
        let handle = withCStringArray(keys) { keyPointers in
            withCStringArray(keys.map { parameters[$0]! }) { valuePointers in
                PQconnectdbParams(keyPointers, valuePointers, 0)
            }
        }
        guard let handle else { throw SiphonError(.sourceSetup, "out of memory connecting to \(target.display)", transient: true) }
        defer { PQfinish(handle) }
        guard PQstatus(handle) == CONNECTION_OK else { throw failure(handle, nil) }
        return try body(handle)
    }

    @discardableResult
    private func execute(_ connection: OpaquePointer, _ sql: String, _ parameters: [String], simple: Bool = false) throws -> [[String?]] {
        let result: OpaquePointer? = simple ? PQexec(connection, sql) : withCStringArray(parameters) { values in
            PQexecParams(connection, sql, Int32(parameters.count), nil, values, nil, nil, 0)
        }
        guard let result else { throw failure(connection, nil) }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK: return []
        case PGRES_TUPLES_OK:
            return (0..<PQntuples(result)).map { row in
                (0..<PQnfields(result)).map { column in
                    PQgetisnull(result, row, column) == 1 ? nil : String(cString: PQgetvalue(result, row, column))
                }
            }
        default: throw failure(connection, result)
        }
    }

    private func failure(_ connection: OpaquePointer, _ result: OpaquePointer?) -> SiphonError {
        let message = (result.flatMap { PQresultErrorMessage($0) } ?? PQerrorMessage(connection)).map { String(cString: $0) } ?? "unknown error"
        let state = result.flatMap { PQresultErrorField($0, Int32(UInt8(ascii: "C"))) }.map { String(cString: $0) }
        let code: PostgresError.Code = PQstatus(connection) == CONNECTION_OK ? .query : .connection
        let error = PostgresError(code, "schema history in \(Self.schema).\(Self.table): \(message)", sqlState: state, target: target)
        if state == "42501" {
            return SiphonError(.sourceSetup, "PostgreSQL at \(target.display) denied creating or writing siphon.schema_history, where lease: keeps schema versions: \(error.message). Run GRANT CREATE ON DATABASE <db> TO <user> once (or create the schema siphon for the user)")
        }
        return error.siphonError
    }
}

/// Calls `body` with a NULL-terminated array of C strings.
private func withCStringArray<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let duplicates = strings.map { strdup($0) }
    defer { duplicates.forEach { free($0) } }
    var pointers: [UnsafePointer<CChar>?] = duplicates.map { UnsafePointer($0) }
    pointers.append(nil)
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
