import Foundation
import Logging
import SiphonCore
@testable import SQLiteSource
import SiphonTestSupport
import XCTest

/// `SQLiteSourceConfiguration.staticProblems()`: what a person must fix about `source.path`,
/// found without opening the database or creating anything, in the words `open` uses.
final class StaticProblemsTests: XCTestCase {
    private var folder: TemporaryDirectory!

    override func setUpWithError() throws {
        folder = try TemporaryDirectory(prefix: "siphon-static")
    }

    /// A database made by the sqlite3 shell, in WAL mode unless `wal` is false.
    private func database(_ name: String, wal: Bool = true) throws -> String {
        let path = folder.appending(name)
        let result = try SiphonProcess.run(executable: "/usr/bin/sqlite3", arguments: [
            path, (wal ? "PRAGMA journal_mode=WAL;" : "") + "CREATE TABLE t (id INTEGER PRIMARY KEY);",
        ])
        XCTAssertEqual(result.status, 0, result.stderr)
        return path
    }

    private func problems(_ path: String, enableWAL: Bool = false) -> [String] {
        SQLiteSourceConfiguration(path: path, enableWAL: enableWAL).staticProblems().map { "\($0.key): \($0.message)" }
    }

    private func entries() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
    }

    func testAWritableDatabaseInWALModeHasNoProblemsAndNothingIsCreated() throws {
        let path = try database("app.db")
        let before = try entries()
        XCTAssertEqual(problems(path), [])
        XCTAssertEqual(try entries(), before, "no -wal, -shm or journal file appears")
    }

    func testMissingFileAndFolder() throws {
        let missing = folder.appending("nope.db")
        XCTAssertEqual(problems(missing), [
            "path: \(missing) does not exist; point it at the application's SQLite database file (Siphon never creates one)",
        ])
        XCTAssertEqual(problems(folder.path), ["path: \(folder.path) is not a file; point it at the application's SQLite database file"])
        XCTAssertEqual(try entries(), [], "nothing is created")
    }

    func testNotAnSQLiteDatabase() throws {
        let text = folder.appending("notes.txt")
        try String(repeating: "not a database\n", count: 20).write(toFile: text, atomically: true, encoding: .utf8)
        let short = folder.appending("short.db")
        try Data("SQLite format 3\0".utf8).write(to: URL(fileURLWithPath: short))
        XCTAssertEqual(problems(text), ["path: \(text) is not an SQLite database; point it at the application's SQLite database file"])
        XCTAssertEqual(problems(short), ["path: \(short) is not an SQLite database; point it at the application's SQLite database file"],
                       "a header cut short")
    }

    func testNotInWALModeUnlessSiphonMaySwitchIt() throws {
        let path = try database("rollback.db", wal: false)
        XCTAssertEqual(problems(path), [
            "path: \(path) uses journal_mode=delete, not WAL; Siphon needs WAL so its reads never block the application's writers. Switch it once with `sqlite3 \(path) 'PRAGMA journal_mode=WAL'` (it persists), or set source.enable_wal: true to let Siphon do it",
        ])
        XCTAssertEqual(problems(path, enableWAL: true), [])
        let empty = folder.appending("empty.db")
        _ = FileManager.default.createFile(atPath: empty, contents: nil)
        XCTAssertEqual(problems(empty, enableWAL: true), [], "SQLite takes an empty file as an empty database")
    }

    /// Mode bits count even for root, whom access(2) lets through.
    func testPermissionsOfTheFileAndItsFolder() throws {
        let path = try database("app.db")
        chmod(path, 0o444)
        XCTAssertEqual(problems(path), [
            "path: \(path) is read-only; Siphon installs triggers and a changelog table in it, so it needs write access to the file and its folder (chmod u+w \(path))",
        ])
        chmod(path, 0o200)
        XCTAssertEqual(problems(path), [
            "path: \(path) is not readable; Siphon reads the application's changes from it (chmod u+r \(path))",
        ])
        chmod(path, 0o644)
        chmod(folder.path, 0o555)
        defer { chmod(folder.path, 0o700) }
        XCTAssertEqual(problems(path), [
            "path: the folder \(folder.path) is read-only; SQLite creates app.db-wal and app.db-shm beside the database, so Siphon needs write access to the folder too (chmod u+w \(folder.path))",
        ])
    }

    func testOpenRefusesWithTheSameWords() throws {
        let missing = folder.appending("nope.db")
        let rollback = try database("rollback.db", wal: false)
        for path in [missing, rollback] {
            let configuration = SQLiteSourceConfiguration(path: path)
            let expected = try XCTUnwrap(configuration.staticProblems().first)
            XCTAssertThrowsError(try SQLiteSource.open(configuration, logger: Logger(label: "test"))) { error in
                XCTAssertEqual((error as? SiphonError)?.code, .configuration)
                XCTAssertEqual((error as? SiphonError)?.message, "source.\(expected.key): \(expected.message)")
            }
        }
    }
}
