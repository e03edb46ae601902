import Foundation
import SiphonCore

extension PostgresSourceConfiguration {
    /// Reads and validates the `source:` mapping, reporting every problem
    /// with its key path. Returns nil when something is wrong.
    public init?(reading reader: ConfigReader) {
        let url = reader.requiredString("url")
        let slot = reader.requiredString("slot")
        let publication = reader.string("publication")
        let tables = reader.stringList("tables", default: ["public.*"])
        let snapshot = reader.choice("snapshot", allowed: ["initial", "never"], default: "initial")
        let statusInterval = reader.duration("status_interval", default: .seconds(10))
        let streaming = reader.bool("streaming", default: true)
        let binary = reader.bool("binary", default: true)
        let messages = reader.bool("messages", default: true)
        let retryDelay = reader.duration("retry_delay", default: .milliseconds(500))
        let maxRetryDelay = reader.duration("max_retry_delay", default: .seconds(30))
        var valid = url != nil && slot != nil
        var heartbeat: Heartbeat?
        if let mapping = reader.child("heartbeat") {
            let interval = mapping.duration("interval", default: .seconds(30))
            let query = mapping.string("query") ?? Heartbeat.defaultQuery
            if interval < .seconds(1) || interval > .seconds(86_400) {
                mapping.report("interval", "must be between 1s and 24h")
                valid = false
            }
            if query.trimmingCharacters(in: .whitespaces).isEmpty {
                mapping.report("query", "must be a SQL statement, or left out for pg_logical_emit_message")
                valid = false
            }
            mapping.finish()
            heartbeat = Heartbeat(interval: interval, query: query)
        }
        var maxLagBytes: Int64?
        if let text = reader.scalarText("max_lag") {
            maxLagBytes = Self.bytes(text)
            if maxLagBytes == nil || maxLagBytes! <= 0 {
                reader.report("max_lag", "must be a size such as 1GB, 500MB or 1048576 (bytes)")
                valid = false
            }
        }
        reader.finish()
        if let url {
            do {
                _ = try ConnectionTarget(url)
            } catch {
                reader.report("url", error.text)
                valid = false
            }
        }
        for (key, name) in [("slot", slot), ("publication", publication)] {
            guard let name else { continue }
            if !Self.isValidSlotName(name) {
                reader.report(key, "must be 1 to 63 lower-case letters, digits or underscores (got '\(name)')")
                valid = false
            }
        }
        if tables.isEmpty {
            reader.report("tables", "must list at least one pattern such as \"public.*\"")
            valid = false
        }
        for (index, pattern) in tables.enumerated() where pattern.split(separator: ".", omittingEmptySubsequences: false).count > 2 || pattern.isEmpty {
            reader.report("tables[\(index)]", "must be schema.table with * wildcards (got '\(pattern)')")
            valid = false
        }
        if statusInterval <= .zero || statusInterval > .seconds(3600) {
            reader.report("status_interval", "must be between 1ms and 1h")
            valid = false
        }
        // Each failed attempt logs a line: 0s once made 13,000 attempts in two seconds.
        let minimum = Reconnector.format(Self.minimumRetryDelay)
        if retryDelay < Self.minimumRetryDelay {
            reader.report("retry_delay", "must be at least \(minimum), such as 500ms")
            valid = false
        }
        if maxRetryDelay < retryDelay {
            reader.report("max_retry_delay", "must be at least retry_delay (\(Reconnector.format(retryDelay)))")
            valid = false
        } else if maxRetryDelay < Self.minimumRetryDelay {
            reader.report("max_retry_delay", "must be at least \(minimum)")
            valid = false
        }
        guard valid, let url, let slot else { return nil }
        self.init(url: url, slot: slot, publication: publication, tables: tables,
                  snapshot: SnapshotMode(rawValue: snapshot) ?? .initial, statusInterval: statusInterval,
                  streaming: streaming, binary: binary, retryDelay: retryDelay, maxRetryDelay: maxRetryDelay)
        self.messages = messages
        self.heartbeat = heartbeat
        self.maxLagBytes = maxLagBytes
    }

    /// `1GB`, `500MB`, `64kB`, `1048576`: PostgreSQL's units, powers of 1024.
    static func bytes(_ text: String) -> Int64? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let digits = trimmed.prefix { $0.isNumber }
        guard let number = Int64(digits) else { return nil }
        let unit = trimmed.dropFirst(digits.count).trimmingCharacters(in: .whitespaces).lowercased()
        let shifts: [String: Int64] = ["": 0, "b": 0, "kb": 10, "mb": 20, "gb": 30, "tb": 40]
        guard let shift = shifts[unit], number <= Int64.max >> shift else { return nil }
        return number << shift
    }

    /// The shortest pause `retry_delay` may ask for between reconnects.
    static let minimumRetryDelay = Duration.milliseconds(10)

    static func isValidSlotName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 63
            && name.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F }
    }
}
