import Foundation

extension ConfigReader {
    /// The text under `key`, or nil when absent or null. A list or mapping is reported.
    public func string(_ key: String) -> String? {
        guard let node = value(key) else { return nil }
        guard case let .scalar(text) = node else {
            problem(at: path(key), "must be a string, not \(node.kindDescription)")
            return nil
        }
        return text
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
        guard let text = scalar(key, expected: "an integer") else { return defaultValue }
        guard let number = Int(text.trimmingCharacters(in: .whitespaces)) else {
            problem(at: path(key), "must be an integer\(got(text, at: path(key)))")
            return defaultValue
        }
        if let range, !range.contains(number) {
            problem(at: path(key), "must be between \(range.lowerBound) and \(range.upperBound)\(got(text, at: path(key)))")
            return defaultValue
        }
        return number
    }

    /// `true`/`false` or `yes`/`no`, in any case; `default` when absent or invalid.
    public func bool(_ key: String, default defaultValue: Bool) -> Bool {
        guard let text = scalar(key, expected: "true or false") else { return defaultValue }
        switch text.lowercased() {
        case "true", "yes": return true
        case "false", "no": return false
        default:
            problem(at: path(key), "must be true or false\(got(text, at: path(key)))")
            return defaultValue
        }
    }

    /// A non-negative duration: `500ms`, `5s`, `2m`, `1h`, or a plain number of seconds
    /// (`1.5` allowed); `default` when absent or invalid.
    public func duration(_ key: String, default defaultValue: Duration) -> Duration {
        guard let text = scalar(key, expected: "a duration") else { return defaultValue }
        guard let parsed = Self.parseDuration(text) else {
            problem(at: path(key), "must be a duration such as 500ms, 5s, 2m or 1h\(got(text, at: path(key)))")
            return defaultValue
        }
        return parsed
    }

    /// A list of strings, or a single string taken as a one-element list; `default` when
    /// absent. Anything else is reported as "must be a list of strings".
    public func stringList(_ key: String, default defaultValue: [String]) -> [String] {
        guard let node = value(key) else { return defaultValue }
        switch node {
        case let .scalar(text):
            return [text]
        case let .sequence(elements):
            var result: [String] = []
            var valid = true
            for (index, element) in elements.enumerated() {
                if case let .scalar(text) = element {
                    result.append(text)
                } else {
                    valid = false
                    problem(at: ConfigKeyPath.index(path(key), index), "must be a string, not \(element.kindDescription)")
                }
            }
            return valid ? result : defaultValue
        default:
            problem(at: path(key), "must be a list of strings")
            return defaultValue
        }
    }

    /// One of `allowed`; `default` when absent. Otherwise reports
    /// `must be one of initial, never (got 'always')`.
    public func choice(_ key: String, allowed: [String], default defaultValue: String) -> String {
        guard let text = scalar(key, expected: "one of \(allowed.joined(separator: ", "))") else { return defaultValue }
        guard allowed.contains(text) else {
            var message = "must be one of \(allowed.joined(separator: ", "))\(got(text, at: path(key)))"
            if !origins.expandedPaths.contains(path(key)),
               let suggestion = KeySuggestion.closest(to: text, among: allowed) {
                message += "; did you mean '\(suggestion)'?"
            }
            problem(at: path(key), message)
            return defaultValue
        }
        return text
    }

    // MARK: - Helpers

    func path(_ key: String) -> String {
        ConfigKeyPath.join(keyPath, key)
    }

    /// The scalar under `key`; reports a list or mapping as "must be <expected>".
    private func scalar(_ key: String, expected: String) -> String? {
        guard let node = value(key) else { return nil }
        guard case let .scalar(text) = node else {
            problem(at: path(key), "must be \(expected), not \(node.kindDescription)")
            return nil
        }
        return text
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
