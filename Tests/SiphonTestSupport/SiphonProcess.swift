import Foundation

/// The built `siphon` executable, run from tests either to completion or in the background.
///
/// Output is captured to temporary files (never pipes), so reading it is always safe and
/// returns everything written so far. A process still running at deinit is SIGKILLed.
public final class SiphonProcess: @unchecked Sendable {
    private let child: ChildProcess

    /// The `siphon` binary next to the running test binary (e.g. `.build/debug/siphon`).
    /// `SIPHON_EXECUTABLE` in the environment overrides the search.
    /// Traps with a clear message if it is missing: build it first (`swift build`).
    public static var executableURL: URL {
        do {
            return try locateExecutable()
        } catch {
            fatalError("\(error)")
        }
    }

    /// Like `executableURL`, but throws instead of trapping when the binary is missing.
    public static func locateExecutable(named name: String = "siphon") throws -> URL {
        if let override = ProcessInfo.processInfo.environment["SIPHON_EXECUTABLE"], !override.isEmpty {
            return URL(fileURLWithPath: override)
        }
        var folders: [URL] = []
        for bundle in Bundle.allBundles where bundle.bundleURL.pathExtension == "xctest" {
            folders.append(bundle.bundleURL.deletingLastPathComponent())
        }
        // On Linux the test binary is itself `<package>PackageTests.xctest` in .build/debug.
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            folders.append(URL(fileURLWithPath: exe).deletingLastPathComponent())
        }
        if let exe = Bundle.main.executableURL {
            folders.append(exe.deletingLastPathComponent())
        }
        for folder in folders {
            let candidate = folder.appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) {
                return candidate
            }
        }
        throw TestSupportError(
            "the `\(name)` executable was not found next to the test binary (looked in: "
                + folders.map(\.path).joined(separator: ", ")
                + "); run `swift build` before `swift test`, or set SIPHON_EXECUTABLE")
    }

    /// Runs `siphon arguments` to completion. The environment is inherited plus `environment`.
    /// `status` is the exit status, or 128 + the signal number if a signal ended it.
    /// Throws if it is still running after `timeout` (it is killed first).
    public static func run(
        _ arguments: [String],
        environment: [String: String] = [:],
        currentDirectory: String? = nil,
        timeout: Duration = .seconds(60)
    ) throws -> (status: Int32, stdout: String, stderr: String) {
        try ChildProcess.run(
            executable: try locateExecutable().path, arguments: arguments, environment: environment,
            currentDirectory: currentDirectory, timeout: timeout)
    }

    /// Runs any executable to completion (a `sqlite3` shell as the application's writer, say).
    public static func run(
        executable: String,
        arguments: [String],
        environment: [String: String] = [:],
        stdin: String? = nil,
        timeout: Duration = .seconds(60)
    ) throws -> (status: Int32, stdout: String, stderr: String) {
        try ChildProcess.run(executable: executable, arguments: arguments, environment: environment,
                             stdin: stdin, timeout: timeout)
    }

    /// Starts `siphon arguments` in the background.
    public convenience init(
        arguments: [String],
        environment: [String: String] = [:],
        currentDirectory: String? = nil
    ) throws {
        try self.init(
            executable: try Self.locateExecutable(), arguments: arguments,
            environment: environment, currentDirectory: currentDirectory)
    }

    /// Starts any executable in the background with the same capture and cleanup;
    /// used to test this type without a built `siphon`.
    public init(
        executable: URL,
        arguments: [String],
        environment: [String: String] = [:],
        currentDirectory: String? = nil
    ) throws {
        child = try ChildProcess(
            executable: executable.path, arguments: arguments, environment: environment,
            currentDirectory: currentDirectory)
    }

    public var pid: Int32 { child.pid }
    public var isRunning: Bool { child.isRunning }

    /// Sends `sig` (e.g. `SIGTERM`, `SIGINT`) if the process is still running.
    public func signal(_ sig: Int32) { child.signal(sig) }

    /// Returns the exit status (128 + signal number if a signal ended it);
    /// throws, quoting stderr, if it is still running after `timeout`.
    @discardableResult
    public func waitForExit(timeout: Duration) throws -> Int32 {
        try child.waitForExit(timeout: timeout)
    }

    /// Everything written to stderr so far.
    public var stderrText: String { child.stderrText }
    /// Everything written to stdout so far.
    public var stdoutText: String { child.stdoutText }

    /// Waits until stderr contains `text`; throws, quoting stderr, on timeout or if the process
    /// exits without having written it.
    public func waitFor(stderrContaining text: String, timeout: Duration) throws {
        let deadline = ContinuousClock.now + timeout
        while true {
            if stderrText.contains(text) { return }
            if !child.isRunning {
                // The process may have written it just before exiting.
                if stderrText.contains(text) { return }
                throw TestSupportError(
                    "\(child.commandLine) exited (status \((try? waitForExit(timeout: .seconds(1))) ?? -1)) before writing \"\(text)\" to stderr; stderr:\n\(tail(stderrText))")
            }
            if ContinuousClock.now >= deadline {
                throw TestSupportError(
                    "timed out after \(timeout) waiting for \"\(text)\" on stderr of \(child.commandLine); stderr:\n\(tail(stderrText))")
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
    }
}
