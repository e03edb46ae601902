import SiphonCore

/// A NATS subject with placeholders: `{prefix}.{schema}.{table}`.
///
/// The placeholders are the Kafka sink's topic placeholders: `{prefix}`,
/// `{db}`, `{schema}`, `{table}` and `{connector}`; parsing refuses any
/// other, and any text a subject cannot hold (spaces, the wildcards `*` and
/// `>`, an empty token such as `a..b`), so a typo fails validation instead
/// of naming subjects after it.
public struct SubjectTemplate: Sendable, Equatable {
    public typealias Part = NameTemplate.Part
    public typealias Values = NameTemplate.Values
    public typealias ParseError = NameTemplate.ParseError

    public let name: NameTemplate
    public var parts: [Part] { name.parts }
    public var text: String { name.text }

    public static let defaultRows = try! SubjectTemplate("{prefix}.{schema}.{table}")
    /// Not `{prefix}` alone (the Kafka sink's schema topic): the stream's
    /// default subjects, `{prefix}.>`, must cover it.
    public static let defaultSchema = try! SubjectTemplate("{prefix}.schema")
    public static let defaultMessages = try! SubjectTemplate("{prefix}.message")
    public static let defaultTransactions = try! SubjectTemplate("{prefix}.transaction")

    /// A value a placeholder may not take, in any subject: a dot would add
    /// a token (and escape the stream's subject filter), the rest are not
    /// allowed in a subject at all.
    static func isUnfit(_ value: Substring) -> Bool {
        value.isEmpty || value.contains { $0 == "." || $0 == "*" || $0 == ">" || $0.isWhitespace }
    }

    public init(_ text: String) throws {
        name = try NameTemplate(text)
        for case let .text(literal) in name.parts
        where literal.contains(where: { $0 == "*" || $0 == ">" || $0.isWhitespace }) {
            throw ParseError(description: "must not hold wildcards (* or >) or spaces: it names the subject each event is published to")
        }
        // Each placeholder stands for one token's worth of text: an empty token is the literal's fault.
        let sample = name.parts.map { if case let .text(literal) = $0 { literal } else { "x" } }.joined()
        if sample.split(separator: ".", omittingEmptySubsequences: false).contains(where: \.isEmpty) {
            throw ParseError(description: "has an empty token (a leading, trailing or doubled '.')")
        }
    }

    public var usesSourceFacts: Bool { name.usesSourceFacts }
    public var usesTable: Bool { name.usesTable }

    /// The subject, or the name of the placeholder whose value a subject
    /// cannot hold (see `isUnfit`).
    public func render(_ values: Values) -> Result<String, UnfitValue> {
        var result = ""
        for part in parts {
            let value = values.value(of: part)
            switch part {
            case .text, .prefix:
                result += value
                continue
            default: break
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
