import Foundation
import Glibc
@testable import SiphonCore
import Synchronization
import XCTest

/// The pipeline thread: tasks that prefer it run there in order, and a
/// socket wait on it ends when the socket is ready or another task has work.
final class ThreadExecutorTests: XCTestCase {
    func testTasksRunOnItsThreadInOrder() async throws {
        let thread = ThreadExecutor(name: "test")
        defer { thread.shutdown() }
        XCTAssertNil(ThreadExecutor.current)
        let order = Box<[Int]>([])
        let tasks = (0..<5).map { index in
            Task(executorPreference: thread) {
                XCTAssertTrue(ThreadExecutor.current === thread)
                order.value.withLock { $0.append(index) }
                await Task.yield()
                XCTAssertTrue(ThreadExecutor.current === thread, "a resumed task stays on its thread")
            }
        }
        for task in tasks { await task.value }
        XCTAssertEqual(order.value.withLock { $0 }, [0, 1, 2, 3, 4])
    }

    func testWaitEndsWhenTheSocketIsReady() async throws {
        let thread = ThreadExecutor(name: "test")
        defer { thread.shutdown() }
        let (reader, writer) = try makePipe()
        defer { close(reader); close(writer) }
        let ready = await Task(executorPreference: thread) {
            thread.wait(for: reader, events: Int16(POLLIN), timeout: .milliseconds(50))
        }.value
        XCTAssertFalse(ready, "nothing written: the wait times out")

        var byte: UInt8 = 7
        XCTAssertEqual(write(writer, &byte, 1), 1)
        let readyNow = await Task(executorPreference: thread) {
            thread.wait(for: reader, events: Int16(POLLIN), timeout: .seconds(30))
        }.value
        XCTAssertTrue(readyNow)
    }

    func testWaitEndsWhenAnotherTaskHasWork() async throws {
        let thread = ThreadExecutor(name: "test")
        defer { thread.shutdown() }
        let (reader, writer) = try makePipe()
        defer { close(reader); close(writer) }
        let waiting = Box(false)
        let ran = Box(false)
        let waiter = Task(executorPreference: thread) { () -> Duration in
            let clock = ContinuousClock()
            let start = clock.now
            waiting.value.withLock { $0 = true }
            // The socket never becomes ready; the other task's job must end the wait.
            let ready = thread.wait(for: reader, events: Int16(POLLIN), timeout: .seconds(30))
            XCTAssertFalse(ready)
            return clock.now - start
        }
        while !waiting.value.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(1)) }
        try await Task.sleep(for: .milliseconds(20))  // the waiter is in poll by now
        await Task(executorPreference: thread) { ran.value.withLock { $0 = true } }.value
        let waited = await waiter.value
        XCTAssertTrue(ran.value.withLock { $0 })
        XCTAssertLessThan(waited, .seconds(25), "the wait ended for the other task's job, not at its timeout")
    }

    func testWaitDoesNotBlockJobsTakenWithIt() async throws {
        let thread = ThreadExecutor(name: "test")
        defer { thread.shutdown() }
        let (reader, writer) = try makePipe()
        defer { close(reader); close(writer) }
        // Both tasks are enqueued while this one runs, so the thread takes them
        // together: the waiter must not block the one queued behind it.
        let (waiter, other) = await Task(executorPreference: thread) { () -> (Task<Bool, Never>, Task<Void, Never>) in
            let waiter = Task(executorPreference: thread) {
                thread.wait(for: reader, events: Int16(POLLIN), timeout: .seconds(30))
            }
            let other = Task(executorPreference: thread) {}
            return (waiter, other)
        }.value
        let clock = ContinuousClock()
        let start = clock.now
        let ready = await waiter.value
        await other.value
        XCTAssertFalse(ready)
        XCTAssertLessThan(clock.now - start, .seconds(25), "the wait returned for the job behind it")
    }

    /// A source and a sink waiting on their own idle sockets on one
    /// pipeline thread: each wait blocks until its timeout, the thread
    /// sleeps in poll(2), and neither task hands the thread to the other
    /// without blocking (before, each wait found the other's job queued and
    /// returned at once: about 970,000 wake-ups a second each, a full core).
    func testTwoWaitersOnIdleSocketsLetTheThreadSleep() async throws {
        let thread = ThreadExecutor(name: "test")
        defer { thread.shutdown() }
        let (firstReader, firstWriter) = try makePipe()
        let (secondReader, secondWriter) = try makePipe()
        defer { [firstReader, firstWriter, secondReader, secondWriter].forEach { close($0) } }
        let started = ContinuousClock.now
        func waiter(_ fd: Int32) -> Task<(waits: Int, ready: Int), Never> {
            Task(executorPreference: thread) {
                var waits = 0
                var ready = 0
                while ContinuousClock.now - started < .seconds(1) {
                    if await FileDescriptorWait.wait(fd, for: .read, timeout: .milliseconds(100)) { ready += 1 }
                    waits += 1
                }
                return (waits, ready)
            }
        }
        let first = waiter(firstReader)
        let second = waiter(secondReader)
        let (a, b) = (await first.value, await second.value)
        XCTAssertEqual(a.ready + b.ready, 0, "neither socket was ever readable")
        // About 10 timeouts of 100 ms each in a second; a spinning pair makes hundreds of thousands.
        XCTAssertLessThan(a.waits, 100, "waits that returned without blocking: \(a.waits)")
        XCTAssertLessThan(b.waits, 100, "waits that returned without blocking: \(b.waits)")
    }

    /// Two waiters on one thread: each wakes for its own socket, promptly.
    func testTwoWaitersEachWakeForTheirOwnSocket() async throws {
        let thread = ThreadExecutor(name: "test")
        defer { thread.shutdown() }
        let (firstReader, firstWriter) = try makePipe()
        let (secondReader, secondWriter) = try makePipe()
        defer { [firstReader, firstWriter, secondReader, secondWriter].forEach { close($0) } }
        func waiter(_ fd: Int32) -> Task<Bool, Never> {
            Task(executorPreference: thread) {
                let deadline = ContinuousClock.now + .seconds(20)
                while ContinuousClock.now < deadline {
                    if await FileDescriptorWait.wait(fd, for: .read, timeout: .seconds(5)) { return true }
                }
                return false
            }
        }
        let first = waiter(firstReader)
        let second = waiter(secondReader)
        try await Task.sleep(for: .milliseconds(50))
        var byte: UInt8 = 1
        XCTAssertEqual(write(secondWriter, &byte, 1), 1)
        let clock = ContinuousClock()
        let start = clock.now
        let secondReady = await second.value
        XCTAssertTrue(secondReady)
        XCTAssertLessThan(clock.now - start, .seconds(4), "woken by its socket, not by a timeout")
        XCTAssertEqual(write(firstWriter, &byte, 1), 1)
        let firstReady = await first.value
        XCTAssertTrue(firstReady)
    }

    func testJobsAfterShutdownRunOnTheSharedPool() async throws {
        let thread = ThreadExecutor(name: "test")
        thread.shutdown()
        let onThread = await Task(executorPreference: thread) { ThreadExecutor.current != nil }.value
        XCTAssertFalse(onThread)
    }

    private func makePipe() throws -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw POSIXError(.EMFILE) }
        return (fds[0], fds[1])
    }
}

/// A lock-protected value that closures on other threads can share.
private final class Box<Value: Sendable>: Sendable {
    let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
}
