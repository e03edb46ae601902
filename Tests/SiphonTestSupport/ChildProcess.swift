import Foundation

/// A child process whose stdout and stderr go to temporary files, so a chatty child can
/// never block on a full pipe. The building block of `SiphonProcess` and `PostgresServer`.
///
/// Spawned with `posix_spawn` and reaped with `waitpid` rather than Foundation's `Process`:
/// on Linux, `Process` notices exit through a socket the child inherits, so a child that
/// leaves a daemon behind (`pg_ctl start`) never looks finished.
final class ChildProcess: @unchecked Sendable {
    let pid: Int32
    let stdoutPath: String
    let stderrPath: String
    let commandLine: String
    private let outputDirectory: TemporaryDirectory
    private let lock = NSLock()
    /// The raw `waitpid` status once reaped; after that `pid` may belong to someone else.
    private var reapedStatus: Int32?

    /// Starts `executable` with the inherited environment plus `environment`.
    /// `stdin`, when given, is the path of a file fed to standard input (else /dev/null).
    init(
        executable: String,
        arguments: [String],
        environment: [String: String] = [:],
        currentDirectory: String? = nil,
        stdin: String? = nil
    ) throws {
        outputDirectory = try TemporaryDirectory(prefix: "siphon-proc")
        stdoutPath = outputDirectory.appending("stdout")
        stderrPath = outputDirectory.appending("stderr")
        commandLine = ([executable] + arguments).joined(separator: " ")
        try createFile(atPath: stdoutPath)
        try createFile(atPath: stderrPath)

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdin ?? "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_APPEND, 0)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_APPEND, 0)

        // Start from default signal handling whatever the test runner blocked or ignored.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var signals = sigset_t()
        sigemptyset(&signals)
        posix_spawnattr_setsigmask(&attributes, &signals)
        sigfillset(&signals)
        posix_spawnattr_setsigdefault(&attributes, &signals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        // glibc's posix_spawn_file_actions_addchdir_np is not visible to Swift; a shell that
        // changes directory and then execs keeps the same pid.
        var argv = [executable] + arguments
        if let currentDirectory {
            argv = ["/bin/sh", "-c", "cd -- \"$0\" && exec \"$@\"", currentDirectory] + argv
        }
        let env = ProcessInfo.processInfo.environment.merging(environment) { $1 }.map { "\($0.key)=\($0.value)" }
        var spawned: pid_t = 0
        let path = argv[0]
        let result = Self.withCStrings(argv) { argv in
            Self.withCStrings(env) { envp in
                posix_spawn(&spawned, path, &actions, &attributes, argv, envp)
            }
        }
        guard result == 0 else {
            throw TestSupportError("could not start \(commandLine): \(String(cString: strerror(result)))")
        }
        pid = spawned
    }

    var isRunning: Bool { lock.withLock { reapLocked() == nil } }
    var stdoutText: String { Self.read(stdoutPath) }
    var stderrText: String { Self.read(stderrPath) }

    /// Sends `sig` unless the child has already been reaped (its pid may then be reused).
    func signal(_ sig: Int32) {
        lock.withLock {
            if reapLocked() == nil { _ = kill(pid, sig) }
        }
    }

    /// Waits for the child to exit and returns its exit status, or 128 + the signal number
    /// if a signal ended it (the shell's convention). Throws if it is still running at `timeout`.
    func waitForExit(timeout: Duration) throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let status = lock.withLock({ reapLocked() }) {
                let signal = status & 0x7f
                return signal == 0 ? (status >> 8) & 0xff : 128 + signal
            }
            if ContinuousClock.now >= deadline {
                throw TestSupportError(
                    "timed out after \(timeout) waiting for \(commandLine) (pid \(pid)) to exit; stderr:\n\(tail(stderrText))")
            }
            Thread.sleep(forTimeInterval: 0.01)
        }
    }

    /// Runs to completion; on timeout the child is killed and the call throws.
    static func run(
        executable: String,
        arguments: [String],
        environment: [String: String] = [:],
        currentDirectory: String? = nil,
        stdin: String? = nil,
        timeout: Duration
    ) throws -> (status: Int32, stdout: String, stderr: String) {
        let child = try ChildProcess(
            executable: executable, arguments: arguments, environment: environment,
            currentDirectory: currentDirectory, stdin: stdin)
        do {
            let status = try child.waitForExit(timeout: timeout)
            return (status, child.stdoutText, child.stderrText)
        } catch {
            child.terminate()
            throw error
        }
    }

    /// SIGTERM, then SIGKILL if the child has not gone within a second; reaps it.
    func terminate() {
        guard isRunning else { return }
        signal(SIGTERM)
        if (try? waitForExit(timeout: .seconds(1))) == nil {
            signal(SIGKILL)
            _ = try? waitForExit(timeout: .seconds(5))
        }
    }

    /// Non-blocking reap; call with `lock` held.
    private func reapLocked() -> Int32? {
        if let reapedStatus { return reapedStatus }
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        if result == pid {
            reapedStatus = status
        } else if result < 0 && errno == ECHILD {
            reapedStatus = 0x7f  // someone else reaped it; report as "killed by signal 127"
        }
        return reapedStatus
    }

    private static func read(_ path: String) -> String {
        guard let data = FileManager.default.contents(atPath: path) else { return "" }
        return String(decoding: data, as: UTF8.self)
    }

    /// Calls `body` with a NULL-terminated C array of `strings`, valid only during the call.
    private static func withCStrings<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
        let pointers = strings.map { strdup($0) } + [nil]
        defer { pointers.forEach { free($0) } }
        return body(pointers)
    }

    deinit {
        if isRunning {
            signal(SIGKILL)
            _ = try? waitForExit(timeout: .seconds(5))
        }
    }
}
