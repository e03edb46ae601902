import Glibc
import SiphonCore

/// `siphon check` for the file sink: where the file goes can take it.
extension FileSink {
    public static func preflight(_ configuration: FileSinkConfiguration, context: ConnectorContext) async -> [PreflightCheck] {
        let path = configuration.path
        var folder = PreflightDisk.folder(of: path)
        var checks: [PreflightCheck] = []
        if access(path, F_OK) == 0 {
            checks.append(access(path, W_OK) == 0
                ? .pass("file", "\(path) exists and is writable; events are appended")
                : .fail("file", "\(path) is not writable", fix: "give the user Siphon runs as write access to \(path)"))
        } else {
            // The nearest existing folder up the path must let Siphon create the rest.
            var existing = folder
            while access(existing, F_OK) != 0, existing.contains("/"), existing != "/" {
                existing = PreflightDisk.folder(of: existing)
            }
            checks.append(access(existing, W_OK | X_OK) == 0
                ? .pass("file", "\(path) will be created")
                : .fail("file", "cannot create \(path): \(existing) is not writable", fix: "give the user Siphon runs as write access to \(existing), or choose another sink.path"))
            folder = existing
        }
        checks.append(PreflightDisk.check(folder, what: "for the events"))
        return checks
    }
}
