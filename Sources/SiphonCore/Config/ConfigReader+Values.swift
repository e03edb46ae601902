import Foundation

/// Typed reads. A value of the wrong YAML type is reported, never converted: a string key
/// refuses a plain `5` or `yes` (quoted, they are text), an integer key refuses `"5"` and
/// `1.5`, a boolean key takes only YAML's booleans. Text from `${VAR}` expansion has no YAML
/// type, so every read parses it from its text.
extension ConfigReader {
    /// The text under `key`, or nil when absent or null. A number, a boolean, a list or a
    /// mapping is reported.
    public func string(_ key: String) -> String? {
        guard let node = value(key) else { return nil }
        return text(of: node, at: path(key), expected: "a string")
    }

    /// The text under `key`; reports `<path>.<key>: required` and returns nil when it is
    /// absent, null or empty.
    public func requiredString(_ key: String) -> String? {
        guard value(key) != nil else {
            problem(at: path(key), "required")
            return nil
        }
        guard let text = string(key) else { return nil }
        guard !text.trimmingCharacters(in: .whitespaces).isEmpty else {
            problem(at: path(key), "required")
            return nil
        }
        return text
    }

    /// A whole number, optionally limited to `range`; `default` when absent or invalid.
    public func int(_ key: String, default defaultValue: Int, range: ClosedRange<Int>? = nil) -> Int {
        guard let number = integer(key) else { return defaultValue }
        if let range, !range.contains(number) {
            problem(at: path(key), "must be between \(range.lowerBound) and \(range.upperBound)\(got(String(number), at: path(key)))")
            return defaultValue
        }
        return number
    }

    /// A YAML boolean: `true`/`false`, `yes`/`no` or `on`/`off`; `default` when absent or invalid.
    public func bool(_ key: String, default defaultValue: Bool) -> Bool {
        guard let node = value(key) else { return defaultValue }
        let at = path(key)
        guard case let .scalar(text, type) = node else {
            problem(at: at, "must be true or false, not \(node.kindDescription)")
            return defaultValue
        }
        let parsed = Self.parseBool(text)
        switch type {
        case .boolean, .expanded:
            if let parsed { return parsed }
            problem(at: at, "must be true or false\(got(text, at: at))")
        case .string where parsed != nil:
            problem(at: at, "must be true or false, not a string; write \(text) without quotes")
        case .string:
            problem(at: at, "must be true or false\(got(text, at: at))")
        case .integer, .float:
            problem(at: at, "must be true or false, not a number\(got(text, at: at))")
        }
        return defaultValue
    }

    /// A non-negative duration: `500ms`, `5s`, `2m`, `1h`, or a number of seconds (`1.5`
    /// allowed), plain or quoted; `default` when absent or invalid.
    public func duration(_ key: String, default defaultValue: Duration) -> Duration {
        guard let node = value(key) else { return defaultValue }
        let at = path(key)
        let expected = "must be a duration such as 500ms, 5s, 2m or 1h"
        guard case let .scalar(text, type) = node else {
            problem(at: at, "\(expected), not \(node.kindDescription)")
            return defaultValue
        }
        guard type != .boolean else {
            problem(at: at, "\(expected), not a boolean\(got(text, at: at))")
            return defaultValue
        }
        guard let parsed = Self.parseDuration(text) else {
            problem(at: at, "\(expected)\(got(text, at: at))")
            return defaultValue
        }
        return parsed
    }

    /// A list of strings, or a single string taken as a one-element list; `default` when
    /// absent or when any element is not a string (each is reported at its index).
    public func stringList(_ key: String, default defaultValue: [String]) -> [String] {
        guard let node = value(key) else { return defaultValue }
        switch node {
        case .scalar:
            return text(of: node, at: path(key), expected: "a list of strings").map { [$0] } ?? defaultValue
        case let .sequence(elements):
            let texts = elements.enumerated().map { index, element in
                text(of: element, at: ConfigKeyPath.index(path(key), index), expected: "a string")
            }
            let valid = texts.compactMap { $0 }
            return valid.count == texts.count ? valid : defaultValue
        default:
            problem(at: path(key), "must be a list of strings")
            return defaultValue
        }
    }

    /// One of `allowed`; `default` when absent. Otherwise reports
    /// `must be one of initial, never (got 'always')`.
    public func choice(_ key: String, allowed: [String], default defaultValue: String) -> String {
        guard let node = value(key) else { return defaultValue }
        let at = path(key)
        let expected = "must be one of \(allowed.joined(separator: ", "))"
        guard case let .scalar(text, type) = node, type == .string || type == .expanded else {
            var message = "\(expected), not \(node.kindDescription)"
            if case let .scalar(text, _) = node { message += got(text, at: at) }
            problem(at: at, message)
            return defaultValue
        }
        guard allowed.contains(text) else {
            var message = "\(expected)\(got(text, at: at))"
            if !origins.expandedPaths.contains(at),
               let suggestion = KeySuggestion.closest(to: text, among: allowed) {
                message += "; did you mean '\(suggestion)'?"
            }
            problem(at: at, message)
            return defaultValue
        }
        return text
    }

    /// The text of any scalar under `key` (a string, a number or a boolean, as written),
    /// for keys passed through to a client library as text (`sink.properties`); nil when
    /// absent, null, or a list or mapping (reported, without quoting the value).
    public func scalarText(_ key: String) -> String? {
        guard let node = value(key) else { return nil }
        guard case let .scalar(text, _) = node else {
            problem(at: path(key), "must be a single value, not \(node.kindDescription)")
            return nil
        }
        return text
    }

    // MARK: - Helpers

    func path(_ key: String) -> String {
        ConfigKeyPath.join(keyPath, key)
    }

    /// The whole number under `key`, or nil when it is absent or not a whole number (reported).
    func integer(_ key: String) -> Int? {
        guard let node = value(key) else { return nil }
        let at = path(key)
        guard case let .scalar(text, type) = node else {
            problem(at: at, "must be an integer, not \(node.kindDescription)")
            return nil
        }
        let number = Int(text.trimmingCharacters(in: .whitespaces))
        switch type {
        case .integer, .expanded:
            if let number { return number }
            // YAML also reads 0x10, 0o17 and 1_000 as integers; one spelling is enough here.
            problem(at: at, "must be an integer\(type == .integer ? " in decimal digits" : "")\(got(text, at: at))")
        case .string where number != nil:
            problem(at: at, "must be an integer, not a string; write \(text) without quotes")
        case .boolean:
            problem(at: at, "must be an integer, not a boolean\(got(text, at: at))")
        case .string, .float:
            problem(at: at, "must be an integer\(got(text, at: at))")
        }
        return nil
    }

    /// The text of a string scalar; anything else is reported as "must be <expected>, not ...".
    /// A number or boolean comes with the fix, since quoting it is usually what was meant.
    private func text(of node: ConfigNode, at path: String, expected: String) -> String? {
        switch node {
        case let .scalar(text, .string), let .scalar(text, .expanded):
            return text
        case let .scalar(text, _):
            problem(at: path, "must be \(expected), not \(node.kindDescription); quote it (\"\(text)\") if you mean the text")
        default:
            problem(at: path, "must be \(expected), not \(node.kindDescription)")
        }
        return nil
    }

    /// YAML 1.1's boolean words, in any case (text from the environment may be `TRUE` or `True`).
    static func parseBool(_ raw: String) -> Bool? {
        switch raw.trimmingCharacters(in: .whitespaces).lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: return nil
        }
    }

    static func parseDuration(_ raw: String) -> Duration? {
        let text = raw.trimmingCharacters(in: .whitespaces)
        let units: [(suffix: String, seconds: Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        var number = Substring(text)
        var scale = 1.0
        for unit in units where text.hasSuffix(unit.suffix) {
            number = text.dropLast(unit.suffix.count)
            scale = unit.seconds
            break
        }
        let digits = number.trimmingCharacters(in: .whitespaces)
        guard !digits.isEmpty,
              digits.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
              let value = Double(digits), value.isFinite else { return nil }
        let milliseconds = value * scale * 1000
        guard milliseconds < Double(Int64.max / 1_000_000) else { return nil }
        return .nanoseconds(Int64((milliseconds * 1_000_000).rounded()))
    }
}
