import ArgumentParser
import Foundation
import Logging
import SiphonCore

@main
struct Siphon: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "siphon",
        abstract: "Change data capture: every committed row and schema change as a versioned event.",
        version: "0.1.0",
        subcommands: [Run.self, Validate.self, Offsets.self, SQLiteCommands.self]
    )
}

/// `--config PATH...`: pipeline files or folders of `*.yaml` files.
struct ConfigOptions: ParsableArguments {
    @Option(name: .customLong("config"), parsing: .upToNextOption,
            help: "Pipeline files, or folders of *.yaml pipeline files (one pipeline per file).")
    var paths: [String] = []

    func validate() throws {
        if paths.isEmpty { throw ValidationError("--config needs at least one pipeline file or folder") }
    }
}

/// Exit codes: 0 success, 1 a runtime failure, 2 bad configuration.
enum ExitStatus {
    static let failure: Int32 = 1
    static let configuration: Int32 = 2
}

/// Prints every configuration problem, one per line, and exits 2.
func exitWithProblems(_ problems: ConfigProblems) -> Never {
    for problem in problems.all {
        FileHandle.standardError.write(Data((problem.description + "\n").utf8))
    }
    Foundation.exit(ExitStatus.configuration)
}

func exitWithError(_ error: SiphonError) -> Never {
    FileHandle.standardError.write(Data(("siphon: error: " + error.description + "\n").utf8))
    Foundation.exit(error.code == .configuration ? ExitStatus.configuration : ExitStatus.failure)
}
