import Metrics
import Foundation
import Logging
import SiphonCore

/// One connection's lifetime: setup (publication, slot, snapshot), then
/// the replication stream until an error or cancellation.
///
/// Runs on its pipeline's thread (`ThreadExecutor`), with the sink:
/// `readCopyData` takes what libpq has, and only when nothing is buffered
/// does the loop hand the batch it has so far to the sink and wait in
/// `poll(2)` until the server sends more (low latency when quiet, big
/// batches under load). A quiet stream reads the socket once per wake-up
/// once a transaction is complete: a second read would almost always find
/// it empty, and it would come before the batch reaches the sink. In the
/// middle of a transaction it reads again (the server sends each message
/// as it decodes it, and the rest has usually come meanwhile), and so does
/// a busy stream, until the socket is empty (`ReadPacing.mayReadSocket`);
/// so does every stream over TLS, where poll cannot see what libpq has
/// decrypted.
final class ReplicationSession {
    let configuration: PostgresSourceConfiguration
    let target: ConnectionTarget
    let pipeline: String
    let state: StateDirectory
    let logger: Logger
    unowned let source: PostgresSource
    /// Whether this session may ask for values in binary form (`binary: true`
    /// and no earlier `BinaryModeFallback` in this process).
    let binaryAllowed: Bool
    /// Whether pgoutput sends this session's values in binary form.
    private(set) var binaryValues = false
    /// The initial snapshot this run of the source has handed, whole, to the
    /// pipeline's queue, in an earlier session or in this one (see `prepareSlot`).
    var snapshotHandedOver: SnapshotState?

    static let batchEvents = 2048
    static let batchBytes = 1 << 20
    /// Room past `batchBytes` for the event that ends a batch.
    static let batchHeadroom = 64 * 1024
    var batch = EventBatch(capacity: 256 * 1024)
    /// Transactions PostgreSQL streams before they commit, until they do.
    var spills: SpillFiles
    /// The transaction whose streamed block is being received.
    var streamXid: UInt32?
    var tracker = AcknowledgementTracker(startLSN: .zero, acknowledged: nil)
    var receivedLSN = LSN.zero
    /// When the last standby status update went out, and the LSN it confirmed.
    var lastStatusSent = ContinuousClock.now
    var confirmedSent = LSN.zero
    private var lastHeartbeat = ContinuousClock.now
    private var lastLagCheck = ContinuousClock.now
    private(set) lazy var lagGauge = Gauge(label: "siphon_slot_lag_bytes", dimensions: [("pipeline", pipeline), ("slot", configuration.slot)])
    private(set) lazy var retainedGauge = Gauge(label: "siphon_slot_retained_wal_bytes",
                                                  dimensions: [("pipeline", pipeline), ("slot", configuration.slot)])
    /// `siphon_slot_wal_status{status}`: 1 for the slot's `wal_status`, 0 for the others.
    private(set) lazy var walStatusGauges = Dictionary(uniqueKeysWithValues: Self.walStatuses.map { status in
        (status, Gauge(label: "siphon_slot_wal_status", dimensions: [("pipeline", pipeline), ("slot", configuration.slot), ("status", status)]))
    })
    private static let walStatuses = ["reserved", "extended", "unreserved", "lost"]
    /// The commit time (ms since 1970) of the transaction being decoded, or
    /// of the last one: what the batch's last event carries as `source.ts_ms`.
    var commitMillis: Int64?
    private var receivedReported = LSN.zero

    init(configuration: PostgresSourceConfiguration, target: ConnectionTarget, pipeline: String,
         state: StateDirectory, logger: Logger, source: PostgresSource, binaryAllowed: Bool,
         snapshotHandedOver: SnapshotState?) {
        self.configuration = configuration
        self.snapshotHandedOver = snapshotHandedOver
        self.binaryAllowed = binaryAllowed
        self.target = target
        self.pipeline = pipeline
        self.state = state
        self.logger = logger
        self.source = source
        spills = SpillFiles(directory: state.url("spill"))
    }

    func run(resumingAfter resume: Position?, output: EventQueue) async throws {
        let side = try await PostgresConnection.connect(target, replication: false)
        defer { side.close() }
        let catalog = Catalog(connection: side, logger: logger)
        try await catalog.checkServer()
        let filter = TableFilter(patterns: configuration.tables)
        let captured = try await catalog.ensurePublication(configuration.publication, filter: filter)
        // A snapshot this run handed over counts as emitted, acknowledged or
        // not: the queue loses nothing while the run lasts, so the schema
        // versions it announced stay known.
        let emitted = [resume, snapshotHandedOver?.lastPosition].compactMap { $0 }.max()
        let history = try SchemaHistory(store: source.historyStore, resumingAfter: emitted)
        var decoder = ChangeDecoder(pipeline: pipeline, database: side.databaseName, filter: filter,
                                    history: history, lastPosition: emitted, options: source.events)
        tracker = AcknowledgementTracker(startLSN: .zero, acknowledged: resume)

        let replication = try await PostgresConnection.connect(target, replication: true)
        defer { replication.close() }
        try await prepareSlot(catalog: catalog, replication: replication, captured: captured,
                              resume: resume, decoder: &decoder, output: output)

        try spills.reset()
        let protocolVersion = replication.serverVersion >= 140_000 ? 2 : 1
        var options = [("proto_version", "\(protocolVersion)"),
                       ("publication_names", ReplicationCommand.publicationNames([configuration.publication]))]
        if protocolVersion >= 2 {
            if configuration.messages { options.append(("messages", "true")) }
            if configuration.streaming { options.append(("streaming", "on")) }
        }
        binaryValues = try await chooseBinaryValues(catalog: catalog, captured: captured,
                                                    serverVersion: replication.serverVersion, decoder: &decoder)
        if binaryValues { options.append(("binary", "true")) }
        try await replication.startCopy(try ReplicationCommand.startReplication(slot: configuration.slot, options: options))
        logger.info("streaming changes", metadata: [
            "slot": .string(configuration.slot), "publication": .string(configuration.publication),
            "database": .string(target.display), "protocol": .stringConvertible(protocolVersion),
            "values": .string(binaryValues ? "binary" : "text"),
        ])
        defer { spills.discardAll() }
        try await stream(replication: replication, catalog: catalog, decoder: &decoder, output: output)
    }

    // MARK: The stream

    private func stream(replication: PostgresConnection, catalog: Catalog, decoder: inout ChangeDecoder,
                        output: EventQueue) async throws {
        let clock = ContinuousClock()
        var replyRequested = false
        var sinceCheck = 0
        var message: [UInt8] = []
        var pacing = ReadPacing()
        // Over TLS, bytes already decrypted by libpq do not wake poll(2):
        // read until a read finds nothing, every time.
        let readsUntilEmpty = replication.decryptsInput
        while true {
            var drained = false
            let mayReadSocket = readsUntilEmpty || pacing.mayReadSocket(inTransaction: decoder.inTransaction)
            let (read, readSocket) = try replication.readCopyData(into: &message, mayReadSocket: mayReadSocket)
            if readSocket {
                pacing.readSocket()
                // The events' processing time (`ts_ms`) is when their bytes
                // were read: a clock read per read, not per message.
                decoder.nowMicros = Clock.unixMicros()
            }
            switch read {
            case .data:
                switch try ReplicationMessage.decode(message[...]) {
                case .xLogData(let data):
                    if data.walStart > receivedLSN { receivedLSN = data.walStart }
                    // `source.lsn`: the LSN of the change this message carries.
                    decoder.changeLSN = data.walStart
                    let message = try PgOutputMessage.decode(data.data, inStreamBlock: streamXid != nil)
                    if try !handleNow(message, raw: data.data, decoder: &decoder) {
                        try await handle(message, raw: data.data, replication: replication, catalog: catalog,
                                         decoder: &decoder, output: output)
                    }
                case .keepalive(let keepalive):
                    if keepalive.walEnd > receivedLSN { receivedLSN = keepalive.walEnd }
                    if let acknowledged = source.acknowledgedPosition() { tracker.acknowledge(acknowledged) }
                    tracker.idle(serverWALEnd: keepalive.walEnd,
                                 transactionOpen: decoder.inTransaction || !spills.isEmpty || !batch.isEmpty)
                    if keepalive.replyRequested { replyRequested = true }
                }
                if batch.count >= Self.batchEvents || batch.byteCount >= Self.batchBytes {
                    try await sendBatch(output, inTransaction: decoder.inTransaction)
                }
                sinceCheck += 1
                if sinceCheck < 512 && !replyRequested { continue }
                sinceCheck = 0
            case .wouldBlock:
                drained = true
                try await sendBatch(output, inTransaction: decoder.inTransaction)
            case .done:
                throw SiphonError(.sourceSetup, "PostgreSQL at \(target.display) ended the replication stream", transient: true)
            }
            // Here after every wait and every 512 messages: often enough, and
            // not a task lookup per message.
            try Task.checkCancellation()
            if receivedLSN > receivedReported {
                receivedReported = receivedLSN
                source.activity.received(receivedLSN.rawValue)
            }
            // Standby status: promptly when the confirmed LSN moved, otherwise every status_interval.
            if let acknowledged = source.acknowledgedPosition() { tracker.acknowledge(acknowledged) }
            var now = clock.now
            let elapsed = now - lastStatusSent
            let moved = tracker.confirmedLSN > confirmedSent
            if replyRequested || (moved && elapsed >= .milliseconds(100)) || elapsed >= configuration.statusInterval {
                let idle = tracker.isIdle && !decoder.inTransaction && spills.isEmpty && batch.isEmpty
                try await sendStatus(replication, requestReply: idle && !moved)
                now = lastStatusSent
                replyRequested = false
            }
            if let heartbeat = configuration.heartbeat, now - lastHeartbeat >= heartbeat.interval {
                lastHeartbeat = now
                await beat(heartbeat, on: catalog.connection)
            }
            if now - lastLagCheck >= lagCheckInterval {
                lastLagCheck = now
                await checkLag(configuration.maxLagBytes, on: catalog.connection)
            }
            if drained {
                if pacing.shouldSettle(at: now) {
                    Self.settle()
                    now = clock.now
                }
                let waitStarted = now
                await replication.waitForData(timeout: .milliseconds(100))
                pacing.waited(from: waitStarted, to: clock.now)
            }
        }
    }

    /// Sleeps `ReadPacing.settle` on this thread (a timer-based `Task.sleep`
    /// would cost more than the reads it saves).
    private static func settle() {
        let nanoseconds = ReadPacing.settle.inNanoseconds
        var request = timespec(tv_sec: nanoseconds / 1_000_000_000, tv_nsec: nanoseconds % 1_000_000_000)
        _ = nanosleep(&request, nil)
    }

    /// Whether to ask pgoutput for values in binary form (`binary 'true'`,
    /// PostgreSQL 14+), which spares the server the text conversion of every
    /// value. Only when every column of every captured table has a type
    /// whose binary form `ValueRenderer` decodes: pgoutput picks the format
    /// for the whole session, so one unsupported column keeps it in text
    /// mode (logged with the column). Registers the columns' types.
    private func chooseBinaryValues(catalog: Catalog, captured: [Catalog.Table], serverVersion: Int,
                                    decoder: inout ChangeDecoder) async throws -> Bool {
        guard binaryAllowed else { return false }
        guard serverVersion >= 140_000 else {
            logger.info("source.binary needs PostgreSQL 14 or later; streaming values in text form")
            return false
        }
        let columns = try await catalog.columnTypes(of: captured.map(\.name))
        try await catalog.resolveTypes(columns.map(\.typeOID), into: &decoder.types)
        if let blocker = columns.first(where: { decoder.types.binaryFormat(of: $0.typeOID) == nil }) {
            logger.info("streaming values in text form: a captured column has a type whose binary form Siphon does not decode", metadata: [
                "table": .string(blocker.table.description), "column": .string(blocker.column),
                "type": .string(decoder.types.typeName(of: blocker.typeOID) ?? String(blocker.typeOID)),
            ])
            return false
        }
        return true
    }

    /// Runs bulk work (a snapshot, the replay of a streamed transaction) on
    /// Swift's shared pool instead of the pipeline's own thread, where the
    /// sink runs: the source then decodes while the sink writes, which a
    /// backlog of millions of rows needs (and which keeps the batches in
    /// flight few). Waits for the server in there go through Dispatch.
    func offPipelineThread<T>(_ work: () async throws -> T) async throws -> T {
        try await withTaskExecutorPreference(globalConcurrentExecutor) { try await work() }
    }

    /// Hands the batch to the pipeline. In the middle of a transaction
    /// (`inTransaction`) the latest event stays behind, in the next batch:
    /// it may be the transaction's last, which the commit marks
    /// (`EventRecord.endsTransaction`) so that a sink applying changes can
    /// commit whole source transactions.
    func sendBatch(_ output: EventQueue, inTransaction: Bool) async throws {
        guard !batch.isEmpty else { return }
        var full = batch
        let held = inTransaction && !(full.events.last?.endsTransaction ?? true) ? full.removeLastEvent() : nil
        guard !full.isEmpty else { return }
        full.commitUnixMillis = commitMillis
        // Sized like the batch before it, so that the next one rarely grows
        // (each growth is a new allocation and a copy), with room for the
        // event that takes a batch past `batchBytes`: without it, a batch
        // ended by size grew to twice its size about every other time.
        batch = EventBatch(capacity: min(max(full.byteCount, 64 * 1024), Self.batchBytes) + Self.batchHeadroom,
                           events: min(max(full.count, 16), Self.batchEvents))
        if let held { batch.append(held) }
        try await output.send(full)
    }
}
