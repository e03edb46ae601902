import Foundation

/// A tmpfs of a few megabytes mounted on a fresh folder, to fill up: a disk
/// that runs out of space and gets it back. Needs root (CAP_SYS_ADMIN);
/// `mount()` throws otherwise, and the caller skips. Unmounted on deinit.
public final class SmallDisk: @unchecked Sendable {
    public let path: String
    private let folder: TemporaryDirectory
    private var filler: String { (path as NSString).appendingPathComponent(".filler") }

    public init(megabytes: Int = 4) throws {
        folder = try TemporaryDirectory(prefix: "siphon-disk")
        path = folder.path
        let result = try ChildProcess.run(executable: "/bin/mount",
                                          arguments: ["-t", "tmpfs", "-o", "size=\(megabytes)m,mode=0755", "tmpfs", path],
                                          environment: [:], currentDirectory: nil, timeout: .seconds(30))
        guard result.status == 0 else {
            throw TestSupportError("cannot mount a tmpfs on \(path) (needs root): \(result.stderr)")
        }
    }

    /// Takes every free byte (the next write fails with ENOSPC).
    public func fill() throws {
        guard let handle = FileHandle(forWritingAtPath: filler) ?? {
            FileManager.default.createFile(atPath: filler, contents: nil)
            return FileHandle(forWritingAtPath: filler)
        }() else { throw TestSupportError("cannot create \(filler)") }
        defer { try? handle.close() }
        let chunk = Data(count: 64 * 1024)
        while true {
            do { try handle.write(contentsOf: chunk) } catch { break }
        }
        // Whatever the page granularity left: fill it a byte at a time.
        while (try? handle.write(contentsOf: Data(count: 1))) != nil {}
    }

    /// Gives the space back.
    public func free() {
        try? FileManager.default.removeItem(atPath: filler)
    }

    deinit {
        _ = try? ChildProcess.run(executable: "/bin/umount", arguments: ["-l", path], environment: [:],
                                  currentDirectory: nil, timeout: .seconds(30))
    }
}
