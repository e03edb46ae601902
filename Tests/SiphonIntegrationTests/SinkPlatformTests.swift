import Foundation
import SiphonTestSupport
import XCTest

/// `siphon run` through sink failures, the resume authority of a sink that
/// keeps its own position, `offsets show` and `offsets reset`, and the
/// checks that run before anything is created. SQLite sources: no server.
final class SinkPlatformTests: XCTestCase {
    /// A pipeline file for `harness`'s database with the sink at `sinkPath`.
    private func writeConfig(_ harness: SQLiteHarness, sinkPath: String, to path: String? = nil, name: String? = nil) throws {
        try harness.writeRetryingConfig(sinkPath: sinkPath, to: path, name: name)
    }

    private func lines(_ path: String) -> [[String: Any]] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return data.split(separator: UInt8(ascii: "\n")).compactMap { try? JSONSerialization.jsonObject(with: Data($0)) as? [String: Any] }
    }

    private func rowIDs(_ path: String) -> [Int] {
        lines(path).filter { ["c", "r"].contains($0["op"] as? String ?? "") }.compactMap { $0[path: "key.id"] as? Int }
    }

    private func waitForRows(_ count: Int, in path: String, process: SiphonProcess) throws {
        try eventually(timeout: .seconds(60), "\(count) rows in \(path)") {
            if !process.isRunning { throw TestSupportError("siphon exited early:\n\(process.stderrText.suffix(3000))") }
            return rowIDs(path).count >= count
        }
    }

    /// A full disk is transient: the pipeline retries with a line per
    /// attempt, and once space is freed it delivers every change once.
    func testFullDiskIsRetriedUntilSpaceIsFreed() throws {
        let disk: SmallDisk
        do {
            disk = try SmallDisk(megabytes: 4)
        } catch {
            throw XCTSkip("\(error)")
        }
        let harness = try SQLiteHarness(setup: "CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT);")
        let output = disk.path + "/out/events.jsonl"
        try writeConfig(harness, sinkPath: output)
        let process = try harness.start()
        try harness.sql("INSERT INTO t SELECT value, 'first' FROM generate_series(1, 100);")
        try waitForRows(100, in: output, process: process)
        try disk.fill()
        try harness.sql("INSERT INTO t SELECT value, hex(randomblob(200)) FROM generate_series(101, 400);")
        try process.waitFor(stderrContaining: "No space left on device", timeout: .seconds(30))
        try process.waitFor(stderrContaining: "restarting the pipeline from its checkpoint", timeout: .seconds(30))
        Thread.sleep(forTimeInterval: 1)
        XCTAssertTrue(process.isRunning, "a full disk stopped siphon:\n\(process.stderrText.suffix(2000))")
        disk.free()
        try waitForRows(400, in: output, process: process)
        try harness.stop(process)
        let ids = rowIDs(output)
        XCTAssertEqual(ids.count, 400, "every row once; ops: \(Dictionary(grouping: lines(output), by: { $0["op"] as? String ?? "?" }).mapValues(\.count)); stderr:\n\(process.stderrText.suffix(4000))")
        XCTAssertEqual(Set(ids), Set(1...400))
        let positions = lines(output).compactMap { $0["id"] as? String }
        XCTAssertEqual(positions, positions.sorted(), "in order, no event twice")
        XCTAssertEqual(Set(positions).count, positions.count)
    }

    /// Two pipelines in one process: when one stops on a permanent error
    /// (its sink file deleted under it), the other keeps delivering; SIGTERM
    /// then ends the process with 0. Alone, the failing pipeline ends the
    /// process with 1 and the line that says what to fix.
    func testOnePipelineStoppingLeavesTheOtherRunning() throws {
        let folder = try TemporaryDirectory()
        let failing = try SQLiteHarness(setup: "CREATE TABLE t (id INTEGER PRIMARY KEY);")
        let healthy = try SQLiteHarness(setup: "CREATE TABLE t (id INTEGER PRIMARY KEY);")
        try writeConfig(failing, sinkPath: failing.outputPath, to: folder.appending("failing.yaml"))
        try writeConfig(healthy, sinkPath: healthy.outputPath, to: folder.appending("healthy.yaml"))
        let process = try SiphonProcess(arguments: ["run", "--config", folder.path])
        try failing.sql("INSERT INTO t VALUES (1);")
        try healthy.sql("INSERT INTO t VALUES (1);")
        try waitForRows(1, in: failing.outputPath, process: process)
        try waitForRows(1, in: healthy.outputPath, process: process)
        // Once a checkpoint holds the row, the sink file is the only other copy.
        try eventually(timeout: .seconds(30), "a checkpoint") {
            FileManager.default.fileExists(atPath: failing.statePath + "/offsets.json")
        }
        XCTAssertEqual(unlink(failing.outputPath), 0)
        try failing.sql("INSERT INTO t VALUES (2);")
        try process.waitFor(stderrContaining: "pipeline \(failing.name) stopped: sink file \(failing.outputPath) was deleted",
                            timeout: .seconds(30))
        try healthy.sql("INSERT INTO t SELECT value FROM generate_series(2, 50);")
        try waitForRows(50, in: healthy.outputPath, process: process)
        XCTAssertTrue(process.isRunning)
        process.signal(SIGTERM)
        XCTAssertEqual(try process.waitForExit(timeout: .seconds(30)), 0, process.stderrText.suffix(2000).description)

        let alone = try SiphonProcess(arguments: ["run", "--config", folder.appending("failing.yaml")])
        XCTAssertEqual(try alone.waitForExit(timeout: .seconds(30)), 1, alone.stderrText)
        let last = alone.stderrText.split(separator: "\n").last.map(String.init) ?? ""
        XCTAssertTrue(last.hasPrefix("siphon: error: ") && last.contains("offsets reset"), last)
    }

    /// A sink that lost events the source has already let go of is never
    /// silently resumed after: `run` refuses, naming both positions; `offsets
    /// show` tells both; `offsets reset --to beginning --yes` starts over,
    /// and the new snapshot follows what the sink still holds.
    func testSinkBehindTheCheckpointIsRefusedUntilReset() throws {
        let harness = try SQLiteHarness(setup: """
            CREATE TABLE t (id INTEGER PRIMARY KEY);
            INSERT INTO t SELECT value FROM generate_series(1, 10);
            """)
        try writeConfig(harness, sinkPath: harness.outputPath)
        let first = try harness.start()
        try waitForRows(10, in: harness.outputPath, process: first)
        try harness.sql("INSERT INTO t SELECT value FROM generate_series(11, 20);")
        try waitForRows(20, in: harness.outputPath, process: first)
        try harness.stop(first)

        // Keep only the first five lines, as a restore from an old backup would.
        let firstLines = try String(contentsOfFile: harness.outputPath, encoding: .utf8).split(separator: "\n").prefix(5)
        try (firstLines.joined(separator: "\n") + "\n").write(toFile: harness.outputPath, atomically: false, encoding: .utf8)
        let keptLast = try XCTUnwrap(lines(harness.outputPath).last?["id"] as? String)
        let kept = rowIDs(harness.outputPath).count
        let refused = try SiphonProcess.run(["run", "--config", harness.configPath])
        XCTAssertEqual(refused.status, 1, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("the sink holds events only up to \(keptLast)"), refused.stderr)
        XCTAssertTrue(refused.stderr.contains("siphon offsets reset"), refused.stderr)

        let shown = try SiphonProcess.run(["offsets", "show", "--config", harness.configPath])
        XCTAssertEqual(shown.status, 0, shown.stderr)
        XCTAssertTrue(shown.stdout.contains("the file sink holds events up to \(keptLast)"), shown.stdout)

        let unconfirmed = try SiphonProcess.run(["offsets", "reset", "--config", harness.configPath, "--to", "beginning"])
        XCTAssertEqual(unconfirmed.status, 2)
        XCTAssertTrue(unconfirmed.stderr.contains("--yes"), unconfirmed.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: harness.statePath + "/offsets.json"), "changed without --yes")

        let reset = try SiphonProcess.run(["offsets", "reset", "--config", harness.configPath, "--to", "beginning", "--yes"])
        XCTAssertEqual(reset.status, 0, reset.stderr)
        XCTAssertTrue(reset.stdout.contains("the next run starts from the beginning"), reset.stdout)
        let afterReset = try SiphonProcess.run(["offsets", "show", "--config", harness.configPath])
        XCTAssertTrue(afterReset.stdout.contains("reset; starts from the beginning"), afterReset.stdout)

        let second = try harness.start()
        // The rows kept, then a new snapshot of all 20 rows.
        try waitForRows(kept + 20, in: harness.outputPath, process: second)
        try harness.sql("INSERT INTO t VALUES (21);")
        try waitForRows(kept + 21, in: harness.outputPath, process: second)
        try harness.stop(second)
        let snapshot = lines(harness.outputPath).dropFirst(5).filter { $0["op"] as? String == "r" }
        XCTAssertEqual(Set(snapshot.compactMap { $0[path: "key.id"] as? Int }), Set(1...20))

        // And it resumes normally from there.
        let third = try harness.start()
        try harness.sql("INSERT INTO t VALUES (22);")
        try waitForRows(kept + 22, in: harness.outputPath, process: third)
        try harness.stop(third)
        XCTAssertEqual(rowIDs(harness.outputPath).count, kept + 22)
        // Event ids stay unique across the reset, so consumers can still deduplicate by id.
        let ids = lines(harness.outputPath).compactMap { $0["id"] as? String }
        XCTAssertEqual(Set(ids).count, ids.count, "an event id after the reset repeats one from before it")
    }

    /// Everything that needs no network is checked by `validate`, and `run`
    /// creates nothing (no sink file or folder, no state folder) before
    /// every check passed.
    func testValidateChecksFilesAndRunCreatesNothingOnAProblem() throws {
        let folder = try TemporaryDirectory()
        let config = folder.appending("pipeline.yaml")
        try """
            version: 1
            name: missing
            source:
              type: sqlite
              path: \(folder.appending("no-such.db"))
            sink:
              type: file
              path: \(folder.appending("out/events.jsonl"))
            state:
              path: \(folder.appending("state"))

            """.write(toFile: config, atomically: true, encoding: .utf8)
        let validated = try SiphonProcess.run(["validate", "--config", config])
        XCTAssertEqual(validated.status, 2)
        XCTAssertTrue(validated.stderr.contains("source.path"), validated.stderr)
        let ran = try SiphonProcess.run(["run", "--config", config])
        XCTAssertEqual(ran.status, 2)
        XCTAssertTrue(ran.stderr.contains("source.path"), ran.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appending("out")), "run created the sink's folder")
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appending("state")), "run created the state folder")
    }

    /// Two pipeline files writing one sink file, however the path is
    /// spelled, are refused before anything runs.
    func testTwoPipelinesCannotShareASinkFile() throws {
        let folder = try TemporaryDirectory()
        let first = try SQLiteHarness(setup: "CREATE TABLE t (id INTEGER PRIMARY KEY);")
        let second = try SQLiteHarness(setup: "CREATE TABLE t (id INTEGER PRIMARY KEY);")
        let shared = folder.appending("out/events.jsonl")
        try writeConfig(first, sinkPath: shared, to: folder.appending("a.yaml"))
        try writeConfig(second, sinkPath: folder.path + "/out/../out/./events.jsonl", to: folder.appending("b.yaml"))
        let result = try SiphonProcess.run(["validate", "--config", folder.path])
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.stderr.contains("b.yaml: sink.path: sink file") && result.stderr.contains("a.yaml"), result.stderr)
    }
}

/// The schema versions of a PostgreSQL pipeline live in its state folder:
/// a sink that holds events without that folder is refused, not resumed
/// with versions from 1; `offsets reset` starts it over, with a new slot and
/// a new snapshot after what the sink holds.
final class PostgresResumeAuthorityTests: PostgresTestCase {
    func testLostStateFolderIsRefusedUntilReset() throws {
        let pipeline = try PipelineHarness(server: server, snapshot: "initial", setup: """
            CREATE TABLE t (id int PRIMARY KEY, v text);
            INSERT INTO t VALUES (1, 'a');
            """)
        let first = try pipeline.start()
        _ = try pipeline.waitForRowEvents(1, process: first)
        try pipeline.sql("ALTER TABLE t ADD COLUMN w int; INSERT INTO t VALUES (2, 'b', 2)")
        _ = try pipeline.waitForRowEvents(2, process: first)
        try pipeline.stop(first)
        let versions = try pipeline.events().filter { $0["tableChanges"] != nil }.compactMap { $0["schema_version"] as? Int }
        XCTAssertEqual(versions, [1, 2])

        try FileManager.default.removeItem(atPath: pipeline.statePath)
        let refused = try SiphonProcess.run(["run", "--config", pipeline.configPath], environment: PipelineHarness.environment)
        XCTAssertEqual(refused.status, 1, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("neither a checkpoint nor the schema history"), refused.stderr)

        let reset = try SiphonProcess.run(["offsets", "reset", "--config", pipeline.configPath, "--to", "beginning", "--yes"],
                                          environment: PipelineHarness.environment)
        XCTAssertEqual(reset.status, 0, reset.stderr)
        XCTAssertTrue(reset.stdout.contains("dropped replication slot"), reset.stdout)
        let second = try pipeline.start()
        _ = try pipeline.waitForRowEvents(4, process: second)
        try pipeline.sql("INSERT INTO t VALUES (3, 'c', 3)")
        _ = try pipeline.waitForRowEvents(5, process: second)
        try pipeline.stop(second)
        let events = try pipeline.events()
        let ids = events.compactMap { $0["id"] as? String }
        XCTAssertEqual(ids, ids.sorted(), "the new snapshot follows what the sink held")
        XCTAssertEqual(Set(ids).count, ids.count)
        let snapshot = events.filter { $0["op"] as? String == "r" }.compactMap { $0[path: "key.id"] as? Int }
        XCTAssertEqual(snapshot, [1, 1, 2], "the first snapshot's row, then both rows again")
    }
}
