import Foundation

/// One thread that runs every task of one pipeline: the source, the drain
/// loop and the sink actor (default actors run on their caller's preferred
/// task executor).
///
/// On Swift's shared pool, each batch handed from the source to the sink
/// woke another thread: a futex wake, a context switch and a cache miss per
/// transaction when transactions are small (100,000 single-row transactions
/// cost about 1 futex call and 1 context switch each). On one thread the
/// hand-off is a queue append. The source and the sink no longer overlap,
/// which costs little: the database server needs the other core anyway.
///
/// Jobs run in the order they were enqueued. Code on this thread must not
/// block for long: a source that polls a socket gives the sink a turn
/// first (`Task.yield()`).
public final class PipelineExecutor: TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var sleeping = false
    private var stopping = false

    /// Starts the thread; it holds the executor until `shutdown`.
    public init(name: String) {
        let thread = Thread { self.runJobs() }
        thread.name = name
        thread.start()
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        condition.lock()
        if stopping {
            condition.unlock()
            globalConcurrentExecutor.enqueue(job)
            return
        }
        jobs.append(UnownedJob(job))
        let wake = sleeping
        condition.unlock()
        if wake { condition.signal() }
    }

    /// Lets the thread finish the jobs it has and end. Jobs enqueued
    /// afterwards (a task that outlived its pipeline) run on the shared pool.
    public func shutdown() {
        condition.lock()
        stopping = true
        condition.unlock()
        condition.signal()
    }

    private func runJobs() {
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
            for job in running {
                job.runSynchronously(on: asUnownedTaskExecutor())
            }
            running.removeAll(keepingCapacity: true)
        }
    }
}
