import Foundation
import Glibc
import SiphonCore

/// `siphon check` for the SQLite target: the file is a database Siphon may
/// write (or can be created), its folder takes the WAL and journal files,
/// there is free disk, and what `_siphon_offsets` holds for the pipeline.
/// Creates nothing.
extension SQLiteSink {
    public static func preflight(_ configuration: SQLiteSinkConfiguration, context: ConnectorContext) async -> [PreflightCheck] {
        let path = configuration.path
        let folder = PreflightDisk.folder(of: path)
        var checks: [PreflightCheck] = []
        if access(path, F_OK) == 0 {
            guard access(path, R_OK | W_OK) == 0 else {
                return [.fail("database", "\(path) is not readable and writable", fix: "give the user Siphon runs as read and write access to \(path)")]
            }
            do {
                let held = try SQLiteTarget.storedPosition(path: path, pipeline: context.pipeline)
                checks.append(.pass("database", "\(path) is a database Siphon may write; "
                    + (held.map { "_siphon_offsets holds pipeline \(context.pipeline) at \($0)" } ?? "nothing of pipeline \(context.pipeline) yet")))
            } catch {
                return [.fail("database", (error as? SiphonError)?.message ?? "\(error)",
                              fix: "point sink.path at an SQLite database, or at a file that does not exist yet")]
            }
        } else if access(folder, F_OK) != 0 {
            return [.fail("database", "the folder \(folder) of \(path) does not exist", fix: "create \(folder), or choose another sink.path")]
        } else {
            checks.append(.pass("database", "\(path) does not exist yet; the sink creates it"))
        }
        // SQLite writes the -wal and -shm files (and a journal) next to the database.
        checks.append(access(folder, W_OK | X_OK) == 0
            ? .pass("folder", "\(folder) takes the database's -wal and -shm files")
            : .fail("folder", "\(folder) is not writable: SQLite cannot create the database's -wal and -shm files there",
                    fix: "give the user Siphon runs as write access to \(folder)"))
        checks.append(PreflightDisk.check(folder, what: "for the target database"))
        return checks
    }
}
