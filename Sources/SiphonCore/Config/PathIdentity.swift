import Foundation

/// One spelling per file, for telling whether two paths name the same file.
public enum PathIdentity {
    /// `path` made absolute, with symlinks resolved in its longest existing
    /// prefix and the rest appended, so paths to files that do not exist yet
    /// compare too (`./a/../s` and `s`, or a path through a symlinked folder).
    public static func resolve(_ path: String) -> String {
        var url = URL(fileURLWithPath: path).standardizedFileURL
        var rest: [String] = []
        while !FileManager.default.fileExists(atPath: url.path) {
            let parent = url.deletingLastPathComponent()
            if parent.path == url.path { break }
            rest.insert(url.lastPathComponent, at: 0)
            url = parent
        }
        var resolved = url.resolvingSymlinksInPath()
        for component in rest { resolved.appendPathComponent(component) }
        return resolved.path
    }
}
