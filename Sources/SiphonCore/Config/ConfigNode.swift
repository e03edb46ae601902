/// A parsed configuration value, independent of the YAML library.
///
/// Scalars keep their text (`1`, `true`, `5s`) and the type YAML gives them, so that a
/// ``ConfigReader`` can refuse a value of the wrong type instead of converting it: `tables: 5`
/// is a number, not a table pattern. Mapping entries keep the order of the file.
public indirect enum ConfigNode: Sendable, Equatable {
    /// A plain or quoted value: its text and what YAML reads it as.
    case scalar(String, ScalarType = .string)
    /// A list.
    case sequence([ConfigNode])
    /// A mapping with its entries in file order. Keys are unique (duplicates are reported
    /// when parsing and the first one is kept).
    case mapping([(key: String, value: ConfigNode)])
    /// An explicit or implied null (`key:`, `key: ~`, `key: null`); quoted, these are text.
    case null

    /// What YAML reads a scalar as (YAML 1.1, as Yams resolves it).
    public enum ScalarType: Sendable, Equatable {
        /// Quoted or block text, or plain text that YAML reads as nothing else (dates included).
        case string
        /// Plain `5`, `-3`, `0x10`.
        case integer
        /// Plain `1.5`, `1e3`, `.inf`.
        case float
        /// Plain `true`/`false`, `yes`/`no`, `on`/`off` (lower case, capitalised or upper case).
        case boolean
        /// Text that `${VAR}` expansion produced or changed. The environment holds only text,
        /// so each key parses it as it needs: `batch_size: ${N}` is read as an integer.
        case expanded
    }

    public static func == (lhs: ConfigNode, rhs: ConfigNode) -> Bool {
        switch (lhs, rhs) {
        case let (.scalar(a, aType), .scalar(b, bType)):
            return a == b && aType == bType
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

    /// A short noun for messages: "a string", "a number", "a boolean", "a list", "a mapping", "null".
    var kindDescription: String {
        switch self {
        case .scalar(_, .integer), .scalar(_, .float): return "a number"
        case .scalar(_, .boolean): return "a boolean"
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
