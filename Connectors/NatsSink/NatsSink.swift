import CNats
import Foundation
import Glibc
import Logging
import SiphonCore
import Synchronization

/// Writes every event to a JetStream stream through libnats: row events to
/// `sink.subject`, schema changes to `sink.schema_subject`, logical
/// messages to `sink.message_subject`.
///
/// Durability: each event is one message, published asynchronously (at
/// most `sink.max_pending` waiting for their acknowledgement); `flush`
/// returns the last event such that it and every event before it were
/// acknowledged by JetStream (stored, and replicated as the stream says),
/// so the checkpoint never passes a message the stream does not hold. A
/// negative acknowledgement, or none within `sink.ack_timeout`, is what
/// `flush` (or `write`) throws; nothing after it is reported durable.
///
/// Exactly once, whatever the time between a crash and the restart: every
/// message carries `Nats-Msg-Id` and `siphon-id` (the event id) and
/// `siphon-pipeline`. `open` reads the last message of the pipeline's
/// subjects in the stream and answers `.tracked(last:)` with its event:
/// the sink is the resume authority, and the pipeline resumes right after
/// what the stream holds. Publishes then carry an expected last sequence
/// (`NatsStreamSetup.Expectation`), so a second writer or a replay is
/// rejected instead of stored twice; the rejection is transient, and the
/// next `open` reads the tail again.
///
/// Transaction metadata (`sink.transaction_metadata`, off by default):
/// Debezium's BEGIN and END messages (`TransactionMetadata`) on
/// `sink.transaction_subject`, with the headers `siphon-id` (the first or
/// last event's), `siphon-pipeline` and `siphon-transaction: BEGIN|END`,
/// and `Nats-Msg-Id` the event id with `-begin` or `-end`. Exactly once
/// like the events: see `resumePoint(after:transactionMetadata:)`.
///
/// Threading: libnats calls back on its own thread; the callback records
/// the acknowledgement in the ledger, which writes a byte to a pipe when
/// the frontier the pipeline's thread waits for is reached; that thread
/// waits on the pipe with `FileDescriptorWait`. Connecting,
/// stream lookups and closing block, so they run on a thread of their own.
public final class NatsSink: Sink {
    let configuration: NatsSinkConfiguration
    let pipeline: String
    let prefix: String
    let logger: Logger
    private let session = Mutex<NatsSession?>(nil)
    /// Per-subject mode only: set when a session ended with a failure, to
    /// the last event it had made durable (or, with none, the one it
    /// started after). Without the chain of expected message ids (stream
    /// mode), a refused message may be followed by later ones that were
    /// stored, so the stream's tail no longer means "everything before it
    /// is in": the next session resumes after this point instead. Some
    /// events may repeat (the duplicate window absorbs a quick restart),
    /// none is lost.
    private let gapGuard = Mutex<GapGuard?>(nil)

    struct GapGuard: Sendable {
        var durable: Position?
    }
    private let wakeRead: Int32
    private let wakeWrite: Int32

    public init(configuration: NatsSinkConfiguration, pipeline: String, logger: Logger) {
        self.configuration = configuration
        self.pipeline = pipeline
        self.prefix = configuration.prefix ?? pipeline
        self.logger = logger
        var fds: [Int32] = [-1, -1]
        if pipe(&fds) == 0 {
            for fd in fds {
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            }
        }
        wakeRead = fds[0]
        wakeWrite = fds[1]
    }

    deinit {
        if wakeRead >= 0 { Glibc.close(wakeRead) }
        if wakeWrite >= 0 { Glibc.close(wakeWrite) }
    }

    /// The subject filter each template publishes under, with its key.
    var filters: [(key: String, filter: String)] {
        [("subject", configuration.subject.filter(prefix: prefix)),
         ("schema_subject", configuration.schemaSubject.filter(prefix: prefix)),
         ("message_subject", configuration.messageSubject.filter(prefix: prefix))]
            + (configuration.transactionMetadata ? [("transaction_subject", configuration.transactionSubject.filter(prefix: prefix))] : [])
    }

    public func open() async throws -> SinkPosition {
        try await close()
        guard wakeRead >= 0 else { throw SiphonError(.sink, "cannot make a pipe: \(String(cString: strerror(errno)))", transient: true) }
        let context = AckContext(ledger: AckLedger(wakeWrite: wakeWrite), stream: configuration.stream.name,
                                 secrets: configuration.secrets, logger: logger,
                                 servers: configuration.servers.map(NatsErrors.withoutUserInfo).joined(separator: ","))
        let configuration = configuration, prefix = prefix, pipeline = pipeline, filters = filters
        let (client, setup) = try await Blocking.run { () throws -> (NatsClient, NatsStreamSetup) in
            let client = try NatsClient(configuration: configuration, name: "siphon \(pipeline)", ackHandler: natsAckHandler,
                                        closure: Unmanaged.passRetained(context).toOpaque())
            do {
                guard let setup = try NatsStreamSetup.prepare(client: client, configuration: configuration, prefix: prefix,
                                                              pipeline: pipeline, filters: filters) else {
                    throw SiphonError(.sink, "stream \(configuration.stream.name) could not be created", transient: true)
                }
                return (client, setup)
            } catch {
                client.destroy()
                throw error
            }
        }
        let mode: String
        switch setup.expectation {
        case let .stream(last): mode = "Nats-Expected-Last-Sequence from \(last)"
        case .subject: mode = "Nats-Expected-Last-Subject-Sequence (the stream takes other subjects too)"
        }
        logger.info("NATS sink open", metadata: [
            "stream": .string(configuration.stream.name),
            "created": .stringConvertible(setup.created),
            "expected-sequence": .string(mode),
            "highest-held": .string(setup.held?.description ?? "none"),
        ])
        var (held, resumeAfter) = Self.resumePoint(after: setup.tail, transactionMetadata: configuration.transactionMetadata)
        if setup.expectation.isPerSubject, let gap = gapGuard.withLock({ $0 }) {
            if let point = resumeAfter { resumeAfter = gap.durable.map { min($0, point) } }
            held = NatsSession.Held(through: resumeAfter)
            logger.warning("a message was refused in the last session: resuming after \(resumeAfter?.description ?? "the start"), not after the stream's tail \(setup.held?.description ?? "none") (some events may repeat, none is lost)")
        }
        session.withLock {
            $0 = NatsSession(client: client, context: context, setup: setup, held: held, resumedAfter: resumeAfter, sink: self)
        }
        return .tracked(last: resumeAfter)
    }

    /// What the stream holds of the events to come, and where the pipeline
    /// resumes, from the pipeline's last message in the stream.
    ///
    /// Without transaction metadata, right after it. With it, END's counts
    /// need every event of its transaction to pass through the session
    /// that publishes END: when the tail is a transaction's BEGIN or one of
    /// its events (its END is missing), the pipeline resumes at the
    /// transaction's first event (right after the position before it:
    /// positions are totally ordered, and no event sits between), and the
    /// session skips, still counting them, the messages the stream holds.
    static func resumePoint(after tail: NatsStreamSetup.Tail?, transactionMetadata: Bool)
        -> (held: NatsSession.Held, resumeAfter: Position?) {
        guard let tail else { return (NatsSession.Held(), nil) }
        switch tail.part {
        case .end:
            return (NatsSession.Held(through: tail.position, endAt: tail.position), tail.position)
        case .begin:
            let before = tail.position.predecessor
            return (NatsSession.Held(through: before, beginAt: tail.position), before)
        case .event:
            guard transactionMetadata, let begin = tail.openTransactionBegin else {
                return (NatsSession.Held(through: tail.position), tail.position)
            }
            return (NatsSession.Held(through: tail.position, beginAt: begin), begin.predecessor)
        }
    }

    /// What the stream holds for this pipeline, read without creating the
    /// stream or publishing (`siphon offsets show` and `reset`): a missing
    /// stream holds nothing.
    func storedPosition() async throws -> SinkPosition {
        let configuration = configuration, prefix = prefix, pipeline = pipeline, filters = filters
        let held = try await Blocking.run { () throws -> Position? in
            let client = try NatsClient(configuration: configuration, name: "siphon \(pipeline) offsets", ackHandler: nil, closure: nil)
            defer { client.destroy() }
            return try NatsStreamSetup.prepare(client: client, configuration: configuration, prefix: prefix, pipeline: pipeline,
                                               filters: filters, create: false)?.held
        }
        return .tracked(last: held)
    }

    public func write(_ batch: EventBatch) async throws {
        guard let session = session.withLock({ $0 }) else { throw SiphonError(.sink, "NATS sink used before open") }
        let maxPending = UInt64(configuration.maxPending)
        for index in batch.events.indices {
            let event = batch.events[index]
            // Events the stream holds pass through the session with
            // transaction metadata on: END counts them.
            if !configuration.transactionMetadata, session.held.holds(event.position, .event) { continue }
            try check(session)
            if session.ledger.inFlight >= maxPending {
                // Down to half the bound before publishing again: one
                // wake-up per half window, not one per acknowledgement.
                let sent = session.ledger.snapshot.sent
                try await waitFor(session, frontier: sent - maxPending / 2)
            }
            let subject = try session.subject(for: event, batch: batch)
            var first = false
            if session.setup.expectation.isPerSubject {
                // Only per-subject mode looks subjects up (no array per event otherwise: this is the hot path).
                for needed in [subject] + (configuration.transactionMetadata ? [try session.transactionSubject(for: event, batch: batch)] : [])
                where session.needsLookup(needed) {
                    try await session.lookUp(needed)
                    first = true
                }
            }
            try session.send(batch, index, subject: subject)
            // Per-subject mode: the subject's later messages carry no
            // expectation, so they wait until its first is accepted.
            if first { try await waitFor(session, frontier: session.ledger.snapshot.sent) }
        }
    }

    /// Waits until every message numbered below `frontier` is acknowledged,
    /// or throws the session's failure.
    private func waitFor(_ session: NatsSession, frontier: UInt64) async throws {
        while session.ledger.snapshot.frontier < frontier {
            try check(session)
            await waitForAcks(session, frontier: frontier)
        }
    }

    /// Flushes run on the shared pool while `write` goes on publishing: on
    /// the pipeline's thread, waiting for the last acknowledgements of each
    /// checkpoint stopped the source and the publishes alike (a few hundred
    /// milliseconds a second at full speed).
    public var flushesAlongsideWrites: Bool { true }

    /// Waits until every message published before the call is acknowledged;
    /// returns the last boundary such that it and every message before it
    /// were acknowledged, or throws the first negative (or missing)
    /// acknowledgement. Polls the ledger every 2 ms: the pipe is the
    /// pipeline thread's, and a checkpoint a millisecond later costs nothing.
    public func flush() async throws -> Position? {
        guard let session = session.withLock({ $0 }) else { return nil }
        let target = session.ledger.snapshot.sent
        while true {
            try check(session)
            let now = session.ledger.snapshot
            if now.frontier >= target {
                if now.durable != nil { gapGuard.withLock { $0 = nil } }
                return now.durable ?? session.resumedAfter
            }
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    /// Throws the session's first failure, or a transient error when the
    /// oldest message has waited longer than `sink.ack_timeout`.
    private func check(_ session: NatsSession) throws {
        let now = session.ledger.snapshot
        if let failure = now.failure {
            noteGap(session, durable: now.durable)
            throw failure
        }
        if now.sent > now.frontier, ContinuousClock.now - now.oldestSince > configuration.ackTimeout {
            let error = SiphonError(.sink, "no acknowledgement from JetStream on \(session.client.shownServers) for \(configuration.ackTimeout) (\(now.sent - now.frontier) messages waiting; the server is down or slow); the pipeline starts again from its last acknowledged position",
                                    transient: true)
            session.ledger.failed(error)
            noteGap(session, durable: now.durable)
            throw error
        }
    }

    /// Keeps the earliest guard (per-subject mode only: see `gapGuard`).
    private func noteGap(_ session: NatsSession, durable: Position?) {
        guard session.setup.expectation.isPerSubject else { return }
        let point = durable ?? session.resumedAfter
        gapGuard.withLock { state in
            guard let existing = state else {
                state = GapGuard(durable: point)
                return
            }
            if let before = existing.durable, let point { state = GapGuard(durable: min(before, point)) }
        }
    }

    /// Waits for the ledger's wake-up (the frontier at `frontier`, or a
    /// failure), or 100 ms so that a missing acknowledgement is noticed.
    private func waitForAcks(_ session: NatsSession, frontier: UInt64) async {
        if session.ledger.waitsFor(frontier: frontier) {
            _ = await FileDescriptorWait.wait(wakeRead, for: .read, timeout: .milliseconds(100))
        }
        drainWakeups()
    }

    private func drainWakeups() {
        var buffer = [UInt8](repeating: 0, count: 256)
        while read(wakeRead, &buffer, buffer.count) > 0 {}
    }

    /// Drops the connection: anything not yet acknowledged was never
    /// reported durable, so the pipeline sends it again (and the next
    /// `open` skips what did arrive).
    public func close() async throws {
        guard let closing = session.withLock({ state -> NatsSession? in
            defer { state = nil }
            return state
        }) else { return }
        closing.context.closing.store(true, ordering: .relaxed)
        let client = closing.client
        try await Blocking.run { client.destroy() }
    }
}
