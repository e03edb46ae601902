import ArgumentParser
import Foundation
import Logging
import SiphonCore

struct Offsets: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Inspect or reset stored positions.", subcommands: [Show.self, Reset.self])

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print each pipeline's checkpoint and, for a sink that keeps its own position, what the sink holds.")

        @OptionGroup var config: ConfigOptions

        func run() async throws {
            let logger = SiphonLogging.bootstrap(level: .warning)
            let problems = ConfigProblems()
            let definitions = preparePipelines(config.paths, problems: problems, staticChecks: false)
            guard problems.isEmpty else { exitWithProblems(problems) }
            for definition in definitions {
                let name = definition.name
                let statePath = definition.file.statePath
                let store = CheckpointStore(directory: StateDirectory(readingAt: statePath), pipeline: name)
                do {
                    if let checkpoint = try store.load() {
                        let when = Date(timeIntervalSince1970: Double(checkpoint.updatedMillis) / 1000)
                        print("\(name): \(checkpoint.position) (\(definition.source.describe(checkpoint.position))) saved \(ISO8601DateFormatter().string(from: when)) in \(statePath)")
                    } else if try store.loadResetMarker() != nil {
                        print("\(name): reset; starts from the beginning on its next run (state folder \(statePath))")
                    } else {
                        print("\(name): no checkpoint yet (state folder \(statePath))")
                    }
                    switch try await definition.sink.storedPosition(definition.context(logger: logger)) {
                    case .untracked:
                        break
                    case .tracked(let last?):
                        print("\(name): the \(definition.sink.type) sink holds events up to \(last) (\(definition.source.describe(last)))")
                    case .tracked(nil):
                        print("\(name): the \(definition.sink.type) sink holds no events")
                    }
                } catch let error as SiphonError {
                    exitWithError(error)
                }
            }
        }
    }

    struct Reset: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start a pipeline over: drop its state and, for PostgreSQL, its slot, so that the next run takes a new snapshot.",
            discussion: """
                The pipeline must be stopped. The sink's data is left as it is: the new snapshot is \
                written after what the sink already holds. PostgreSQL: the replication slot is dropped \
                (the publication is kept); SQLite: Siphon's triggers and schema registry are removed and \
                its changelog emptied (positions go on counting), to be installed again on the next run. \
                Nothing is done without --yes.
                """)

        @OptionGroup var config: ConfigOptions
        @Option(help: "Where to reset to; only 'beginning' is supported.") var to: String
        @Flag(help: "Confirm: the pipeline's position and schema history are dropped.") var yes = false

        func validate() throws {
            guard to == "beginning" else { throw ValidationError("--to: only 'beginning' is supported") }
        }

        func run() async throws {
            let logger = SiphonLogging.bootstrap(level: .warning)
            let problems = ConfigProblems()
            let definitions = preparePipelines(config.paths, problems: problems, staticChecks: false)
            guard problems.isEmpty else { exitWithProblems(problems) }
            guard yes else {
                for definition in definitions {
                    print("\(definition.name): would drop the state in \(definition.file.statePath) and start over from the beginning")
                }
                exitWithError(SiphonError(.configuration, "nothing was changed; add --yes to reset"))
            }
            for definition in definitions {
                do {
                    try await reset(definition, logger: logger)
                } catch let error as SiphonError {
                    exitWithError(error)
                }
            }
        }

        private func reset(_ definition: PipelineDefinition, logger: Logger) async throws {
            let statePath = definition.file.statePath
            let state = try StateDirectory(path: statePath)
            // Fails, naming the pid, while the pipeline runs.
            try state.lockForProcess()
            var context = definition.context(logger: logger)
            context.state = state
            let held = try await definition.sink.storedPosition(context)
            for line in try await definition.source.reset(context) { print("\(definition.name): \(line)") }
            try state.removeAll(except: ["lock"])
            var sinkPosition: Position?
            if case .tracked(let last) = held { sinkPosition = last }
            try CheckpointStore(directory: state, pipeline: definition.name).reset(sinkPosition: sinkPosition)
            print("\(definition.name): state dropped in \(statePath); the next run starts from the beginning\(sinkPosition.map { " after what the sink holds (up to \($0))" } ?? "")")
        }
    }
}
