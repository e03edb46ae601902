import Dispatch
import Glibc
import Synchronization

/// Waits for a file descriptor (a database socket, a broker's socket, an
/// inotify handle) to become readable or writable.
///
/// On a pipeline's own thread (`ThreadExecutor`) the wait is a `poll(2)` on
/// that thread: in place when no other job of the pipeline is queued (the
/// kernel wakes the thread the moment the descriptor is ready), otherwise
/// the task suspends and the thread polls its descriptor, with every other
/// waiting task's, once the queued jobs have run. A source and a sink may
/// therefore both wait on their own sockets on one pipeline thread.
/// Elsewhere it parks no thread: Dispatch's readiness callback resumes the
/// task.
public enum FileDescriptorWait {
    public enum Interest: Sendable { case read, write }

    private static let queue = DispatchQueue(label: "siphon.fd-wait")

    /// True when the descriptor is ready; false when `timeout` passed first
    /// or, on a pipeline's thread, when another task of the pipeline got
    /// work meanwhile (the caller checks its descriptor and waits again).
    /// Once this returns, the descriptor is no longer watched: the caller
    /// may close it.
    public static func wait(_ fd: Int32, for interest: Interest, timeout: Duration) async -> Bool {
        let events = Int16(interest == .read ? POLLIN : POLLOUT)
        if let thread = ThreadExecutor.current {
            if thread.hasQueuedJobs {
                return await thread.suspend(until: fd, events: events, timeout: timeout)
            }
            return thread.wait(for: fd, events: events, timeout: timeout)
        }
        var probe = pollfd(fd: fd, events: events, revents: 0)
        if poll(&probe, 1, 0) > 0 { return true }
        return await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            // Set once, by the first of the readiness callback and the timer.
            let outcome = Mutex<Bool?>(nil)
            let source = SourceBox(interest == .read
                ? DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
                : DispatchSource.makeWriteSource(fileDescriptor: fd, queue: queue))
            let finish: @Sendable (Bool) -> Void = { ready in
                let first = outcome.withLock { outcome -> Bool in
                    guard outcome == nil else { return false }
                    outcome = ready
                    return true
                }
                if first { source.source.cancel() }
            }
            // Resumed only once Dispatch has stopped watching the descriptor:
            // the caller may close it right away, and a descriptor number
            // reused by another file must not be watched for this wait.
            source.source.setCancelHandler {
                continuation.resume(returning: outcome.withLock { $0 } ?? false)
            }
            source.source.setEventHandler { finish(true) }
            source.source.resume()
            queue.asyncAfter(deadline: .now() + .nanoseconds(timeout.inNanoseconds)) { finish(false) }
        }
    }
}

/// Dispatch sources are thread-safe but not marked Sendable.
private final class SourceBox: @unchecked Sendable {
    let source: any DispatchSourceProtocol
    init(_ source: any DispatchSourceProtocol) { self.source = source }
}

extension Duration {
    /// The whole duration in nanoseconds (what Dispatch and `timespec` take).
    public var inNanoseconds: Int {
        let (seconds, attoseconds) = components
        return Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
    }
}
