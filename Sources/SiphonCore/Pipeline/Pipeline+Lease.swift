import Logging

/// `lease:`: the pipeline runs only while this process holds the lease.
extension Pipeline {
    /// Waits as a standby until the lease is taken, runs the pipeline while
    /// it is held, and goes back to waiting when it is lost. Returns when
    /// the pipeline is stopped; throws a permanent failure.
    func superviseWithLease(_ lease: any Lease) async throws {
        defer { lease.release() }
        while try await waitForLease(lease) {
            leaseLost.withLock { $0 = false }
            logger.info("took the lease; running the pipeline", metadata: ["lease": .string(lease.description)])
            let watch = Task { [self] in
                await lease.watch()
                guard !Task.isCancelled else { return }
                leaseLost.withLock { $0 = true }
                interruptAttempt()
            }
            var failure: (any Error)?
            do {
                try await superviseAttempts()
            } catch {
                failure = error
            }
            watch.cancel()
            await watch.value
            lease.release()
            if let failure { throw failure }
            guard leaseLost.withLock({ $0 }), !isStopping else { return }
            leaseLost.withLock { $0 = false }
            // The sink's own position check (offsets table, expected last
            // sequence) guards against what the other instance may repeat.
            logger.warning("lost the lease; stopped the pipeline, waiting to take the lease again",
                           metadata: ["lease": .string(lease.description)])
            monitor.state(.standby)
        }
        logger.info("pipeline stopped")
        monitor.state(.stopped)
    }

    /// Tries to take the lease every `leaseRetryInterval`; true once held,
    /// false when the pipeline is stopped first. Logs once when it starts
    /// waiting.
    private func waitForLease(_ lease: any Lease) async throws -> Bool {
        var waiting = false
        while !isStopping {
            let taken: Bool
            do {
                taken = try await lease.tryAcquire()
            } catch {
                let failure = Self.classify(error)
                guard failure.isTransient else {
                    logger.error("pipeline \(name) stopped: \(failure.message)")
                    monitor.failed(failure, restarting: false)
                    throw failure
                }
                logger.debug("cannot reach the lease: \(failure.message)")
                taken = false
            }
            if taken { return true }
            if !waiting {
                waiting = true
                logger.info("standby: another instance holds the lease; trying every \(Reconnector.format(options.leaseRetryInterval))",
                            metadata: ["lease": .string(lease.description)])
                monitor.state(.standby)
            }
            await pause(options.leaseRetryInterval)
        }
        return false
    }
}
