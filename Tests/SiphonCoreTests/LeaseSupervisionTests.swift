import Foundation
import Logging
import SiphonCore
import SiphonTestSupport
import SiphonTesting
import Synchronization
import XCTest

/// A lease the test gives and takes away.
private final class ManualLease: Lease, Sendable {
    let free = Mutex(false)
    let lost = Mutex(false)
    let tries = Mutex(0)
    let releases = Mutex(0)
    var description: String { "manual lease" }

    func tryAcquire() async throws -> Bool {
        tries.withLock { $0 += 1 }
        guard free.withLock({ $0 }) else { return false }
        lost.withLock { $0 = false }
        return true
    }

    func watch() async {
        while !Task.isCancelled, !lost.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(5)) }
    }

    func release() { releases.withLock { $0 += 1 } }
}

/// `lease:` in the pipeline: a standby opens nothing, runs once it holds
/// the lease, and stops and waits again when it loses it.
final class LeaseSupervisionTests: XCTestCase {
    private func waitUntil(_ what: String, _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while !condition() {
            guard ContinuousClock.now < deadline else { throw TestSupportError("timed out waiting for \(what)") }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    func testStandbyRunsOnlyWhileItHoldsTheLease() async throws {
        let state = try TemporaryDirectory()
        let destination = MemoryDestination()
        let source = MemorySource(transactions: MemorySource.randomTransactions(100), stayOpen: true)
        let lease = ManualLease()
        var options = PipelineOptions()
        options.flushInterval = .milliseconds(20)
        options.lease = lease
        options.leaseRetryInterval = .milliseconds(10)
        let pipeline = Pipeline(name: "p", source: source, sink: MemorySink(destination: destination),
                                checkpoints: CheckpointStore(directory: try StateDirectory(path: state.path), pipeline: "p"),
                                options: options, logger: Logger(label: "test"))
        async let ran: Void = pipeline.run()

        try await waitUntil("a few tries as standby") { lease.tries.withLock { $0 } >= 3 }
        XCTAssertEqual(pipeline.status.state, .standby)
        XCTAssertTrue(pipeline.status.isReady, "a standby is ready")
        XCTAssertEqual(source.runs.withLock { $0.count }, 0, "the standby ran the source")
        XCTAssertEqual(destination.log.withLock { $0 }, [], "the standby touched the sink")

        lease.free.withLock { $0 = true }
        try await waitUntil("every event durable") { destination.durable.withLock { $0.count } == source.events.count }
        XCTAssertEqual(pipeline.status.state, .running)

        lease.free.withLock { $0 = false }
        lease.lost.withLock { $0 = true }
        try await waitUntil("standby again") { pipeline.status.state == .standby }
        XCTAssertGreaterThanOrEqual(lease.releases.withLock { $0 }, 1, "the lost lease was released")
        XCTAssertEqual(destination.log.withLock { $0.last }, "close", "the sink was closed when the lease was lost")

        lease.free.withLock { $0 = true }
        try await waitUntil("running again") { source.runs.withLock { $0.count } == 2 && pipeline.status.state == .running }
        XCTAssertEqual(source.runs.withLock { $0.last ?? nil }, source.events.last?.position, "resumed after what the sink holds")
        pipeline.stop()
        try await ran
        XCTAssertEqual(pipeline.status.state, .stopped)
        XCTAssertEqual(destination.durable.withLock { $0 }.map(\.position), source.events.map(\.position), "every event once")
    }
}
