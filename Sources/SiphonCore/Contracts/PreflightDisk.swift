import Glibc

/// Free space where something grows, for `siphon check`.
public enum PreflightDisk {
    /// The folder a file lives in: `.` for a bare name, `/` for one at the root.
    public static func folder(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let folder = String(path[..<slash])
        return folder.isEmpty ? "/" : folder
    }

    /// Fails under 100 MB free, warns under 1 GB.
    public static func check(_ folder: String, what: String) -> PreflightCheck {
        var stats = statvfs()
        guard statvfs(folder, &stats) == 0 else {
            return .fail("free disk", "cannot read the free space of \(folder): \(String(cString: strerror(errno)))",
                         fix: "create \(folder), or point the key at an existing folder")
        }
        let free = UInt64(stats.f_bavail) * UInt64(stats.f_frsize)
        let shown = "\(free / 1_000_000) MB free in \(folder), \(what)"
        if free < 100_000_000 { return .fail("free disk", shown, fix: "free space on that file system, or use another") }
        if free < 1_000_000_000 { return .warn("free disk", shown, fix: "keep at least a few GB free there") }
        return .pass("free disk", shown)
    }
}
