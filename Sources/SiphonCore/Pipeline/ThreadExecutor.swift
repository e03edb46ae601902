import Foundation
import Glibc

/// A task executor with one thread of its own: each pipeline runs its
/// source, its drain loop and its sink here (default actors such as the file
/// sink run on their caller's preferred executor).
///
/// On Swift's shared pool, every batch handed from the source to the sink
/// woke another thread, and a source waiting for its database through
/// Dispatch's readiness callbacks cost two more hand-offs per wake-up.
/// When changes trickle in, those wake-ups are most of an event's latency.
/// Here the hand-off is an append to this thread's job list, and a task
/// that waits on a descriptor (`FileDescriptorWait`) blocks this thread in
/// `poll(2)`, which the kernel wakes the moment data arrives or another
/// thread enqueues a job.
///
/// Any number of tasks may wait on descriptors at once (a source on its
/// database socket, a sink on a target's or a broker's): a wait that cannot
/// block the thread in place, because other jobs are queued, registers its
/// descriptor and suspends, and every `poll(2)` this thread makes covers
/// every registered descriptor. Waiting tasks therefore never hand the
/// thread back and forth without blocking, and an idle pipeline sleeps.
///
/// Jobs run in the order they were enqueued.
public final class ThreadExecutor: TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    /// The thread waits on `condition` (nothing to do, nothing to poll).
    private var sleeping = false
    /// The thread is blocked in `poll(2)`; a byte written to `wakePipe` ends it.
    private var polling = false
    private var stopping = false
    /// Jobs taken from `jobs` that have not run yet (only read and written
    /// on this executor's thread).
    private var takenNotRun = 0
    private let wakePipe: (read: Int32, write: Int32)

    /// A task suspended until its descriptor is ready or its deadline passes.
    private struct Waiter {
        var fd: Int32
        var events: Int16
        var deadline: ContinuousClock.Instant
        var continuation: CheckedContinuation<Bool, Never>
    }

    /// Registered waits (only read and written on this executor's thread:
    /// only tasks running here register).
    private var waiters: [Waiter] = []
    private let clock = ContinuousClock()

    private static let currentKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// The executor whose thread is the calling thread, if any.
    public static var current: ThreadExecutor? {
        pthread_getspecific(currentKey).map { Unmanaged<ThreadExecutor>.fromOpaque($0).takeUnretainedValue() }
    }

    /// Starts the thread; it runs jobs until `shutdown`.
    public init(name: String) {
        var fds: [Int32] = [-1, -1]
        if pipe(&fds) != 0 {
            fatalError("cannot create a pipe for the pipeline thread: \(String(cString: strerror(errno)))")
        }
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        wakePipe = (fds[0], fds[1])
        let thread = Thread {
            // Shown by `top -H` and in stack dumps (Linux keeps 15 bytes).
            Thread.current.name = name
            self.runJobs()
        }
        thread.start()
    }

    deinit {
        close(wakePipe.read)
        close(wakePipe.write)
    }

    private func wakePoll() {
        var byte: UInt8 = 1
        _ = write(wakePipe.write, &byte, 1)
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        condition.lock()
        if stopping {
            condition.unlock()
            globalConcurrentExecutor.enqueue(job)
            return
        }
        jobs.append(UnownedJob(job))
        let wakeSleeper = sleeping
        let wakePoller = polling
        polling = false
        condition.unlock()
        if wakeSleeper { condition.signal() }
        if wakePoller { wakePoll() }
    }

    /// Whether jobs are waiting for this thread (the caller should let them
    /// run before it blocks). Call only on this executor's thread.
    var hasQueuedJobs: Bool {
        if takenNotRun > 0 { return true }
        condition.lock()
        defer { condition.unlock() }
        return !jobs.isEmpty
    }

    /// Blocks this thread until `fd` has one of `events` (poll(2) flags),
    /// `timeout` passes, or a job is enqueued for this thread; registered
    /// waits are polled too, and those that end are resumed. True when the
    /// file descriptor is ready. Call only on this executor's thread
    /// (`ThreadExecutor.current`) with no job queued; `FileDescriptorWait`
    /// decides between this and `suspend`.
    func wait(for fd: Int32, events: Int16, timeout: Duration) -> Bool {
        if takenNotRun > 0 { return false }
        condition.lock()
        if !jobs.isEmpty || stopping {
            condition.unlock()
            return false
        }
        polling = true
        condition.unlock()
        let (ready, ended) = poll(own: (fd, events), until: clock.now + timeout)
        condition.lock()
        polling = false
        condition.unlock()
        resume(ended)
        return ready
    }

    /// Suspends the calling task until `fd` has one of `events` or
    /// `timeout` passes, while this thread runs other jobs; the thread polls
    /// the descriptor whenever it has nothing else to do. Call only from a
    /// task running on this executor's thread.
    func suspend(until fd: Int32, events: Int16, timeout: Duration) async -> Bool {
        let deadline = clock.now + timeout
        return await withCheckedContinuation { continuation in
            // Still on this thread: the continuation is created synchronously.
            waiters.append(Waiter(fd: fd, events: events, deadline: deadline, continuation: continuation))
        }
    }

    /// One `poll(2)` over `own` (the caller's descriptor, if any), the wake
    /// pipe and every registered wait, until `deadline` at the latest (or
    /// the earliest registered deadline). Removes the registered waits that
    /// are ready or due and returns them, to be resumed once `polling` is
    /// cleared (each resumption enqueues a job, which would otherwise write
    /// to the wake pipe for nothing), and whether `own` is ready.
    private func poll(own: (fd: Int32, events: Int16)?, until deadline: ContinuousClock.Instant?)
        -> (ready: Bool, ended: [(CheckedContinuation<Bool, Never>, Bool)]) {
        var earliest = deadline
        for waiter in waiters where earliest.map({ waiter.deadline < $0 }) ?? true {
            earliest = waiter.deadline
        }
        let milliseconds: Int32
        if let earliest {
            let remaining = max(earliest - clock.now, .zero)
            milliseconds = Int32(clamping: (remaining.inNanoseconds + 999_999) / 1_000_000)
        } else {
            milliseconds = -1
        }
        let extra = own == nil ? 0 : 1
        let count = waiters.count + extra + 1
        let (ownReady, woken, readyWaiters) = withUnsafeTemporaryAllocation(of: pollfd.self, capacity: count) { fds -> (Bool, Bool, [Bool]) in
            if let own { fds[0] = pollfd(fd: own.fd, events: own.events, revents: 0) }
            fds[extra] = pollfd(fd: wakePipe.read, events: Int16(POLLIN), revents: 0)
            for (index, waiter) in waiters.enumerated() {
                fds[extra + 1 + index] = pollfd(fd: waiter.fd, events: waiter.events, revents: 0)
            }
            let result = Glibc.poll(fds.baseAddress, nfds_t(count), milliseconds)
            guard result > 0 else { return (false, false, []) }
            return (own != nil && fds[0].revents != 0, fds[extra].revents != 0,
                    (0..<waiters.count).map { fds[extra + 1 + $0].revents != 0 })
        }
        if woken {
            var bytes: (UInt64, UInt64) = (0, 0)
            _ = read(wakePipe.read, &bytes, MemoryLayout.size(ofValue: bytes))
        }
        var ended: [(CheckedContinuation<Bool, Never>, Bool)] = []
        if !waiters.isEmpty {
            let now = clock.now
            var index = 0
            waiters.removeAll { waiter in
                defer { index += 1 }
                let ready = index < readyWaiters.count && readyWaiters[index]
                guard ready || waiter.deadline <= now else { return false }
                ended.append((waiter.continuation, ready))
                return true
            }
        }
        return (ownReady, ended)
    }

    /// Resumes ended waits: each enqueues its task's next job on this executor.
    private func resume(_ ended: [(CheckedContinuation<Bool, Never>, Bool)]) {
        for (continuation, ready) in ended { continuation.resume(returning: ready) }
    }

    /// Lets the thread finish the jobs it has and end. Jobs enqueued
    /// afterwards (a task that outlived its owner) run on the shared pool.
    public func shutdown() {
        condition.lock()
        stopping = true
        let wakePoller = polling
        condition.unlock()
        condition.signal()
        if wakePoller { wakePoll() }
    }

    private func runJobs() {
        pthread_setspecific(Self.currentKey, Unmanaged.passUnretained(self).toOpaque())
        var running: [UnownedJob] = []
        while true {
            condition.lock()
            while jobs.isEmpty && !stopping {
                if waiters.isEmpty {
                    sleeping = true
                    condition.wait()
                    sleeping = false
                } else {
                    polling = true
                    condition.unlock()
                    let (_, ended) = poll(own: nil, until: nil)
                    condition.lock()
                    polling = false
                    condition.unlock()
                    resume(ended)
                    condition.lock()
                }
            }
            if jobs.isEmpty && stopping {
                condition.unlock()
                // Waits still registered end now; their tasks go on on the shared pool.
                let left = waiters
                waiters.removeAll()
                left.forEach { $0.continuation.resume(returning: false) }
                return
            }
            swap(&jobs, &running)
            condition.unlock()
            for (index, job) in running.enumerated() {
                takenNotRun = running.count - index - 1
                job.runSynchronously(on: asUnownedTaskExecutor())
            }
            takenNotRun = 0
            running.removeAll(keepingCapacity: true)
        }
    }
}
