import Glibc

extension SQLiteSourceConfiguration {
    /// What a person must fix about `source.path` before Siphon can capture it, found by
    /// looking only: `stat(2)`, `access(2)` and a read of the file's first 100 bytes. Nothing is
    /// opened through SQLite and nothing is created, so `siphon validate` may call it, and
    /// `run` before it creates a sink file or a state folder.
    ///
    /// Each problem is a key under `source` (`path`) and a message that names the file and the
    /// fix: the file exists and is a regular file; it is readable and writable, by `access(2)`
    /// and by its mode bits (root passes `access(2)` on any file); its folder is writable (for
    /// the `-wal` and `-shm` files); it starts with SQLite's header; and it is in WAL mode
    /// unless `enable_wal` lets Siphon switch it. Empty when all hold. `SQLiteSource` runs the
    /// same checks when it opens the database, in the same words, and then asks SQLite itself.
    public func staticProblems() -> [(key: String, message: String)] {
        var problems: [(key: String, message: String)] = []
        func add(_ message: String) { problems.append((key: "path", message: message)) }
        var info = stat()
        guard stat(path, &info) == 0 else {
            add(DatabaseFileProblem.missing(path))
            return problems
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            add(DatabaseFileProblem.notAFile(path))
            return problems
        }
        let readable = Self.permits(path, info, access: R_OK, modeBits: 0o444)
        if !readable { add(DatabaseFileProblem.unreadable(path)) }
        if !Self.permits(path, info, access: W_OK, modeBits: 0o222) { add(DatabaseFileProblem.readOnly(path)) }
        let folder = Self.folder(of: path)
        var folderInfo = stat()
        if stat(folder, &folderInfo) != 0 || !Self.permits(folder, folderInfo, access: W_OK, modeBits: 0o222) {
            add(DatabaseFileProblem.folderReadOnly(folder: folder, path: path))
        }
        guard readable else { return problems }
        switch DatabaseHeader.read(path) {
        case .notSQLite:
            add(DatabaseFileProblem.notSQLite(path))
        case .database(wal: false) where !enableWAL:
            // Only WAL is recorded in the file; any other mode is the default, DELETE, when
            // SQLite opens it, which is what `open` would report.
            add(DatabaseFileProblem.notWAL(path, journalMode: "delete"))
        case .database, .unreadable:
            break
        }
        return problems
    }

    private static func permits(_ path: String, _ info: stat, access mode: Int32, modeBits: mode_t) -> Bool {
        access(path, mode) == 0 && info.st_mode & modeBits != 0
    }

    private static func folder(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
