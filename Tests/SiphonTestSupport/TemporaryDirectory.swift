import Foundation

/// A fresh, uniquely named directory under /tmp, removed with its contents on deinit.
public final class TemporaryDirectory: @unchecked Sendable {
    /// Absolute path of the directory; it exists until this object is released.
    public let path: String

    /// Creates the directory (mode 0700) with `mkdtemp`.
    public init(prefix: String = "siphon-test") throws {
        var template = Array("/tmp/\(prefix).XXXXXX".utf8CString)
        guard let result = mkdtemp(&template) else {
            throw TestSupportError("mkdtemp failed: \(String(cString: strerror(errno)))")
        }
        path = String(cString: result)
    }

    /// `path` joined with `name`.
    public func appending(_ name: String) -> String {
        (path as NSString).appendingPathComponent(name)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }
}
