import ArgumentParser
import Foundation
import Glibc
import Logging
import SiphonCore

@main
struct Siphon: AsyncParsableCommand {
    /// glibc gives every thread that frees memory an arena of its own and
    /// raises its mmap threshold after each large free, so batches built on
    /// one thread and freed on another stay cached: a 5,000,000-row snapshot
    /// peaked at 180 MB. Two arenas and a fixed threshold keep it flat.
    static func tuneMalloc() {
        _ = glibcMallopt(-8, 2)             // M_ARENA_MAX (malloc.h, which Swift's Glibc module leaves out)
        _ = glibcMallopt(-3, 8 << 20)        // M_MMAP_THRESHOLD: batch buffers (up to 2 MB) reuse heap memory
        _ = glibcMallopt(-1, 32 << 20)       // M_TRIM_THRESHOLD: freed batches stay mapped instead of being faulted in again
    }

    static func main() async {
        tuneMalloc()
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            // The argument parser's own usage errors (an unknown option, a
            // bad --log-level) are bad configuration too: exit 2, not 64.
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(ExitStatus.configuration)
            }
            exit(withError: error)
        }
    }

    static let configuration = CommandConfiguration(
        commandName: "siphon",
        abstract: "Change data capture: every committed row and schema change as a versioned event.",
        version: SiphonVersion.current,
        subcommands: [Run.self, Validate.self, Check.self, Offsets.self, SQLiteCommands.self]
    )
}

@_silgen_name("mallopt")
private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32

/// `--config PATH...`: pipeline files or folders of `*.yaml` files.
struct ConfigOptions: ParsableArguments {
    @Option(name: .customLong("config"), parsing: .upToNextOption,
            help: "Pipeline files, or folders of *.yaml pipeline files (one pipeline per file).")
    var paths: [String] = []

    func validate() throws {
        if paths.isEmpty { throw ValidationError("--config needs at least one pipeline file or folder") }
    }
}

/// Exit codes: 0 success (and --help, --version), 1 a runtime failure, 2 bad
/// configuration: a pipeline file, or the command line itself.
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
