import SiphonCore

/// A topic name with placeholders: `{prefix}.{schema}.{table}`.
///
/// Known placeholders are `{prefix}`, `{db}`, `{schema}`, `{table}` and
/// `{connector}`; parsing refuses any other, so a typo fails validation
/// instead of naming topics after it.
public struct TopicTemplate: Sendable, Equatable {
    public enum Part: Sendable, Equatable {
        case text(String)
        case prefix, db, schema, table, connector
    }

    public let parts: [Part]
    public let text: String

    public static let defaultRows = try! TopicTemplate("{prefix}.{schema}.{table}")
    public static let defaultSchema = try! TopicTemplate("{prefix}")
    public static let defaultMessages = try! TopicTemplate("{prefix}.message")
    public static let defaultTransactions = try! TopicTemplate("{prefix}.transaction")

    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    public init(_ text: String) throws {
        self.text = text
        var parts: [Part] = []
        var rest = Substring(text)
        while let open = rest.firstIndex(of: "{") {
            if open > rest.startIndex { parts.append(.text(String(rest[..<open]))) }
            guard let close = rest[open...].firstIndex(of: "}") else {
                throw ParseError(description: "has a '{' without its '}'")
            }
            let name = rest[rest.index(after: open)..<close]
            switch name {
            case "prefix": parts.append(.prefix)
            case "db": parts.append(.db)
            case "schema": parts.append(.schema)
            case "table": parts.append(.table)
            case "connector": parts.append(.connector)
            default:
                throw ParseError(description: "names an unknown placeholder {\(name)}; use {prefix}, {db}, {schema}, {table} or {connector}")
            }
            rest = rest[rest.index(after: close)...]
        }
        if !rest.isEmpty { parts.append(.text(String(rest))) }
        if rest.contains("}") || parts.contains(where: { if case let .text(t) = $0 { t.contains("}") } else { false } }) {
            throw ParseError(description: "has a '}' without its '{'")
        }
        guard !parts.isEmpty else { throw ParseError(description: "must not be empty") }
        self.parts = parts
    }

    /// What the event's table and source fill in.
    public struct Values: Sendable {
        public var prefix: String
        public var db: String
        public var schema: String
        public var table: String
        public var connector: String

        public init(prefix: String, db: String, schema: String, table: String, connector: String) {
            self.prefix = prefix
            self.db = db
            self.schema = schema
            self.table = table
            self.connector = connector
        }
    }

    public var usesSourceFacts: Bool { parts.contains(.db) || parts.contains(.connector) }

    public func render(_ values: Values) -> String {
        var result = ""
        for part in parts {
            switch part {
            case let .text(text): result += text
            case .prefix: result += values.prefix
            case .db: result += values.db
            case .schema: result += values.schema
            case .table: result += values.table
            case .connector: result += values.connector
            }
        }
        return result
    }

    /// Whether `topic` may be a name this template renders with `prefix`:
    /// `{prefix}` must match exactly, any other placeholder stands for one
    /// or more characters.
    public func matches(_ topic: String, prefix: String) -> Bool {
        var pattern: [Part] = []
        for part in parts {
            switch part {
            case let .text(text): pattern.append(.text(text))
            case .prefix: pattern.append(.text(prefix))
            default: pattern.append(part)
            }
        }
        return Self.match(Array(topic.utf8)[...], pattern[...])
    }

    private static func match(_ topic: ArraySlice<UInt8>, _ pattern: ArraySlice<Part>) -> Bool {
        guard let first = pattern.first else { return topic.isEmpty }
        if case let .text(text) = first {
            let bytes = Array(text.utf8)
            guard topic.starts(with: bytes) else { return false }
            return match(topic.dropFirst(bytes.count), pattern.dropFirst())
        }
        guard !topic.isEmpty else { return false }
        for end in (topic.startIndex + 1)...topic.endIndex where match(topic[end...], pattern.dropFirst()) {
            return true
        }
        return false
    }
}
