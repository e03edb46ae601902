import Foundation

/// Locating and running the PostgreSQL server binaries, as the `postgres` OS user when root.
public enum PostgresBinaries {
    /// `PG_BINDIR` if set, else Debian's PostgreSQL 15 location.
    static var directory: String {
        let override = ProcessInfo.processInfo.environment["PG_BINDIR"] ?? ""
        return override.isEmpty ? "/usr/lib/postgresql/15/bin" : override
    }

    static func path(_ name: String) throws -> String {
        let path = directory + "/" + name
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw TestSupportError(
                "\(path) not found: install postgresql-15 (Scripts/test.sh does) or set PG_BINDIR")
        }
        return path
    }

    /// PostgreSQL refuses to run as root, so as root we switch to the `postgres` user.
    static var runsAsRoot: Bool { geteuid() == 0 }

    /// Runs a PostgreSQL binary (as `postgres` when root); throws with its output unless it exits 0.
    @discardableResult
    static func runAsServerUser(_ name: String, _ arguments: [String], in directory: String, timeout: Duration) throws -> String {
        let binary = try path(name)
        var executable = binary
        var args = arguments
        if runsAsRoot {
            executable = ["/usr/sbin/runuser", "/sbin/runuser"].first { FileManager.default.isExecutableFile(atPath: $0) }
                ?? "/usr/sbin/runuser"
            args = ["-u", "postgres", "--", binary] + arguments
        }
        let result = try ChildProcess.run(
            executable: executable, arguments: args, currentDirectory: directory, timeout: timeout)
        guard result.status == 0 else {
            throw TestSupportError(
                "\(name) \(arguments.joined(separator: " ")) exited with status \(result.status):\n\(result.stdout)\(result.stderr)")
        }
        return result.stdout
    }

    /// Hands `paths` to the `postgres` user when root; a no-op otherwise (we are the server user).
    static func giveToServerUser(_ paths: [String]) throws {
        guard runsAsRoot else { return }
        guard let entry = getpwnam("postgres") else {
            throw TestSupportError("running as root but there is no `postgres` user: install postgresql-15")
        }
        for path in paths where chown(path, entry.pointee.pw_uid, entry.pointee.pw_gid) != 0 {
            throw TestSupportError("chown \(path) to postgres failed: \(String(cString: strerror(errno)))")
        }
    }

    /// A loopback TCP port that is free right now: bind port 0 and read back the kernel's choice.
    public static func freeLoopbackPort() throws -> Int {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw TestSupportError("socket() failed: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = in_addr_t(UInt32(0x7F00_0001).bigEndian)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bind(fd, socketAddress, length) == 0 && getsockname(fd, socketAddress, &length) == 0
            }
        }
        guard bound else { throw TestSupportError("could not bind a loopback port: \(String(cString: strerror(errno)))") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
