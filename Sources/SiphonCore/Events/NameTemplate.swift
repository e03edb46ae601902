/// A destination name with placeholders, such as a Kafka topic or a NATS
/// subject: `{prefix}.{schema}.{table}`.
///
/// The placeholders are `{prefix}`, `{db}`, `{schema}`, `{table}` and
/// `{connector}`; parsing refuses any other, so a typo fails validation
/// instead of naming destinations after it. Each sink wraps it with its
/// defaults and its own limits (what a subject may hold, say).
public struct NameTemplate: Sendable, Equatable {
    public enum Part: Sendable, Equatable {
        case text(String)
        case prefix, db, schema, table, connector
    }

    public let parts: [Part]
    public let text: String

    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public var description: String

        public init(description: String) {
            self.description = description
        }
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
        if parts.contains(where: { if case let .text(literal) = $0 { literal.contains("}") } else { false } }) {
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

        public init(prefix: String, db: String = "", schema: String = "", table: String = "", connector: String = "") {
            self.prefix = prefix
            self.db = db
            self.schema = schema
            self.table = table
            self.connector = connector
        }

        /// The value `part` stands for (a literal stands for itself).
        public func value(of part: Part) -> String {
            switch part {
            case let .text(text): text
            case .prefix: prefix
            case .db: db
            case .schema: schema
            case .table: table
            case .connector: connector
            }
        }
    }

    /// Whether rendering needs `source.db` or `source.connector` from the event.
    public var usesSourceFacts: Bool { parts.contains(.db) || parts.contains(.connector) }
    /// Whether rendering needs the event's table.
    public var usesTable: Bool { parts.contains(.schema) || parts.contains(.table) }

    public func render(_ values: Values) -> String {
        parts.map(values.value(of:)).joined()
    }
}
