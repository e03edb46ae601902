/// The words for what is wrong with `source.path`, shared by the static check, `open` and
/// SQLite's own errors, so a person reads one wording whichever finds the problem first.
enum DatabaseFileProblem {
    static func missing(_ path: String) -> String {
        "\(path) does not exist; point it at the application's SQLite database file (Siphon never creates one)"
    }

    static func notAFile(_ path: String) -> String {
        "\(path) is not a file; point it at the application's SQLite database file"
    }

    static func unreadable(_ path: String) -> String {
        "\(path) is not readable; Siphon reads the application's changes from it (chmod u+r \(path))"
    }

    static func readOnly(_ path: String) -> String {
        "\(path) is read-only; Siphon installs triggers and a changelog table in it, so it needs write access to the file and its folder (chmod u+w \(path))"
    }

    static func folderReadOnly(folder: String, path: String) -> String {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        return "the folder \(folder) is read-only; SQLite creates \(name)-wal and \(name)-shm beside the database, so Siphon needs write access to the folder too (chmod u+w \(folder))"
    }

    static func notSQLite(_ path: String) -> String {
        "\(path) is not an SQLite database; point it at the application's SQLite database file"
    }

    static func notWAL(_ path: String, journalMode: String) -> String {
        "\(path) uses journal_mode=\(journalMode), not WAL; Siphon needs WAL so its reads never block the application's writers. Switch it once with `sqlite3 \(path) 'PRAGMA journal_mode=WAL'` (it persists), or set source.enable_wal: true to let Siphon do it"
    }
}
