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
        reader.finish()
        var valid = url != nil && slot != nil
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
    }

    /// The shortest pause `retry_delay` may ask for between reconnects.
    static let minimumRetryDelay = Duration.milliseconds(10)

    static func isValidSlotName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 63
            && name.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F }
    }
}
