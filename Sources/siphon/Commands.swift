import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import SQLiteSource
import SiphonCore
import Synchronization

/// Reads and checks pipeline files with every connector this build has.
func preparePipelines(_ paths: [String], problems: ConfigProblems, staticChecks: Bool = true) -> [PipelineDefinition] {
    PipelineAssembly.prepare(paths: paths, environment: ProcessInfo.processInfo.environment,
                             registry: .standard, problems: problems, staticChecks: staticChecks)
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run pipelines until SIGTERM or SIGINT, then flush, checkpoint and exit 0.",
        discussion: """
            A pipeline that fails for a reason that may pass (a lost connection, a full disk) restarts \
            from its checkpoint after a pause, for ever. One that fails for a reason a person must fix \
            stops with a line saying what to fix, and the others go on. Exit status: 0 after SIGTERM \
            or SIGINT; 1 when the last running pipeline stopped on such an error (2 when that error is \
            bad configuration); 2 for bad configuration found before starting.
            """)

    @OptionGroup var config: ConfigOptions
    @OptionGroup var logging: LoggingOptions
    @Option(help: "Serve /metrics, /healthz, /readyz and /status on this IPv4 host:port, such as 127.0.0.1:9090 (or SIPHON_HTTP); off by default.")
    var http: String?

    var httpAddress: String? { http ?? ProcessInfo.processInfo.environment["SIPHON_HTTP"] }

    func validate() throws {
        if let text = httpAddress, HTTPAddress(text) == nil {
            throw ValidationError("\(http == nil ? "SIPHON_HTTP" : "--http"): '\(text)' is not an IPv4 host:port such as 127.0.0.1:9090")
        }
    }

    func run() async throws {
        let logger = SiphonLogging.bootstrap(level: logging.resolvedLevel, format: logging.resolvedFormat)
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets[CommitToSinkMetric.label] = CommitToSinkMetric.buckets
        MetricsSystem.bootstrap(factory)
        let problems = ConfigProblems()
        let definitions = preparePipelines(config.paths, problems: problems)
        guard problems.isEmpty else { exitWithProblems(problems) }
        let pipelines: [Pipeline]
        do {
            pipelines = try PipelineAssembly.build(definitions, logger: logger)
        } catch let error as SiphonError {
            exitWithError(error)
        }
        let outcomes = PipelineOutcomes()
        var services = pipelines.map { pipeline in
            ServiceGroupConfiguration.ServiceConfiguration(
                service: RecordedPipeline(pipeline: pipeline, outcomes: outcomes),
                successTerminationBehavior: .ignore, failureTerminationBehavior: .ignore)
        }
        if let text = httpAddress, let address = HTTPAddress(text) {
            // First: up before the pipelines, down after them.
            services.insert(.init(service: HTTPService(address: address, pipelines: pipelines, registry: registry,
                                              outcomes: outcomes, logger: logger),
                                  successTerminationBehavior: .ignore, failureTerminationBehavior: .gracefullyShutdownGroup), at: 0)
        }
        var groupConfiguration = ServiceGroupConfiguration(services: services, logger: logger)
        groupConfiguration.gracefulShutdownSignals = [.sigterm, .sigint]
        groupConfiguration.logging.keys.serviceKey = "service"
        let group = ServiceGroup(configuration: groupConfiguration)
        do {
            try await group.run()
        } catch {
            exitWithError(SiphonError(.sourceFatal, String(describing: error)))
        }
        if let failure = outcomes.lastFailure {
            // The pipeline already logged its line; the last line says it again.
            exitWithError(failure)
        }
    }
}

/// How the pipelines of one `siphon run` ended, in order.
final class PipelineOutcomes: Sendable {
    private let ended = Mutex<[SiphonError?]>([])

    func record(_ failure: SiphonError?) { ended.withLock { $0.append(failure) } }

    /// How many have ended.
    var endedCount: Int { ended.withLock { $0.count } }

    /// The error of the last pipeline to end, when it ended on one.
    var lastFailure: SiphonError? { ended.withLock { $0.last ?? nil } }
}

/// A pipeline as a service that records how it ended.
struct RecordedPipeline: Service {
    let pipeline: Pipeline
    let outcomes: PipelineOutcomes

    func run() async throws {
        do {
            try await pipeline.run()
            outcomes.record(nil)
        } catch {
            outcomes.record(error as? SiphonError ?? SiphonError(.sourceFatal, "\(error)"))
            throw error
        }
    }
}

struct Validate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check pipeline files without connecting anywhere: exit 0 when valid, else one line per problem and exit 2.")

    @OptionGroup var config: ConfigOptions

    func run() async throws {
        let problems = ConfigProblems()
        let definitions = preparePipelines(config.paths, problems: problems)
        guard problems.isEmpty else { exitWithProblems(problems) }
        for definition in definitions {
            print("\(definition.file.file): ok (pipeline \(definition.name): \(definition.source.type) to \(definition.sink.type))")
        }
    }
}

struct SQLiteCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sqlite", abstract: "Manage what the SQLite source keeps in a database.",
        subcommands: [Exec.self, Uninstall.self])

    struct Exec: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a migration (e.g. ALTER TABLE ... DROP COLUMN) on a captured SQLite database, rebuilding Siphon's triggers in the same transaction.")

        @OptionGroup var config: ConfigOptions
        @Option(help: "The SQL to run, in one transaction.") var sql: String

        func run() async throws {
            let logger = SiphonLogging.bootstrap(level: .warning)
            let problems = ConfigProblems()
            let targets = sqliteSources(paths: config.paths, problems: problems)
            guard problems.isEmpty else { exitWithProblems(problems) }
            guard targets.count == 1, let (file, configuration) = targets.first else {
                exitWithError(SiphonError(.configuration, "--config: name exactly one pipeline with an sqlite source (found \(targets.count))"))
            }
            do {
                let changes = try SQLiteSource.execute(sql: sql, configuration: configuration, pipeline: file.name, logger: logger)
                print("\(file.name): done; \(changes) schema change(s) recorded")
            } catch let error as SiphonError {
                exitWithError(error)
            }
        }
    }

    struct Uninstall: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove every trigger and table Siphon added to each SQLite source database; the application's data is untouched.")

        @OptionGroup var config: ConfigOptions

        func run() async throws {
            let problems = ConfigProblems()
            let targets = sqliteSources(paths: config.paths, problems: problems)
            guard problems.isEmpty else { exitWithProblems(problems) }
            if targets.isEmpty {
                exitWithError(SiphonError(.configuration, "--config: no pipeline with an sqlite source"))
            }
            for (file, configuration) in targets {
                do {
                    let triggers = try SQLiteSource.uninstall(configuration: configuration, pipeline: file.name)
                    print("\(file.name): removed \(triggers) triggers and Siphon's tables from \(configuration.path)")
                } catch let error as SiphonError {
                    exitWithError(error)
                }
            }
        }
    }
}

/// The pipelines with an SQLite source among the files, with their source keys read.
private func sqliteSources(paths: [String], problems: ConfigProblems) -> [(PipelineFile, SQLiteSourceConfiguration)] {
    let files = PipelineLoader.load(paths: paths, environment: ProcessInfo.processInfo.environment, problems: problems)
    return files.compactMap { file in
        guard file.sourceType == SQLiteSource.type else { return nil }
        defer { file.source.finish() }
        return SQLiteSource.configuration(reading: file.source).map { (file, $0) }
    }
}
