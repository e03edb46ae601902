import Glibc

/// What SQLite's 100-byte file header says, read with `read(2)` (no lock, no side file).
enum DatabaseHeader {
    case database(wal: Bool)
    case notSQLite
    /// The file could not be read; permissions are reported separately.
    case unreadable

    /// Every database file starts with "SQLite format 3\0"; bytes 18 and 19 (file format
    /// write and read versions) are 2 in WAL mode, 1 otherwise. An empty file is an empty
    /// database to SQLite, in the default (rollback) mode.
    static func read(_ path: String) -> DatabaseHeader {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return .unreadable }
        defer { close(descriptor) }
        var header = [UInt8](repeating: 0, count: 100)
        var count = 0
        while count < header.count {
            let got = header.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress! + count, $0.count - count) }
            if got < 0, errno == EINTR { continue }
            guard got > 0 else { break }
            count += got
        }
        if count == 0 { return .database(wal: false) }
        guard count == header.count, header.prefix(16).elementsEqual("SQLite format 3\0".utf8) else { return .notSQLite }
        return .database(wal: header[18] == 2 && header[19] == 2)
    }
}
