import Foundation
import Logging

/// A pipeline file whose connectors read their keys without a problem.
public struct PipelineDefinition: Sendable {
    public let file: PipelineFile
    public let source: PreparedSource
    public let sink: PreparedSink

    public var name: String { file.name }

    public var options: PipelineOptions {
        var options = PipelineOptions()
        options.retryDelay = file.retryDelay
        options.maxRetryDelay = file.maxRetryDelay
        return options
    }

    /// What connectors get, with the state folder named for reading only.
    public func context(logger: Logger) -> ConnectorContext {
        var logger = logger
        logger[metadataKey: "pipeline"] = .string(file.name)
        return ConnectorContext(pipeline: file.name, state: StateDirectory(readingAt: file.statePath), logger: logger,
                                events: file.events, lease: file.lease)
    }
}

/// From pipeline files to running pipelines, in two steps: `prepare` reads
/// and checks everything and touches nothing; `build` creates state
/// folders and connectors, and is called only when `prepare` found no
/// problem. So a bad file never leaves a sink file, a state folder, a slot
/// or a publication behind.
public enum PipelineAssembly {
    /// Loads the files, lets each connector read its keys, runs the
    /// connectors' static checks (files exist, folders writable) and checks
    /// that no two pipelines claim the same thing. Every problem of every
    /// file goes to `problems`; the definitions are returned either way.
    /// `staticChecks: false` skips the connectors' and the state folder's
    /// checks, for commands that only read (`offsets show`).
    public static func prepare(paths: [String], environment: [String: String], registry: ConnectorRegistry,
                               problems: ConfigProblems, staticChecks: Bool = true) -> [PipelineDefinition] {
        let files = PipelineLoader.load(paths: paths, environment: environment, problems: problems)
        var definitions: [PipelineDefinition] = []
        for file in files {
            let source = registry.readSource(file.source, type: file.sourceType)
            let sink = registry.readSink(file.sink, type: file.sinkType)
            guard let source, let sink else { continue }
            definitions.append(PipelineDefinition(file: file, source: source, sink: sink))
        }
        for definition in definitions where staticChecks {
            let file = definition.file.file
            for problem in definition.source.staticProblems() {
                problems.add(ConfigProblem(file: file, keyPath: ConfigKeyPath.join("source", problem.key), message: problem.message))
            }
            for problem in definition.sink.staticProblems() {
                problems.add(ConfigProblem(file: file, keyPath: ConfigKeyPath.join("sink", problem.key), message: problem.message))
            }
            if let problem = stateFolderProblem(definition.file.statePath) {
                problems.add(ConfigProblem(file: file, keyPath: "state.path", message: problem))
            }
        }
        reportSharedClaims(definitions, problems: problems)
        definitions.forEach { reportLeaseProblems($0, problems: problems) }
        return definitions
    }

    /// Sink types a `lease:` standby cannot take over, and why: the
    /// standby has a state folder of its own, so it resumes from what the
    /// sink says it holds (`.tracked`), which these cannot say.
    static let sinksWithoutLease: [String: String] = [
        "file": "its file is on one host's disk, so another instance would start a file of its own",
        "kafka": "it answers no single position (the pipeline resumes from the state folder's checkpoint, which a standby does not have)",
    ]

    /// `lease:` needs a source that has one and a sink whose position a
    /// standby with another state folder finds.
    static func reportLeaseProblems(_ definition: PipelineDefinition, problems: ConfigProblems) {
        guard let lease = definition.file.lease else { return }
        let file = definition.file.file
        let context = ConnectorContext(pipeline: definition.name, state: StateDirectory(readingAt: definition.file.statePath),
                                       logger: Logger(label: "siphon.validate"), lease: lease)
        if definition.source.makeLease(context) == nil {
            problems.add(ConfigProblem(file: file, keyPath: "lease", message: "source type '\(definition.source.type)' has no lease; remove lease: and run one siphon for this pipeline"))
        }
        if let reason = sinksWithoutLease[definition.sink.type] {
            problems.add(ConfigProblem(file: file, keyPath: "lease", message: "the \(definition.sink.type) sink cannot be taken over by a standby: \(reason). Use a sink that keeps its own position (postgres, sqlite, nats), or remove lease:"))
        }
    }

    /// Creates each state folder (0700) and locks it for this process,
    /// then builds the connectors and the pipelines.
    public static func build(_ definitions: [PipelineDefinition], logger: Logger) throws -> [Pipeline] {
        try definitions.map { definition in
            let state = try StateDirectory(path: definition.file.statePath)
            try state.lockForProcess()
            var context = definition.context(logger: logger)
            context.state = state
            var options = definition.options
            if let lease = definition.file.lease, let made = definition.source.makeLease(context) {
                options.lease = made
                options.leaseRetryInterval = lease.retryInterval
            }
            return Pipeline(name: definition.name, source: definition.source.make(context),
                            sink: definition.sink.make(context),
                            checkpoints: CheckpointStore(directory: state, pipeline: definition.name),
                            options: options, logger: logger)
        }
    }

    /// Two pipelines writing one sink would each resume after the other's
    /// events: both files are named.
    static func reportSharedClaims(_ definitions: [PipelineDefinition], problems: ConfigProblems) {
        var owners: [String: (file: String, claim: ResourceClaim)] = [:]
        for definition in definitions {
            for claim in definition.sink.claims {
                if let owner = owners[claim.resource] {
                    problems.add(ConfigProblem(
                        file: definition.file.file, keyPath: ConfigKeyPath.join("sink", claim.key),
                        message: "\(claim.description) is also written by the pipeline in \(owner.file); each pipeline needs a sink of its own"))
                } else {
                    owners[claim.resource] = (definition.file.file, claim)
                }
            }
        }
    }

    /// Whether the state folder could be created and written, without creating it.
    static func stateFolderProblem(_ path: String) -> String? {
        FileSystemCheck.writableFolderProblem(path, what: "state folder")
    }
}

/// Side-effect-free checks of paths, shared by the static checks of the
/// core and of connectors.
public enum FileSystemCheck {
    /// Why `path` could not be used as a folder Siphon writes into (it
    /// exists and is not a writable folder, or the nearest existing folder
    /// above it is not writable), or nil when it can.
    public static func writableFolderProblem(_ path: String, what: String) -> String? {
        var info = stat()
        if stat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else { return "\(what) \(path) exists and is not a folder" }
            return access(path, W_OK | X_OK) == 0 ? nil : "\(what) \(path) is not writable; fix its permissions or choose another path"
        }
        guard let ancestor = nearestExistingAncestor(of: path) else { return nil }
        if stat(ancestor, &info) != 0 || info.st_mode & S_IFMT != S_IFDIR {
            return "cannot create \(what) \(path): \(ancestor) is not a folder"
        }
        return access(ancestor, W_OK | X_OK) == 0 ? nil : "cannot create \(what) \(path): \(ancestor) is not writable"
    }

    /// The longest prefix of `path` (as given, or made absolute against the
    /// working directory) that exists.
    public static func nearestExistingAncestor(of path: String) -> String? {
        var url = URL(fileURLWithPath: path).standardizedFileURL
        while true {
            let parent = url.deletingLastPathComponent()
            if parent.path == url.path { return nil }
            url = parent
            if FileManager.default.fileExists(atPath: url.path) { return url.path }
        }
    }
}
