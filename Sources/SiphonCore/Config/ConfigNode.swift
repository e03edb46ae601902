/// A parsed configuration value, independent of the YAML library.
///
/// Scalars stay text (`1`, `true`, `5s`); the ``ConfigReader`` interprets them, so the
/// same rules apply whatever the file format. Mapping entries keep the order of the file.
public indirect enum ConfigNode: Sendable, Equatable {
    /// Any plain or quoted value, as text.
    case scalar(String)
    /// A list.
    case sequence([ConfigNode])
    /// A mapping with its entries in file order. Keys are unique (duplicates are reported
    /// when parsing and the first one is kept).
    case mapping([(key: String, value: ConfigNode)])
    /// An explicit or implied null (`key:`, `key: ~`, `key: null`).
    case null

    public static func == (lhs: ConfigNode, rhs: ConfigNode) -> Bool {
        switch (lhs, rhs) {
        case let (.scalar(a), .scalar(b)):
            return a == b
        case let (.sequence(a), .sequence(b)):
            return a == b
        case let (.mapping(a), .mapping(b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case (.null, .null):
            return true
        default:
            return false
        }
    }

    /// The value stored under `key` when this is a mapping.
    public subscript(key: String) -> ConfigNode? {
        guard case let .mapping(entries) = self else { return nil }
        return entries.first { $0.key == key }?.value
    }

    /// A short noun for messages: "a string", "a list", "a mapping", "null".
    var kindDescription: String {
        switch self {
        case .scalar: return "a string"
        case .sequence: return "a list"
        case .mapping: return "a mapping"
        case .null: return "null"
        }
    }
}

/// Joins key paths the way problems print them: `source` + `slot` is `source.slot`.
enum ConfigKeyPath {
    static func join(_ base: String, _ key: String) -> String {
        if key.isEmpty { return base }
        return base.isEmpty ? key : "\(base).\(key)"
    }

    static func index(_ base: String, _ index: Int) -> String {
        "\(base)[\(index)]"
    }
}

/// A problem found by a pure step (parsing, expansion) before it knows the file name.
struct ConfigNodeIssue: Sendable, Equatable {
    var keyPath: String
    var message: String
}
