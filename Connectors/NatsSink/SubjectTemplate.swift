import SiphonCore

/// A NATS subject with placeholders: `{prefix}.{schema}.{table}`.
///
/// The placeholders are the Kafka sink's topic placeholders: `{prefix}`,
/// `{db}`, `{schema}`, `{table}` and `{connector}`; parsing refuses any
/// other, and any text a subject cannot hold (spaces, the wildcards `*` and
/// `>`, an empty token such as `a..b`), so a typo fails validation instead
/// of naming subjects after it.
public struct SubjectTemplate: Sendable, Equatable {
    public enum Part: Sendable, Equatable {
        case text(String)
        case prefix, db, schema, table, connector
    }

    public let parts: [Part]
    public let text: String

    public static let defaultRows = try! SubjectTemplate("{prefix}.{schema}.{table}")
    /// Not `{prefix}` alone (the Kafka sink's schema topic): the stream's
    /// default subjects, `{prefix}.>`, must cover it.
    public static let defaultSchema = try! SubjectTemplate("{prefix}.schema")
    public static let defaultMessages = try! SubjectTemplate("{prefix}.message")

    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// A value a placeholder may not take, in any subject: a dot would add
    /// a token (and escape the stream's subject filter), the rest are not
    /// allowed in a subject at all.
    static func isUnfit(_ value: Substring) -> Bool {
        value.isEmpty || value.contains { $0 == "." || $0 == "*" || $0 == ">" || $0.isWhitespace }
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
        guard !parts.isEmpty else { throw ParseError(description: "must not be empty") }
        for case let .text(literal) in parts {
            if literal.contains("}") { throw ParseError(description: "has a '}' without its '{'") }
            if literal.contains(where: { $0 == "*" || $0 == ">" || $0.isWhitespace }) {
                throw ParseError(description: "must not hold wildcards (* or >) or spaces: it names the subject each event is published to")
            }
        }
        // Each placeholder stands for one token's worth of text: an empty token is the literal's fault.
        let sample = parts.map { if case let .text(literal) = $0 { literal } else { "x" } }.joined()
        if sample.split(separator: ".", omittingEmptySubsequences: false).contains(where: \.isEmpty) {
            throw ParseError(description: "has an empty token (a leading, trailing or doubled '.')")
        }
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
    }

    public var usesSourceFacts: Bool { parts.contains(.db) || parts.contains(.connector) }
    public var usesTable: Bool { parts.contains(.schema) || parts.contains(.table) }

    /// The subject, or the name of the placeholder whose value a subject
    /// cannot hold (see `isUnfit`).
    public func render(_ values: Values) -> Result<String, UnfitValue> {
        var result = ""
        for part in parts {
            let value: String
            switch part {
            case let .text(text):
                result += text
                continue
            case .prefix:
                result += values.prefix
                continue
            case .db: value = values.db
            case .schema: value = values.schema
            case .table: value = values.table
            case .connector: value = values.connector
            }
            if Self.isUnfit(Substring(value)) { return .failure(UnfitValue(placeholder: "\(part)", value: value)) }
            result += value
        }
        return .success(result)
    }

    public struct UnfitValue: Error, Sendable {
        public var placeholder: String
        public var value: String
    }

    /// The subject filter every subject this template renders with `prefix`
    /// matches: `{prefix}` in place, each token holding another placeholder
    /// as `*` (a placeholder's value never holds a dot: `render` refuses it).
    public func filter(prefix: String) -> String {
        let marker: Character = "\u{1}"
        var text = ""
        for part in parts {
            switch part {
            case let .text(literal): text += literal
            case .prefix: text += prefix
            default: text.append(marker)
            }
        }
        return text.split(separator: ".", omittingEmptySubsequences: false)
            .map { $0.contains(marker) ? "*" : String($0) }
            .joined(separator: ".")
    }
}
