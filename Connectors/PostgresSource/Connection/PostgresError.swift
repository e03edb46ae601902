import Foundation

import SiphonCore

/// A failure talking to PostgreSQL, with the server's SQLSTATE when known.
/// The message never contains the password.
struct PostgresError: Error, CustomStringConvertible {
    struct Code: Hashable, Sendable {
        let rawValue: String
        init(_ rawValue: String) { self.rawValue = rawValue }
        static let connection = Code("connection")
        static let query = Code("query")
        static let protocolViolation = Code("protocol")
    }

    let code: Code
    let message: String
    let sqlState: String?
    let target: String

    init(_ code: Code, _ message: String, sqlState: String? = nil, target: ConnectionTarget) {
        self.code = code
        let oneLine = message.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }.joined(separator: "; ")
        self.message = target.redact(oneLine)
        self.sqlState = sqlState
        self.target = target.display
    }

    var description: String { message }

    /// Classifies the failure: what a person must fix, or a transient error worth retrying.
    var siphonError: SiphonError {
        let lower = message.lowercased()
        if sqlState == "28P01" || lower.contains("password authentication failed") {
            return SiphonError(.sourceSetup, "PostgreSQL at \(target) rejected the password: fix the password in source.url (or the environment variable it comes from)")
        }
        if lower.contains("no password supplied") {
            return SiphonError(.sourceSetup, "PostgreSQL at \(target) wants a password: add password=... to source.url")
        }
        if lower.contains("no pg_hba.conf entry") {
            let replication = lower.contains("replication connection")
            return SiphonError(.sourceSetup, "PostgreSQL at \(target) has no pg_hba.conf entry for this \(replication ? "replication " : "")connection: add a line such as 'host \(replication ? "replication" : "all") <user> <siphon's address>/32 scram-sha-256' and reload")
        }
        if sqlState == "3D000" || (lower.contains("database") && lower.contains("does not exist")) {
            return SiphonError(.sourceSetup, "PostgreSQL at \(target): \(message): fix dbname in source.url")
        }
        if lower.contains("must be superuser or replication role") || lower.contains("permission denied to start wal sender")
            || lower.contains("must have replication") || lower.contains("replication role") {
            return SiphonError(.sourceSetup, "user at \(target) may not use replication: run ALTER ROLE <user> REPLICATION (or use a role that has it)")
        }
        if sqlState == "42501" {
            return SiphonError(.sourceSetup, "PostgreSQL at \(target) denied a permission: \(message): see README 'Pointing Siphon at your PostgreSQL' for the grants it needs")
        }
        if lower.contains("wal_level") {
            return SiphonError(.sourceSetup, "PostgreSQL at \(target) needs wal_level = logical (now: \(message)): set it in postgresql.conf and restart the server")
        }
        if code == .connection || sqlState?.hasPrefix("08") == true || lower.contains("server closed the connection")
            || lower.contains("terminating connection") || lower.contains("could not receive data from server") || sqlState?.hasPrefix("57P") == true
            || sqlState == "53300" || sqlState == "55006" {
            return SiphonError(.sourceSetup, "cannot reach PostgreSQL at \(target): \(message)", transient: true)
        }
        return SiphonError(.sourceFatal, "PostgreSQL at \(target): \(message)")
    }
}
