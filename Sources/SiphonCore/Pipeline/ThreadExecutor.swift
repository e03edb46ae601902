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
/// Here the hand-off is an append to this thread's job list, and a source
/// that waits on a socket (`FileDescriptorWait`) blocks this thread
/// in `poll(2)`, which the kernel wakes the moment data arrives or another
/// thread enqueues a job.
///
/// Jobs run in the order they were enqueued.
public final class ThreadExecutor: TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    /// The thread waits on `condition` (nothing to do).
    private var sleeping = false
    /// The thread is blocked in `wait(for:events:timeout:)`; a byte written
    /// to `wakePipe` ends the poll.
    private var polling = false
    private var stopping = false
    /// Jobs taken from `jobs` that have not run yet (only read and written
    /// on this executor's thread).
    private var takenNotRun = 0
    private let wakePipe: (read: Int32, write: Int32)

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

    /// Whether jobs are waiting for this thread (the caller should yield to
    /// them before it blocks). Call only on this executor's thread.
    var hasQueuedJobs: Bool {
        if takenNotRun > 0 { return true }
        condition.lock()
        defer { condition.unlock() }
        return !jobs.isEmpty
    }

    /// Blocks this thread until `fd` has one of `events` (poll(2) flags),
    /// `timeout` passes, or a job is enqueued for this thread. True when the
    /// file descriptor is ready. Call only on this executor's thread
    /// (`ThreadExecutor.current`), after yielding to queued jobs; sources
    /// use `FileDescriptorWait`, which does both.
    func wait(for fd: Int32, events: Int16, timeout: Duration) -> Bool {
        if takenNotRun > 0 { return false }
        condition.lock()
        if !jobs.isEmpty || stopping {
            condition.unlock()
            return false
        }
        polling = true
        condition.unlock()
        let milliseconds = Int32(clamping: (timeout.inNanoseconds + 999_999) / 1_000_000)
        let (ready, woken) = withUnsafeTemporaryAllocation(of: pollfd.self, capacity: 2) { fds -> (Bool, Bool) in
            fds[0] = pollfd(fd: fd, events: events, revents: 0)
            fds[1] = pollfd(fd: wakePipe.read, events: Int16(POLLIN), revents: 0)
            let count = poll(fds.baseAddress, 2, milliseconds)
            return (count > 0 && fds[0].revents != 0, fds[1].revents != 0)
        }
        condition.lock()
        polling = false
        condition.unlock()
        if woken {
            var bytes: (UInt64, UInt64) = (0, 0)
            _ = read(wakePipe.read, &bytes, MemoryLayout.size(ofValue: bytes))
        }
        return ready
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
                sleeping = true
                condition.wait()
                sleeping = false
            }
            if jobs.isEmpty && stopping {
                condition.unlock()
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
