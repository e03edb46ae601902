import Glibc

/// Where a path really leads, so that two spellings of one file or folder compare equal:
/// `./state`, `state/`, `/srv/app/state` and `/srv/link/state` (with `link` a symbolic link
/// to `app`) are one folder to the kernel, and must be one to the checks that keep two
/// pipelines from sharing a state folder or a sink file.
///
/// Pure with respect to the file system: it only looks (`realpath(3)`), never creates.
public enum PathIdentity {
    /// `path` as an absolute path with every symbolic link, `.` and `..` resolved, one
    /// component at a time while the path exists; a component that does not exist (yet) is
    /// kept as text, and a `..` after it takes it away again, so a folder that a pipeline will
    /// create compares correctly before it exists, and `./a/../s` is `s` whether or not `a`
    /// exists. A relative path is relative to the working directory, as everywhere in a
    /// pipeline file.
    ///
    /// Two paths name the same file or folder now, or once created, when their results are
    /// equal. (A dangling symbolic link counts as not existing.)
    public static func resolve(_ path: String) -> String {
        let absolute = path.hasPrefix("/") ? path : workingDirectory() + "/" + path
        // `real` exists and has no links; `missing` is what follows it and does not exist.
        var real = "/"
        var missing: [Substring] = []
        for component in absolute.split(separator: "/") {
            switch component {
            case ".":
                continue
            case ".." where !missing.isEmpty:
                missing.removeLast()
            case "..":
                real = parent(of: real)
            default:
                if missing.isEmpty, let resolved = realPath(join(real, component)) {
                    real = resolved
                } else {
                    missing.append(component)
                }
            }
        }
        return missing.reduce(real) { join($0, $1) }
    }

    /// How two paths as returned by ``resolve(_:)`` relate: one file or folder, or one inside
    /// the other.
    public enum Relation: Sendable, Equatable {
        /// The same file or folder.
        case same
        /// The first lies inside the second (a folder).
        case inside
        /// The first is a folder that holds the second.
        case holds
    }

    /// How `path` relates to `other`, both as returned by ``resolve(_:)``; nil when neither is
    /// the other or inside it. For two sink files, `.same` is the clash; for two state folders,
    /// any relation is.
    public static func relation(of path: String, to other: String) -> Relation? {
        if path == other { return .same }
        if path.hasPrefix(other == "/" ? other : other + "/") { return .inside }
        if other.hasPrefix(path == "/" ? path : path + "/") { return .holds }
        return nil
    }

    private static func join(_ folder: String, _ name: Substring) -> String {
        folder == "/" ? "/" + name : folder + "/" + name
    }

    private static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return "/" }
        return String(path[..<slash])
    }

    private static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    private static func workingDirectory() -> String {
        guard let directory = getcwd(nil, 0) else { return "." }
        defer { free(directory) }
        return String(cString: directory)
    }
}
