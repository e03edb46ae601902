/// Substitutes environment variables into every scalar of a parsed configuration.
///
/// Syntax, inside any scalar value (mapping keys are not expanded):
/// - `${VAR}`: the value of `VAR`; a problem when `VAR` is not set.
/// - `${VAR:-default}`: the value of `VAR`, or `default` when `VAR` is unset or empty.
/// - `$$`: a literal `$`.
/// - A `$` followed by anything else is kept as it is.
///
/// This step is pure: it takes the environment as a dictionary and returns problems
/// instead of recording them, and it never puts a variable's value into a message.
enum EnvironmentExpansion {
    /// The expanded tree and what the reader must know about it.
    struct Result: Sendable {
        var node: ConfigNode
        /// Key paths of scalars whose text changed through `${...}`; readers must not quote them.
        var expandedPaths: Set<String> = []
        /// Key paths whose expansion failed and was already reported; readers stay quiet about them.
        var unresolvedPaths: Set<String> = []
        /// Values taken from the environment, to be masked in any later message.
        var usedValues: Set<String> = []
        var issues: [ConfigNodeIssue] = []
    }

    static func expand(_ node: ConfigNode, keyPath: String = "", environment: [String: String]) -> Result {
        var result = Result(node: .null)
        result.node = expand(node, keyPath: keyPath, environment: environment, into: &result)
        return result
    }

    private static func expand(
        _ node: ConfigNode, keyPath: String, environment: [String: String], into result: inout Result
    ) -> ConfigNode {
        switch node {
        case .null:
            return .null
        case let .scalar(text, type):
            guard text.contains("$") else { return node }
            let outcome = expandScalar(text, environment: environment)
            result.usedValues.formUnion(outcome.usedValues)
            if outcome.substituted { result.expandedPaths.insert(keyPath) }
            if !outcome.messages.isEmpty {
                result.unresolvedPaths.insert(keyPath)
                result.issues += outcome.messages.map { ConfigNodeIssue(keyPath: keyPath, message: $0) }
            }
            return .scalar(outcome.text, outcome.substituted ? .expanded : type)
        case let .sequence(elements):
            return .sequence(elements.enumerated().map { index, element in
                expand(element, keyPath: ConfigKeyPath.index(keyPath, index), environment: environment, into: &result)
            })
        case let .mapping(entries):
            return .mapping(entries.map { entry in
                let path = ConfigKeyPath.join(keyPath, entry.key)
                return (key: entry.key, value: expand(entry.value, keyPath: path, environment: environment, into: &result))
            })
        }
    }

    struct ScalarOutcome: Equatable {
        var text: String
        /// True when at least one `${...}` was replaced (by a value or a default).
        var substituted = false
        var usedValues: Set<String> = []
        var messages: [String] = []
    }

    /// Expands one scalar. Failed references expand to nothing and add a message.
    static func expandScalar(_ text: String, environment: [String: String]) -> ScalarOutcome {
        var outcome = ScalarOutcome(text: "")
        var output = ""
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            let next = text.index(after: index)
            guard character == "$", next < text.endIndex else {
                output.append(character)
                index = next
                continue
            }
            if text[next] == "$" {
                output.append("$")
                index = text.index(after: next)
                continue
            }
            guard text[next] == "{" else {
                output.append(character)
                index = next
                continue
            }
            let bodyStart = text.index(after: next)
            guard let close = text[bodyStart...].firstIndex(of: "}") else {
                outcome.messages.append("unterminated ${ (write $$ for a literal $)")
                output += text[index...]
                break
            }
            let body = text[bodyStart..<close]
            index = text.index(after: close)
            let name: Substring
            let fallback: Substring?
            if let separator = body.range(of: ":-") {
                name = body[..<separator.lowerBound]
                fallback = body[separator.upperBound...]
            } else {
                name = body
                fallback = nil
            }
            guard isValidName(name) else {
                outcome.messages.append("'${\(name)}' is not a valid variable reference; names use letters, digits and '_' and do not start with a digit")
                continue
            }
            outcome.substituted = true
            if let value = environment[String(name)], !(fallback != nil && value.isEmpty) {
                output += value
                outcome.usedValues.insert(value)
            } else if let fallback {
                output += fallback
            } else {
                outcome.messages.append("environment variable \(name) is not set; export it or write ${\(name):-default}")
            }
        }
        outcome.text = output
        return outcome
    }

    private static func isValidName(_ name: Substring) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || isASCIILetter(first) else { return false }
        return name.unicodeScalars.allSatisfy { $0 == "_" || isASCIILetter($0) || ("0"..."9").contains($0) }
    }

    private static func isASCIILetter(_ scalar: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar)
    }
}
