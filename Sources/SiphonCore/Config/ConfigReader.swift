import Foundation

/// Reads one mapping of a configuration file and reports what is wrong with it.
///
/// Every read records its key as known, whether or not the key is present, so that
/// ``finish()`` can report the keys nobody read and suggest a known key close to each.
/// Typed reads (`int`, `bool`, `duration`, ...) never fail: on a bad value they report a
/// problem at the full key path (`source.tables[2]`) and return the default, so that one
/// pass finds every problem. Callers check ``ConfigProblems/isEmpty`` afterwards.
///
/// A reader never quotes a value that came from `${VAR}` expansion, and stays silent about
/// a key whose expansion already failed (that problem was reported once).
public final class ConfigReader: @unchecked Sendable {
    /// The mapping's full key path from the file's top level; empty for the top level itself.
    public let keyPath: String
    /// The file the mapping came from, as shown in problems.
    public let file: String

    let entries: [(key: String, value: ConfigNode)]
    let problems: ConfigProblems
    let origins: ScalarOrigins

    private let lock = NSLock()
    private var known: [String] = []
    private var children: [ConfigReader] = []
    private var finished = false

    /// Creates a reader over `node`, which should be a mapping; null reads as an empty
    /// mapping, anything else is reported as "must be a mapping".
    public convenience init(node: ConfigNode, keyPath: String, file: String, problems: ConfigProblems) {
        self.init(node: node, keyPath: keyPath, file: file, problems: problems, origins: ScalarOrigins())
    }

    init(node: ConfigNode, keyPath: String, file: String, problems: ConfigProblems, origins: ScalarOrigins) {
        self.keyPath = keyPath
        self.file = file
        self.problems = problems
        self.origins = origins
        switch node {
        case let .mapping(entries):
            self.entries = entries
        case .null:
            self.entries = []
        default:
            self.entries = []
            problems.add(ConfigProblem(file: file, keyPath: keyPath, message: "must be a mapping"))
        }
    }

    /// The keys present in the mapping, in file order. Reading this marks nothing as known.
    public var keys: [String] { entries.map(\.key) }

    /// True when `key` is present with a non-null value. Does not mark the key as known.
    public func has(_ key: String) -> Bool {
        guard let value = entries.first(where: { $0.key == key })?.value else { return false }
        return value != .null
    }

    /// True when `key` holds a mapping, for keys that take either a plain value or a mapping
    /// (`sink.stream: name` or `sink.stream: {name: ..., subjects: ...}`). Does not mark the
    /// key as known.
    public func isMapping(_ key: String) -> Bool {
        guard case .mapping = entries.first(where: { $0.key == key })?.value else { return false }
        return true
    }

    /// The nested mapping under `key`, or nil when it is absent or null. A value that is not
    /// a mapping is reported and gives nil. ``finish()`` on this reader also finishes the child.
    public func child(_ key: String) -> ConfigReader? {
        guard let reader = untrackedChild(key) else { return nil }
        lock.withLock { children.append(reader) }
        return reader
    }

    /// Reports a problem about `key` (or about this mapping when `key` is empty) and marks the
    /// key as known. For connector checks, e.g. `report("url", "not a valid conninfo: ...")`.
    /// Do not quote values that may come from the environment; known secret values are masked.
    public func report(_ key: String, _ message: String) {
        markKnown(key)
        problem(at: ConfigKeyPath.join(keyPath, key), message)
    }

    /// Reports every key present but never read, with a suggestion when a known key is close:
    /// `source.slto: unknown key (did you mean 'slot'?)`. Then finishes every reader obtained
    /// through ``child(_:)``. Calling it again does nothing.
    public func finish() {
        let (alreadyFinished, knownKeys, nested) = lock.withLock { () -> (Bool, [String], [ConfigReader]) in
            defer { finished = true }
            return (finished, known, children)
        }
        guard !alreadyFinished else { return }
        let knownSet = Set(knownKeys)
        let present = Set(keys)
        let candidates = knownKeys.filter { !present.contains($0) }
        for key in keys where !knownSet.contains(key) {
            var message = "unknown key"
            if let suggestion = KeySuggestion.closest(to: key, among: candidates) {
                message += " (did you mean '\(suggestion)'?)"
            }
            problem(at: ConfigKeyPath.join(keyPath, key), message)
        }
        nested.forEach { $0.finish() }
    }

    // MARK: - Shared by the typed reads

    /// Marks `key` as known and returns its value, treating null as absent.
    func value(_ key: String) -> ConfigNode? {
        markKnown(key)
        guard let value = entries.first(where: { $0.key == key })?.value, value != .null else { return nil }
        return value
    }

    /// A child reader that this reader's ``finish()`` does not finish; the loader hands such
    /// readers to connectors, which finish them after reading their own keys.
    func untrackedChild(_ key: String) -> ConfigReader? {
        guard let node = value(key) else { return nil }
        let path = ConfigKeyPath.join(keyPath, key)
        guard case .mapping = node else {
            problem(at: path, "must be a mapping")
            return nil
        }
        return ConfigReader(node: node, keyPath: path, file: file, problems: problems, origins: origins)
    }

    func markKnown(_ key: String) {
        guard !key.isEmpty else { return }
        lock.withLock {
            if !known.contains(key) { known.append(key) }
        }
    }

    /// Records a problem at an absolute key path, unless that path's expansion already failed.
    func problem(at path: String, _ message: String) {
        guard !origins.unresolvedPaths.contains(path) else { return }
        problems.add(ConfigProblem(file: file, keyPath: path, message: message))
    }

    /// ` (got 'text')` for a bad value, or nothing when the text came from the environment.
    func got(_ text: String, at path: String) -> String {
        origins.expandedPaths.contains(path) ? "" : " (got '\(text)')"
    }
}

/// Which scalars came from environment expansion, by absolute key path within one file.
struct ScalarOrigins: Sendable {
    var expandedPaths: Set<String> = []
    var unresolvedPaths: Set<String> = []
}
