import Foundation

/// Polls `condition` every `interval` until it returns `true`, for at most `timeout`.
///
/// Errors thrown by `condition` count as "not yet"; the last one is quoted if time runs out.
/// Throws a `TestSupportError` naming `description` on timeout.
public func eventually(
    timeout: Duration = .seconds(30),
    interval: Duration = .milliseconds(50),
    _ description: String,
    _ condition: () throws -> Bool
) throws {
    let deadline = ContinuousClock.now + timeout
    var lastError: (any Error)?
    while true {
        do {
            if try condition() { return }
            lastError = nil
        } catch {
            lastError = error
        }
        if ContinuousClock.now >= deadline { break }
        Thread.sleep(forTimeInterval: interval.timeInterval)
    }
    var message = "timed out after \(timeout) waiting for: \(description)"
    if let lastError { message += " (last error: \(lastError))" }
    throw TestSupportError(message)
}
