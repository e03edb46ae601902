import ArgumentParser
import Foundation
import SiphonCore

/// `siphon check`: connects and verifies what each pipeline needs, one line
/// per check with the fix, creating nothing.
struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Connect and check everything the pipelines need, one line per check with the exact fix; creates nothing.",
        discussion: """
            Runs the checks of `validate` first (exit 2 on a problem there), then, for each pipeline, \
            the source's (PostgreSQL: version, wal_level, free slots and WAL senders, REPLICATION, a \
            replication connection through pg_hba.conf, SELECT and replica identity of every captured \
            table, an existing slot's plugin and wal_status, max_slot_wal_keep_size; SQLite: WAL mode, \
            writable, free disk) and the sink's (reachable, authenticated, the destination usable). \
            Exit status: 0 when nothing failed (warnings allowed), 1 otherwise.
            """)

    @OptionGroup var config: ConfigOptions
    @Flag(help: "One JSON object per pipeline, for machines.") var json = false

    func run() async throws {
        let logger = SiphonLogging.bootstrap(level: .error)
        let problems = ConfigProblems()
        let definitions = preparePipelines(config.paths, problems: problems)
        guard problems.isEmpty else { exitWithProblems(problems) }
        var failed = false
        for definition in definitions {
            let context = definition.context(logger: logger)
            let source = await definition.source.preflight(context)
            let sink = await definition.sink.preflight(context)
            failed = failed || (source + sink).contains { $0.outcome == .fail }
            if json {
                print(Self.json(pipeline: definition.name, file: definition.file.file, source: source, sink: sink))
            } else {
                print("\(definition.name) (\(definition.file.file)): \(definition.source.type) to \(definition.sink.type)")
                for (part, checks) in [("source", source), ("sink", sink)] {
                    for check in checks {
                        print("  \(check.outcome.rawValue.uppercased().padding(toLength: 4, withPad: " ", startingAt: 0)) \(part) \(check.name): \(check.detail)")
                        if let fix = check.fix, check.outcome != .pass { print("       fix: \(fix)") }
                    }
                }
            }
        }
        if failed { Foundation.exit(ExitStatus.failure) }
    }

    private static func json(pipeline: String, file: String, source: [PreflightCheck], sink: [PreflightCheck]) -> String {
        func checks(_ list: [PreflightCheck]) -> [[String: Any]] {
            list.map { check in
                var object: [String: Any] = ["name": check.name, "outcome": check.outcome.rawValue, "detail": check.detail]
                if let fix = check.fix { object["fix"] = fix }
                return object
            }
        }
        let object: [String: Any] = [
            "pipeline": pipeline, "file": file,
            "passed": !(source + sink).contains { $0.outcome == .fail },
            "source": checks(source), "sink": checks(sink),
        ]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
