import SiphonCore

/// A topic name with placeholders (`NameTemplate`), with the Kafka sink's
/// defaults, and the matching of existing topics against it.
public struct TopicTemplate: Sendable, Equatable {
    public typealias Part = NameTemplate.Part
    public typealias Values = NameTemplate.Values
    public typealias ParseError = NameTemplate.ParseError

    public let name: NameTemplate
    public var parts: [Part] { name.parts }
    public var text: String { name.text }

    public static let defaultRows = try! TopicTemplate("{prefix}.{schema}.{table}")
    public static let defaultSchema = try! TopicTemplate("{prefix}")
    public static let defaultMessages = try! TopicTemplate("{prefix}.message")
    public static let defaultTransactions = try! TopicTemplate("{prefix}.transaction")

    public init(_ text: String) throws {
        name = try NameTemplate(text)
    }

    public var usesSourceFacts: Bool { name.usesSourceFacts }

    public func render(_ values: Values) -> String { name.render(values) }

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
