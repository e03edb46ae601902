import Foundation

/// Loads pipeline files: the envelope (`version`, `name`, `source.type`, `sink.type`,
/// `state`) is checked here; connector keys are left to the connectors.
///
/// The steps are kept apart: find the files, parse each one (``ConfigNode/parse(yaml:)``),
/// expand the environment (``EnvironmentExpansion``), then validate through ``ConfigReader``.
public enum PipelineLoader {
    /// The only file format version this build reads.
    public static let supportedVersion = 1

    /// Expands folders, reads and parses every file, expands `${VAR}` and `${VAR:-default}`
    /// in every scalar from `environment`, checks the envelope, and returns the files plus
    /// every problem found (in `problems`).
    ///
    /// A file is returned whenever its `source` and `sink` are mappings, even if it has other
    /// problems, so the caller can still let the connectors validate their keys and report
    /// everything at once. Run nothing unless `problems.isEmpty` after the connectors are done.
    public static func load(paths: [String], environment: [String: String], problems: ConfigProblems) -> [PipelineFile] {
        var loaded: [Loaded] = []
        var owners: [String: String] = [:]
        for file in pipelineFiles(in: paths, problems: problems) {
            guard let one = loadFile(file, environment: environment, problems: problems) else { continue }
            let pipeline = one.pipeline
            if isValidName(pipeline.name) {
                if let owner = owners[pipeline.name] {
                    let quoted = one.nameIsExpanded ? "this name" : "'\(pipeline.name)'"
                    problems.add(ConfigProblem(
                        file: file, keyPath: "name",
                        message: "pipeline \(quoted) is already defined in \(owner); names must be unique"))
                } else {
                    owners[pipeline.name] = file
                }
            }
            loaded.append(one)
        }
        reportSharedStateFolders(loaded, problems: problems)
        return loaded.map(\.pipeline)
    }

    /// One file's pipeline and how its values came about, for messages across files.
    struct Loaded {
        var pipeline: PipelineFile
        var nameIsExpanded: Bool
        /// Whether `state.path` was set at all, and whether `${VAR}` made it.
        var statePathIsSet: Bool
        var statePathIsExpanded: Bool
    }

    /// Reports, in each file concerned, two pipelines whose state folders are one folder (by
    /// ``PathIdentity``, so `./s`, `s/` and a path through a symbolic link all count) or one
    /// inside the other. Either way they would share or nest checkpoints, schema history and
    /// the lock: the second `run` finds the folder locked, by its own pid when both run in
    /// one process. Pipelines with the same name are left out: that is reported already.
    static func reportSharedStateFolders(_ loaded: [Loaded], problems: ConfigProblems) {
        let folders = loaded.map { PathIdentity.resolve($0.pipeline.statePath) }
        for (index, one) in loaded.enumerated() {
            for (otherIndex, other) in loaded.enumerated() where otherIndex != index && other.pipeline.name != one.pipeline.name {
                let relation: String, advice: String
                switch PathIdentity.relation(of: folders[index], to: folders[otherIndex]) {
                case .same?: (relation, advice) = ("is also", "each pipeline needs a folder of its own")
                case .inside?: (relation, advice) = ("is inside", "give each pipeline a folder of its own, side by side")
                case .holds?: (relation, advice) = ("holds", "give each pipeline a folder of its own, side by side")
                case nil: continue
                }
                problems.add(ConfigProblem(
                    file: one.pipeline.file, keyPath: "state.path",
                    message: "\(describeStateFolder(one, resolved: folders[index])) \(relation) the state folder of pipeline '\(other.pipeline.name)' in \(other.pipeline.file); \(advice)"))
            }
        }
    }

    /// "the state folder './s' (/srv/s)", without the text when it came from the environment.
    private static func describeStateFolder(_ one: Loaded, resolved: String) -> String {
        if one.statePathIsExpanded { return "the state folder" }
        let written = one.pipeline.statePath
        let shown = written == resolved ? "'\(written)'" : "'\(written)' (\(resolved))"
        return one.statePathIsSet ? "the state folder \(shown)" : "the default state folder \(shown)"
    }

    /// The files named by `paths`, in order: a file as given, a folder as its `*.yaml` and
    /// `*.yml` files sorted by name (hidden files skipped). The same file named twice is
    /// loaded once. Missing paths and folders without pipeline files are reported.
    static func pipelineFiles(in paths: [String], problems: ConfigProblems) -> [String] {
        let manager = FileManager.default
        var result: [String] = []
        var seen: Set<String> = []
        func add(_ file: String) {
            if seen.insert(PathIdentity.resolve(file)).inserted { result.append(file) }
        }
        for path in paths {
            var isDirectory: ObjCBool = false
            guard manager.fileExists(atPath: path, isDirectory: &isDirectory) else {
                problems.add(ConfigProblem(file: path, keyPath: "", message: "no such file or folder"))
                continue
            }
            guard isDirectory.boolValue else {
                add(path)
                continue
            }
            guard let names = try? manager.contentsOfDirectory(atPath: path) else {
                problems.add(ConfigProblem(file: path, keyPath: "", message: "cannot read folder"))
                continue
            }
            let files = names.sorted().filter { name in
                guard !name.hasPrefix("."), name.hasSuffix(".yaml") || name.hasSuffix(".yml") else { return false }
                var nameIsDirectory: ObjCBool = false
                return manager.fileExists(atPath: join(path, name), isDirectory: &nameIsDirectory) && !nameIsDirectory.boolValue
            }
            if files.isEmpty {
                problems.add(ConfigProblem(file: path, keyPath: "", message: "folder has no *.yaml or *.yml files"))
            }
            files.forEach { add(join(path, $0)) }
        }
        return result
    }

    private static func join(_ folder: String, _ name: String) -> String {
        folder.hasSuffix("/") ? folder + name : folder + "/" + name
    }

    /// Reads, parses, expands and checks one file. Returns nil when the file cannot yield
    /// source and sink readers.
    static func loadFile(_ file: String, environment: [String: String], problems: ConfigProblems) -> Loaded? {
        func report(_ keyPath: String, _ message: String) {
            problems.add(ConfigProblem(file: file, keyPath: keyPath, message: message))
        }
        guard let data = FileManager.default.contents(atPath: file) else {
            report("", "cannot read file (check its permissions)")
            return nil
        }
        guard let text = String(data: data, encoding: .utf8) else {
            report("", "not UTF-8 text")
            return nil
        }
        let parsed: ConfigNode.ParseResult
        do {
            parsed = try ConfigNode.parse(yaml: text)
        } catch {
            report("", error.message)
            return nil
        }
        parsed.issues.forEach { report($0.keyPath, $0.message) }
        guard let root = parsed.root, root != .null else {
            report("", "file is empty; expected a mapping with version, name, source and sink")
            return nil
        }
        guard case .mapping = root else {
            report("", "top level must be a mapping with version, name, source and sink, not \(root.kindDescription)")
            return nil
        }

        let expansion = EnvironmentExpansion.expand(root, environment: environment)
        problems.registerSecrets(expansion.usedValues)
        expansion.issues.forEach { report($0.keyPath, $0.message) }
        let origins = ScalarOrigins(expandedPaths: expansion.expandedPaths, unresolvedPaths: expansion.unresolvedPaths)
        let top = ConfigReader(node: expansion.node, keyPath: "", file: file, problems: problems, origins: origins)

        checkVersion(top)
        let name = top.requiredString("name") ?? ""
        if !name.isEmpty, !isValidName(name) {
            top.report("name", "must contain only letters, digits, '_' and '-'\(top.got(name, at: "name"))")
        }
        let (source, sourceType) = connector("source", in: top)
        let (sink, sinkType) = connector("sink", in: top)
        var statePath = ".siphon/\(name)"
        var statePathIsSet = false
        if let state = top.child("state"), let path = state.string("path") {
            if path.trimmingCharacters(in: .whitespaces).isEmpty {
                state.report("path", "must not be empty; leave state.path out to use .siphon/<name>")
            } else {
                statePath = path
                statePathIsSet = true
            }
        }
        let (retryDelay, maxRetryDelay) = retryDelays(top)
        let events = eventOptions(top)
        let lease = leaseOptions(top)
        top.finish()

        guard let source, let sink else { return nil }
        var pipeline = PipelineFile(
            file: file, name: name, source: source, sourceType: sourceType,
            sink: sink, sinkType: sinkType, statePath: statePath)
        pipeline.retryDelay = retryDelay
        pipeline.maxRetryDelay = maxRetryDelay
        pipeline.events = events
        pipeline.lease = lease
        return Loaded(pipeline: pipeline, nameIsExpanded: origins.expandedPaths.contains("name"),
                      statePathIsSet: statePathIsSet,
                      statePathIsExpanded: origins.expandedPaths.contains("state.path") || (origins.expandedPaths.contains("name") && !statePathIsSet))
    }

    /// The `events:` mapping: how events are written (docs/EVENTS.md).
    static func eventOptions(_ top: ConfigReader) -> EventOptions {
        guard let events = top.child("events") else { return EventOptions() }
        func choice<T: RawRepresentable & CaseIterable>(_ key: String, _ fallback: T) -> T where T.RawValue == String {
            let text = events.choice(key, allowed: T.allCases.map(\.rawValue), default: fallback.rawValue)
            return T(rawValue: text) ?? fallback
        }
        return EventOptions(envelope: choice("format", EventOptions.Envelope.debezium),
                            json: choice("json", EventOptions.JSONValues.string),
                            unchangedToast: choice("unchanged_toast", EventOptions.UnchangedToast.placeholder))
    }

    /// `lease: true`, or `lease: {retry_interval: 2s}`; nil when absent or `false`.
    static func leaseOptions(_ top: ConfigReader) -> LeaseOptions? {
        guard top.isMapping("lease") else {
            return top.bool("lease", default: false) ? LeaseOptions() : nil
        }
        guard let lease = top.child("lease") else { return nil }
        var options = LeaseOptions()
        options.retryInterval = lease.duration("retry_interval", default: options.retryInterval)
        if options.retryInterval < .milliseconds(100) || options.retryInterval > .seconds(60) {
            lease.report("retry_interval", "must be between 100ms and 1m: how often a standby tries to take the lease")
        }
        return options
    }

    /// The smallest `retry_delay`: a failing sink or source is retried at
    /// most a hundred times a second, whatever the file says.
    public static let minimumRetryDelay = Duration.milliseconds(10)

    /// `retry_delay` and `max_retry_delay`, checked against each other.
    static func retryDelays(_ top: ConfigReader) -> (Duration, Duration) {
        var delay = top.duration("retry_delay", default: .milliseconds(500))
        var maximum = top.duration("max_retry_delay", default: .seconds(30))
        if delay < minimumRetryDelay {
            top.report("retry_delay", "must be at least 10ms, or every failure would be retried in a tight loop")
            delay = minimumRetryDelay
        }
        if maximum < delay {
            top.report("max_retry_delay", "must be at least retry_delay (\(top.has("retry_delay") ? "the value given" : "500ms"))")
            maximum = delay
        }
        return (delay, maximum)
    }

    private static func checkVersion(_ top: ConfigReader) {
        guard top.has("version") else {
            top.report("version", "required; write version: \(supportedVersion)")
            return
        }
        guard let version = top.integer("version") else { return }
        if version != supportedVersion {
            top.report("version", "must be \(supportedVersion), the only version this siphon reads\(top.got(String(version), at: "version"))")
        }
    }

    /// The reader and `type` of `source` or `sink`; the reader is untracked so that the
    /// top-level `finish()` leaves its connector keys to the caller.
    private static func connector(_ key: String, in top: ConfigReader) -> (ConfigReader?, String) {
        guard top.has(key) else {
            top.report(key, "required")
            return (nil, "")
        }
        guard let reader = top.untrackedChild(key) else { return (nil, "") }
        return (reader, reader.requiredString("type") ?? "")
    }

    /// Pipeline ids: one or more ASCII letters, digits, `_` and `-`.
    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.unicodeScalars.allSatisfy {
            $0.isASCII && ($0 == "_" || $0 == "-" || ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0))
        }
    }
}
