import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import SQLiteSource
import SiphonCore

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run pipelines until SIGTERM or SIGINT, then flush, checkpoint and exit 0.")

    @OptionGroup var config: ConfigOptions
    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel: String = ProcessInfo.processInfo.environment["SIPHON_LOG_LEVEL"] ?? "info"

    func run() async throws {
        let logger = SiphonLogging.bootstrap(level: logLevel)
        let problems = ConfigProblems()
        let pipelines = PipelineFactory.build(paths: config.paths, problems: problems, logger: logger)
        guard problems.isEmpty else { exitWithProblems(problems) }
        let services = pipelines.map { pipeline in
            ServiceGroupConfiguration.ServiceConfiguration(
                service: pipeline, successTerminationBehavior: .gracefullyShutdownGroup,
                failureTerminationBehavior: .gracefullyShutdownGroup)
        }
        var groupConfiguration = ServiceGroupConfiguration(services: services, logger: logger)
        groupConfiguration.gracefulShutdownSignals = [.sigterm, .sigint]
        groupConfiguration.logging.keys.serviceKey = "service"
        let group = ServiceGroup(configuration: groupConfiguration)
        do {
            try await group.run()
        } catch {
            exitWithError(Self.unwrap(error))
        }
    }

    /// The pipeline's own error, without ServiceLifecycle's wrapping.
    static func unwrap(_ error: any Error) -> SiphonError {
        if let error = error as? SiphonError { return error }
        if let error = error as? ServiceGroupError {
            let text = String(describing: error)
            return SiphonError(.sourceFatal, text)
        }
        return SiphonError(.sourceFatal, String(describing: error))
    }
}

struct Validate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check pipeline files: exit 0 when valid, else one line per problem and exit 2.")

    @OptionGroup var config: ConfigOptions

    func run() async throws {
        let problems = ConfigProblems()
        let files = PipelineFactory.validate(paths: config.paths, problems: problems)
        guard problems.isEmpty else { exitWithProblems(problems) }
        for file in files {
            print("\(file.file): ok (pipeline \(file.name): \(file.sourceType) to \(file.sinkType))")
        }
    }
}

struct Offsets: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Inspect stored positions.", subcommands: [Show.self])

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the stored position of each pipeline.")

        @OptionGroup var config: ConfigOptions

        func run() async throws {
            let problems = ConfigProblems()
            let files = PipelineFactory.load(paths: config.paths, problems: problems)
            guard problems.isEmpty else { exitWithProblems(problems) }
            for file in files {
                let store = CheckpointStore(directory: StateDirectory(readingAt: file.statePath), pipeline: file.name)
                do {
                    if let checkpoint = try store.load() {
                        let when = Date(timeIntervalSince1970: Double(checkpoint.updatedMillis) / 1000)
                        print("\(file.name): \(checkpoint.position) (\(PipelineFactory.describe(checkpoint.position, sourceType: file.sourceType))) saved \(ISO8601DateFormatter().string(from: when)) in \(file.statePath)")
                    } else {
                        print("\(file.name): no checkpoint yet (state folder \(file.statePath))")
                    }
                } catch let error as SiphonError {
                    exitWithError(error)
                }
            }
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
            let logger = SiphonLogging.bootstrap(level: "warning")
            let problems = ConfigProblems()
            let files = PipelineFactory.load(paths: config.paths, problems: problems)
            let targets = files.compactMap { file -> (PipelineFile, SQLiteSourceConfiguration)? in
                guard file.sourceType == "sqlite", case .sqlite(let configuration) = PipelineFactory.readSource(file) else { return nil }
                return (file, configuration)
            }
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
            let files = PipelineFactory.load(paths: config.paths, problems: problems)
            var targets: [(PipelineFile, SQLiteSourceConfiguration)] = []
            for file in files where file.sourceType == "sqlite" {
                if case .sqlite(let configuration) = PipelineFactory.readSource(file) {
                    targets.append((file, configuration))
                }
            }
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
