import Dispatch
import Glibc
import SiphonCore
import Synchronization

/// Waits for a socket to become readable or writable. On a pipeline's own
/// thread (`ThreadExecutor`) the wait is a `poll(2)` on that thread, which
/// the kernel wakes the moment the socket is ready; elsewhere it parks no
/// thread (the kernel's readiness notification, through Dispatch, resumes
/// the task).
enum SocketWait {
    enum Interest { case read, write }

    private static let queue = DispatchQueue(label: "siphon.postgres.socket")

    /// True when the socket is ready; false when `timeout` passed first or,
    /// on a pipeline's thread, when another task of the pipeline has work
    /// (the caller checks its socket and waits again).
    static func wait(_ fd: Int32, for interest: Interest, timeout: Duration) async -> Bool {
        let events = Int16(interest == .read ? POLLIN : POLLOUT)
        if let thread = ThreadExecutor.current {
            // The sink may have a batch just sent to it: let it write before this thread blocks.
            if thread.hasQueuedJobs { await Task.yield() }
            return thread.wait(for: fd, events: events, timeout: timeout)
        }
        var probe = pollfd(fd: fd, events: events, revents: 0)
        if poll(&probe, 1, 0) > 0 { return true }
        let (seconds, attoseconds) = timeout.components
        let nanoseconds = Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
        return await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let done = Mutex(false)
            let source = SourceBox(interest == .read
                ? DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
                : DispatchSource.makeWriteSource(fileDescriptor: fd, queue: queue))
            let finish: @Sendable (Bool) -> Void = { ready in
                let first = done.withLock { done -> Bool in
                    if done { return false }
                    done = true
                    return true
                }
                guard first else { return }
                source.source.cancel()
                continuation.resume(returning: ready)
            }
            source.source.setEventHandler { finish(true) }
            source.source.resume()
            queue.asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) { finish(false) }
        }
    }
}

/// Dispatch sources are thread-safe but not marked Sendable.
private final class SourceBox: @unchecked Sendable {
    let source: any DispatchSourceProtocol
    init(_ source: any DispatchSourceProtocol) { self.source = source }
}
