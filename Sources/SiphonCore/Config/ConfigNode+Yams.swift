import Yams

extension ConfigNode {
    /// What parsing YAML text produced: the root node (nil for an empty document) and the
    /// problems found inside an otherwise well-formed document, such as duplicate keys.
    struct ParseResult {
        var root: ConfigNode?
        var issues: [ConfigNodeIssue]
    }

    /// Parses one YAML document.
    ///
    /// Throws ``ConfigNode/SyntaxError`` for malformed YAML; its message names line and
    /// column but does not quote the file's text. YAML beyond ``YAMLLimits`` (deep nesting,
    /// aliases that multiply) is refused the same way, before it is composed.
    static func parse(yaml: String) throws(SyntaxError) -> ParseResult {
        if let violation = YAMLLimits.violation(in: yaml) {
            throw SyntaxError(message: violation)
        }
        let node: Yams.Node?
        do {
            node = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw SyntaxError(yamlError: error)
        } catch {
            throw SyntaxError(message: "invalid YAML")
        }
        guard let node else { return ParseResult(root: nil, issues: []) }
        var issues: [ConfigNodeIssue] = []
        let root = convert(node, keyPath: "", issues: &issues)
        return ParseResult(root: root, issues: issues)
    }

    /// Malformed YAML, located by line and column.
    struct SyntaxError: Error, Sendable {
        var message: String

        init(message: String) {
            self.message = message
        }

        init(yamlError: YamlError) {
            switch yamlError {
            case let .scanner(context, problem, mark, _),
                 let .parser(context, problem, mark, _),
                 let .composer(context, problem, mark, _):
                var text = "invalid YAML at line \(mark.line), column \(mark.column): \(problem)"
                if let context {
                    text += " (\(context.text) at line \(context.mark.line), column \(context.mark.column))"
                }
                message = text
            case let .reader(problem, _, _, _):
                message = "invalid YAML: \(problem)"
            default:
                message = "invalid YAML"
            }
        }
    }

    private static func convert(_ node: Yams.Node, keyPath: String, issues: inout [ConfigNodeIssue]) -> ConfigNode {
        switch node {
        case let .scalar(scalar):
            // `node.tag` resolves a plain scalar's type from its text (`scalar.tag` is still
            // "implicit" then); a quoted scalar comes from Yams tagged as a string.
            switch Tag.Name(rawValue: node.tag.description) {
            case .null: return .null
            case .int: return .scalar(scalar.string, .integer)
            case .float: return .scalar(scalar.string, .float)
            case .bool: return .scalar(scalar.string, .boolean)
            default: return .scalar(scalar.string, .string)
            }
        case let .sequence(sequence):
            return .sequence(sequence.enumerated().map { index, element in
                convert(element, keyPath: ConfigKeyPath.index(keyPath, index), issues: &issues)
            })
        case let .mapping(mapping):
            var entries: [(key: String, value: ConfigNode)] = []
            var seen: Set<String> = []
            for (keyNode, valueNode) in mapping {
                guard case let .scalar(keyScalar) = keyNode else {
                    issues.append(ConfigNodeIssue(keyPath: keyPath, message: "mapping keys must be strings"))
                    continue
                }
                let key = keyScalar.string
                let path = ConfigKeyPath.join(keyPath, key)
                guard seen.insert(key).inserted else {
                    issues.append(ConfigNodeIssue(keyPath: path, message: "duplicate key; each key may appear once"))
                    continue
                }
                entries.append((key: key, value: convert(valueNode, keyPath: path, issues: &issues)))
            }
            return .mapping(entries)
        }
    }
}
