import Foundation
import Logging
import SiphonCore

/// One open database: keeps triggers in line with the schema, turns
/// changelog rows into events, takes snapshots and cleans up acknowledged
/// rows.
///
/// All SQLite work happens on this session's task with a zero busy
/// timeout; a lock held by the application makes it back off with
/// `Task.sleep` and try again, and every read is a short statement of its
/// own, finished before the batch is handed to the (possibly slow) sink,
/// so Siphon never holds a read transaction while it waits, except during a
/// snapshot, which must read everything in one.
final class CaptureSession {
    let configuration: SQLiteSourceConfiguration
    let connection: SQLiteConnection
    let state: StateDirectory
    let logger: Logger
    unowned let source: SQLiteSource
    let installer: CaptureInstaller
    var renderer: ChangeRenderer
    private let watcher: CommitWatcher?
    var snapshots: SnapshotPlan

    /// The highest changelog sequence whose events were all emitted.
    private var lastSeq: Int64 = 0
    /// The highest sequence the pipeline has seen (its resume position's):
    /// a changelog created again starts after it, so no position is reused.
    private var resumeFloor: Int64 = 0
    private var schemaVersion: Int64 = -1
    private var dataVersion: Int64 = -1
    private var cleanedThrough: Int64 = -1
    private var busySince: ContinuousClock.Instant?

    /// A batch goes out once its rendered events reach this many bytes (the
    /// PostgreSQL source's bound), whatever `batch_size` says: one
    /// transaction of 2,000 rows of 256 KB blobs was one 700 MB batch. The
    /// changelog read stops there too, so rows are pulled from SQLite only as
    /// fast as batches leave; one row may overshoot the bound.
    static let batchBytes = 1 << 20

    /// Prepared after the first sync, which creates the changelog.
    private var readChanges: SQLiteStatement!
    private var deleteChanges: SQLiteStatement!

    init(configuration: SQLiteSourceConfiguration, connection: SQLiteConnection, pipeline: String,
         envelope: EventEnvelope, state: StateDirectory, logger: Logger, source: SQLiteSource) throws {
        self.configuration = configuration
        self.connection = connection
        self.state = state
        self.logger = logger
        self.source = source
        installer = CaptureInstaller(connection: connection, patterns: TablePatterns(configuration.tables),
                                     pipeline: pipeline, logger: logger)
        let file = configuration.path.split(separator: "/").last.map(String.init) ?? configuration.path
        renderer = ChangeRenderer(envelope: envelope, pipeline: pipeline, database: file, registry: SchemaRegistry())
        watcher = CommitWatcher(path: configuration.path)
        snapshots = try SnapshotPlan.load(state)
    }

    func run(resumingAfter position: Position?, output: EventQueue) async throws {
        // After the first half of a key change, its changelog row is read again.
        lastSeq = position.map(SQLitePosition.complete(through:)) ?? 0
        resumeFloor = Int64(bitPattern: position?.high ?? 0)
        if snapshots.settle(resumingAfter: position) { try snapshots.save(state) }
        try await synchronize(first: true)
        deleteChanges = try connection.prepare("""
            DELETE FROM \(CaptureInstaller.changelog) WHERE seq IN
              (SELECT seq FROM \(CaptureInstaller.changelog) WHERE seq <= ?1 ORDER BY seq LIMIT ?2)
            AND seq < (SELECT max(seq) FROM \(CaptureInstaller.changelog))
            """)
        logger.info("capturing \(configuration.path)", metadata: [
            "tables": "\(installer.latestCapturedTables().joined(separator: ", "))",
            "resume": "\(position.map { "seq \($0.high)" } ?? "start")",
            "watch": "\(watcher == nil ? "polling data_version every \(configuration.pollInterval)" : "inotify")",
        ])
        while true {
            try Task.checkCancellation()
            do {
                if try schemaChanged() {
                    try await synchronize(first: false)
                }
                let before = lastSeq
                try await readAvailable(output: output)
                let idle = lastSeq == before
                try await snapshotIfNeeded(output: output)
                try checkSnapshotDelivered()
                let behind = try cleanup(idle: idle)
                busySince = nil
                if behind {
                    // More acknowledged rows to delete: go on after letting others run.
                    await Task.yield()
                    continue
                }
            } catch let error as SQLiteError where error.isBusy {
                connection.rollbackQuietly()
                try await backOff(error)
                continue
            }
            try await waitForCommit()
        }
    }

    // MARK: Schema

    private func schemaChanged() throws -> Bool {
        let version = try connection.integer("PRAGMA schema_version")
        return version != schemaVersion
    }

    /// Runs the installer's sync in one write transaction, reloads the schema
    /// registry and plans snapshots of repaired tables.
    ///
    /// The registry and `PRAGMA schema_version` are read inside that
    /// transaction, so they describe exactly the schema the triggers were
    /// synchronised with. Read after COMMIT, the version could already
    /// include DDL another connection committed in between; the session would
    /// take it as seen, and a table created then would never get triggers.
    private func synchronize(first: Bool) async throws {
        var result = CaptureInstaller.SyncResult()
        var registry = SchemaRegistry()
        var version: Int64 = -1
        while true {
            do {
                try connection.execute("BEGIN IMMEDIATE")
                result = try installer.sync(resumeAfter: max(lastSeq, resumeFloor))
                if !result.repaired.isEmpty {
                    // A marker row, so the repair snapshot gets positions of its own.
                    try connection.execute("INSERT INTO \(CaptureInstaller.changelog) (tbl, op, ver, ts) VALUES ('', 'o', 0, 0)")
                }
                // Created tables are planned when their schema event is read
                // (`readAvailable`), wherever the sync ran; repaired ones here.
                var planned = snapshots
                if configuration.snapshot == .initial {
                    planned.pending.formUnion(result.repaired)
                }
                registry = try SchemaRegistry.load(connection)
                version = try connection.integer("PRAGMA schema_version")
                // Saved before COMMIT: a crash in between plans a snapshot too many, never one too few.
                if planned.pending != snapshots.pending { try planned.save(state) }
                try connection.execute("COMMIT")
                snapshots = planned
                break
            } catch let error as SQLiteError where error.isBusy {
                connection.rollbackQuietly()
                try await backOff(error)
            } catch {
                connection.rollbackQuietly()
                throw error
            }
        }
        busySince = nil
        for table in result.repaired {
            logger.warning("the capture triggers on \(table) were missing (was the table rebuilt?); they are back, and changes made without them were not recorded\(configuration.snapshot == .initial ? ": the table is read again as a snapshot" : "; set source.snapshot: initial to have such tables read again")")
        }
        renderer.registry = registry
        schemaVersion = version
        try prepareRead()
        if first {
            let tables = try installer.userTables()
            for pattern in TablePatterns(configuration.tables).unmatched(in: tables) {
                logger.warning("source.tables pattern '\(pattern)' matches no table in \(configuration.path) (yet); tables created later that match it are captured")
            }
        }
    }

    // MARK: Changes

    /// (Re)prepares the changelog query for its current width.
    private func prepareRead() throws {
        let width = try installer.changelogWidth()
        let values = (0..<width).map { ", v\($0)" }.joined()
        readChanges = try connection.prepare("""
            SELECT \(ChangeRenderer.fixedColumns)\(values) FROM \(CaptureInstaller.changelog)
            WHERE seq > ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3
            """)
    }

    /// Emits every committed changelog row after `lastSeq`.
    ///
    /// SQLite has no transaction id. A write transaction holds the database's
    /// single write lock, so its changelog rows are contiguous and become
    /// visible together; the rows found by one wake-up (everything committed
    /// since the previous one) share `transaction.id`, the sequence of the
    /// first of them. Rows of one transaction therefore always share an id;
    /// transactions committed in quick succession may share one too.
    func readAvailable(output: EventQueue, through limit: Int64? = nil) async throws {
        let end = try limit ?? connection.integer("SELECT coalesce(max(seq), 0) FROM \(CaptureInstaller.changelog)")
        if limit == nil {
            // Sequences are contiguous: the rows after the durable one, from
            // the one statement this read makes anyway.
            let durable = source.acknowledgedPosition().map { Int64(bitPattern: $0.high) } ?? resumeFloor
            source.activity.backlog(max(0, end - durable))
        }
        guard end > lastSeq else { return }
        renderer.endTransaction()
        var created: [String] = []
        var reloaded = false
        /// The latest event of a read that stopped before `end`.
        var held = EventBatch(capacity: 0)
        while lastSeq < end {
            var batch = EventBatch(capacity: 256 * 1024)
            var through = lastSeq
            let now = Clock.unixMicros()
            // Rows read again after a reload must not count twice in the transaction.
            let order = renderer.order
            readChanges.bind(1, lastSeq)
            readChanges.bind(2, end)
            readChanges.bind(3, Int64(configuration.batchSize))
            do {
                while try readChanges.step() {
                    through = readChanges.int64(0)
                    if readChanges.bytes(2).first == UInt8(ascii: "s"), configuration.snapshot == .initial,
                       Self.contains(readChanges.bytes(5), "\"table_created\":true") {
                        created.append(readChanges.string(1) ?? "")
                    }
                    if try renderer.appendChange(readChanges, to: &batch, now: now) {
                        batch.commitUnixMillis = readChanges.int64(4)  // `ts`: when the trigger recorded it
                    }
                    if batch.byteCount >= Self.batchBytes { break }
                }
                readChanges.reset()
            } catch let error as ChangeRenderer.UnknownVersion {
                readChanges.reset()
                guard !reloaded else {
                    throw SiphonError(.sourceFatal, "changelog row \(error.seq) of table \(error.table) names schema version \(error.version), which \(CaptureInstaller.schemaTable) does not have")
                }
                reloaded = true
                renderer.order = order
                created.removeAll()
                renderer.registry = try SchemaRegistry.load(connection)
                try prepareRead()
                continue
            } catch {
                readChanges.reset()
                throw error
            }
            reloaded = false
            if through == lastSeq { break }
            if !created.isEmpty {
                // Planned before the schema events go out: a crash then re-reads them.
                var planned = snapshots
                planned.pending.formUnion(created)
                if planned.pending != snapshots.pending { try planned.save(state) }
                snapshots = planned
                created.removeAll()
            }
            if through >= end {
                // Writers are serialised and each commit is atomic, so the
                // changelog up to `end` holds whole transactions: its last
                // event ends one (`EventRecord.endsTransaction`).
                held.append(batch)
                batch = held
                held = EventBatch(capacity: 0)
                batch.markTransactionEnd()
            } else {
                // The read stopped inside a transaction: keep its latest event
                // back, so that it can be marked once the end is read.
                if !batch.isEmpty {
                    let latest = batch.removeLastEvent()
                    held.append(batch)
                    batch = held
                    held = latest
                }
            }
            if !batch.isEmpty { try await output.send(batch) }
            lastSeq = through
            source.activity.received(UInt64(through))
        }
        if !held.isEmpty {
            held.markTransactionEnd()
            try await output.send(held)
        }
    }

    private static func contains(_ bytes: UnsafeBufferPointer<UInt8>, _ needle: StaticString) -> Bool {
        let pattern = UnsafeBufferPointer(start: needle.utf8Start, count: needle.utf8CodeUnitCount)
        guard bytes.count >= pattern.count, let first = pattern.first else { return false }
        var index = 0
        while index + pattern.count <= bytes.count {
            if bytes[index] == first, memcmp(bytes.baseAddress! + index, pattern.baseAddress!, pattern.count) == 0 { return true }
            index += 1
        }
        return false
    }

    // MARK: Cleanup

    /// Deletes acknowledged changelog rows, a few small batches at a time,
    /// each its own short write transaction; gives way to the application
    /// when it holds the write lock. While the application is writing
    /// (`idle` false), deletes wait until `cleanupBatch` rows are due, so
    /// Siphon takes the write lock rarely and in useful amounts.
    /// Returns true when acknowledged rows remain.
    private func cleanup(idle: Bool) throws -> Bool {
        guard let acknowledged = source.acknowledgedPosition() else { return false }
        let through = SQLitePosition.complete(through: acknowledged)
        guard through > cleanedThrough else { return false }
        if !idle && through - max(cleanedThrough, 0) < Int64(configuration.cleanupBatch) { return false }
        for _ in 0..<4 {
            deleteChanges.bind(1, through)
            deleteChanges.bind(2, Int64(configuration.cleanupBatch))
            do {
                try deleteChanges.run()
            } catch let error as SQLiteError where error.isBusy {
                deleteChanges.reset()
                return false
            }
            if connection.changes < configuration.cleanupBatch {
                cleanedThrough = through
                source.activity.acknowledged(UInt64(max(0, through)))
                return false
            }
        }
        return true
    }

    // MARK: Waiting

    /// Sleeps until a commit may have happened. After a file event the WAL
    /// index may not be updated yet, so `data_version` is checked a few more
    /// times over the next milliseconds before going back to sleep.
    private func waitForCommit() async throws {
        let pollInterval = configuration.pollInterval
        if try dataVersionChanged() { return }
        let woke: Bool
        if let watcher {
            woke = await watcher.wait(timeout: pollInterval)
        } else {
            try await Task.sleep(for: pollInterval)
            woke = false
        }
        try Task.checkCancellation()
        if !woke { return }
        for pause in [0, 1, 2, 4, 8] {
            if pause > 0 { try await Task.sleep(for: .milliseconds(pause)) }
            if try dataVersionChanged() { return }
        }
    }

    private func dataVersionChanged() throws -> Bool {
        let version = try connection.integer("PRAGMA data_version")
        defer { dataVersion = version }
        return version != dataVersion
    }

    private func backOff(_ error: SQLiteError) async throws {
        let now = ContinuousClock.now
        let since = busySince ?? now
        busySince = since
        if now - since > configuration.busyTimeout {
            logger.warning("\(configuration.path) has been locked by another connection for over \(configuration.busyTimeout) (\(error.message)); still waiting")
            busySince = now
        }
        try await Task.sleep(for: .milliseconds(5))
    }
}

extension CaptureInstaller {
    /// Tables with a live (not dropped) latest version, for the start-up log line.
    func latestCapturedTables() -> [String] {
        ((try? latestVersions()) ?? [:]).filter { !$0.value.dropped }.keys.sorted()
    }
}
