import Dispatch
import Glibc
import Synchronization

/// Waits for a socket to become readable or writable without parking a
/// thread: the kernel's readiness notification (epoll, through Dispatch)
/// resumes the waiting task.
enum SocketWait {
    enum Interest { case read, write }

    private static let queue = DispatchQueue(label: "siphon.postgres.socket")

    /// True when the socket is ready, false when `timeout` passed first.
    ///
    /// `spin` first waits up to that long (at least 1 ms) in `poll(2)` on the calling
    /// thread: while the server is streaming, the next message is usually
    /// microseconds away, and catching it here saves two thread hand-offs
    /// (Dispatch's, then the task's) per wait.
    static func wait(_ fd: Int32, for interest: Interest, timeout: Duration, spin: Duration = .zero) async -> Bool {
        var probe = pollfd(fd: fd, events: Int16(interest == .read ? POLLIN : POLLOUT), revents: 0)
        if poll(&probe, 1, 0) > 0 { return true }
        if spin > .zero {
            let milliseconds = Int32(max(1, spin.components.seconds * 1000 + spin.components.attoseconds / 1_000_000_000_000_000))
            if poll(&probe, 1, milliseconds) > 0 { return true }
        }
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
