import SiphonCore

/// A failure of the target PostgreSQL, as the one line a person reads:
/// what failed, where, and what to do. Never holds the password.
enum PostgresSinkError {
    /// Classifies a failure: transient when retrying may help (the server is
    /// unreachable, restarting, or chose this transaction as a deadlock
    /// victim); permanent otherwise, with what to fix.
    static func make(_ message: String, sqlState: String?, connectionLost: Bool, address: TargetAddress, doing: String) -> SiphonError {
        let line = address.redact(message.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }.joined(separator: "; "))
        let target = "PostgreSQL target at \(address.display)"
        let lower = line.lowercased()
        if sqlState == "28P01" || lower.contains("password authentication failed") {
            return SiphonError(.sink, "\(target) rejected the password: fix the password in sink.url (or the environment variable it comes from)")
        }
        if lower.contains("no pg_hba.conf entry") {
            return SiphonError(.sink, "\(target) has no pg_hba.conf entry for this connection: add one for user \(address.user) and reload")
        }
        if sqlState == "3D000" || (lower.contains("database") && lower.contains("does not exist")) {
            return SiphonError(.sink, "\(target): \(line): create the database or fix dbname in sink.url")
        }
        if lower.contains("role") && lower.contains("does not exist") {
            return SiphonError(.sink, "\(target): \(line): create the role or fix user in sink.url")
        }
        if sqlState == "42501" || lower.contains("permission denied") {
            return SiphonError(.sink, "\(target) denied a permission while \(doing): \(line): grant user \(address.user) USAGE and CREATE on the target schema and SELECT, INSERT, UPDATE, DELETE, TRUNCATE on the target tables (README 'Database sinks')")
        }
        if sqlState == "40001" || sqlState == "40P01" || sqlState == "55P03" {
            return SiphonError(.sink, "\(target) aborted the transaction while \(doing) (\(line)); it will be retried", transient: true)
        }
        if connectionLost || sqlState?.hasPrefix("08") == true || sqlState?.hasPrefix("57P") == true
            || sqlState?.hasPrefix("53") == true
            || lower.contains("could not connect") || lower.contains("connection refused") || lower.contains("server closed the connection") {
            return SiphonError(.sink, "cannot reach \(target) while \(doing): \(line)", transient: true)
        }
        return SiphonError(.sink, "\(target) failed while \(doing): \(line)")
    }
}
