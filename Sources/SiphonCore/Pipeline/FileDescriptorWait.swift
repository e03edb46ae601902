import Dispatch
import Glibc
import Synchronization

/// Waits for a file descriptor (a database socket, an inotify handle) to
/// become readable or writable.
///
/// On a pipeline's own thread (`ThreadExecutor`) the wait is a `poll(2)` on
/// that thread, after the pipeline's queued jobs (the sink may have a batch
/// just sent to it) have run: the kernel wakes the thread the moment the
/// descriptor is ready. Elsewhere it parks no thread: Dispatch's readiness
/// callback resumes the task.
public enum FileDescriptorWait {
    public enum Interest: Sendable { case read, write }

    private static let queue = DispatchQueue(label: "siphon.fd-wait")

    /// True when the descriptor is ready; false when `timeout` passed first
    /// or, on a pipeline's thread, when another task of the pipeline has
    /// work (the caller checks its descriptor and waits again).
    public static func wait(_ fd: Int32, for interest: Interest, timeout: Duration) async -> Bool {
        let events = Int16(interest == .read ? POLLIN : POLLOUT)
        if let thread = ThreadExecutor.current {
            if thread.hasQueuedJobs { await Task.yield() }
            return thread.wait(for: fd, events: events, timeout: timeout)
        }
        var probe = pollfd(fd: fd, events: events, revents: 0)
        if poll(&probe, 1, 0) > 0 { return true }
        return await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let done = Mutex(false)
            let source = SourceBox(interest == .read
                ? DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
                : DispatchSource.makeWriteSource(fileDescriptor: fd, queue: queue))
            let finish: @Sendable (Bool) -> Void = { ready in
                let first = done.withLock { done -> Bool in
                    defer { done = true }
                    return !done
                }
                guard first else { return }
                source.source.cancel()
                continuation.resume(returning: ready)
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
