import Glibc
import SiphonCore

/// `siphon check` for an SQLite source: the file, its journal mode, and room
/// beside it. Reads the header with `read(2)`: no lock, no side file, nothing created.
extension SQLiteSource {
    public static func preflight(_ configuration: SQLiteSourceConfiguration, context: ConnectorContext) async -> [PreflightCheck] {
        let path = configuration.path
        guard access(path, F_OK) == 0 else {
            return [.fail("database", "\(path) does not exist", fix: "point source.path at the application's database file")]
        }
        var checks: [PreflightCheck] = []
        switch DatabaseHeader.read(path) {
        case .notSQLite:
            return [.fail("database", "\(path) is not an SQLite database", fix: "point source.path at the application's database file")]
        case .unreadable:
            return [.fail("database", "\(path) cannot be read", fix: "give the user Siphon runs as read and write access to it")]
        case .database(let wal):
            checks.append(.pass("database", path))
            if wal {
                checks.append(.pass("journal mode", "WAL"))
            } else if configuration.enableWAL {
                checks.append(.warn("journal mode", "not WAL; `siphon run` switches it (source.enable_wal)",
                                    fix: "nothing, or switch it yourself: sqlite3 \(path) 'PRAGMA journal_mode=WAL'"))
            } else {
                checks.append(.fail("journal mode", "not WAL: readers would block the application's writers",
                                    fix: "sqlite3 \(path) 'PRAGMA journal_mode=WAL' (or set source.enable_wal: true)"))
            }
        }
        let folder = PreflightDisk.folder(of: path)
        let writable = access(path, R_OK | W_OK) == 0 && access(folder, W_OK | X_OK) == 0
        checks.append(writable
            ? .pass("writable", "the file and its folder (for the -wal and -shm files and Siphon's triggers)")
            : .fail("writable", "Siphon installs triggers and a changelog in the database, and SQLite writes -wal and -shm files beside it",
                    fix: "give the user Siphon runs as write access to \(path) and to \(folder)"))
        checks.append(PreflightDisk.check(folder, what: "the database's folder (changelog rows wait there until the sink has them)"))
        return checks
    }
}
