import SiphonCore

/// pgoutput messages applied to the decoder and the batch: transactions,
/// row changes, relations, and streamed transactions spilled and replayed.
extension ReplicationSession {
    /// Handles what needs no waiting (a transaction's begin and commit, a
    /// row change, a message inside a streamed block) without an async
    /// call: from this loop, each async call asked the runtime for the
    /// task's preferred executor under the task's status lock, which cost
    /// as much as decoding the message. False: `handle` takes it.
    func handleNow(_ message: PgOutputMessage, raw: ArraySlice<UInt8>, decoder: inout ChangeDecoder) throws -> Bool {
        if streamXid != nil {
            if case .streamStop = message {
                streamXid = nil
                try spills.endBlock()
            } else {
                try spills.append(raw, lsn: decoder.changeLSN)
            }
            return true
        }
        switch message {
        case .begin(let begin):
            decoder.begin(finalLSN: begin.finalLSN, xid: begin.xid, commitTime: begin.commitTime)
            commitMillis = PostgresTime.unixMicros(fromPostgresMicros: begin.commitTime) / 1000
        case .commit(let commit):
            // The batch's last event, if any, is this transaction's (see `sendBatch`) or an earlier end.
            batch.markTransactionEnd()
            tracker.completed(decoder.commit(commitLSN: commit.commitLSN, endLSN: commit.endLSN))
        default:
            return try applyRowChange(message, decoder: &decoder)
        }
        return true
    }

    /// Applies an insert, update or delete; false for any other message.
    private func applyRowChange(_ message: PgOutputMessage, decoder: inout ChangeDecoder) throws -> Bool {
        switch message {
        case .insert(let insert): try decoder.insert(insert, into: &batch)
        case .update(let update): try decoder.update(update, into: &batch)
        case .delete(let delete): try decoder.delete(delete, into: &batch)
        default: return false
        }
        return true
    }

    /// The messages `handleNow` leaves: they may wait for the catalog or
    /// replay a streamed transaction.
    func handle(_ message: PgOutputMessage, raw: ArraySlice<UInt8>, replication: PostgresConnection,
                        catalog: Catalog, decoder: inout ChangeDecoder, output: EventQueue) async throws {
        switch message {
        case .message(let logical) where !logical.isTransactional:
            commitMillis = decoder.nowMicros / 1000  // its `source.ts_ms`: when it was read
            decoder.logicalMessage(logical, into: &batch)
            batch.markTransactionEnd()
            tracker.completed(.init(commitLSN: logical.lsn, endLSN: logical.lsn, lastPosition: decoder.lastPosition))
        case .streamStart(let start):
            streamXid = start.xid
            try spills.startBlock(xid: start.xid)
        case .streamStop:
            streamXid = nil
            try spills.endBlock()
        case .streamAbort(let abort):
            try spills.abort(xid: abort.xid, subtransaction: abort.subtransactionXid)
        case .streamCommit(let commit):
            decoder.begin(finalLSN: commit.commitLSN, xid: commit.xid, commitTime: commit.commitTime)
            commitMillis = PostgresTime.unixMicros(fromPostgresMicros: commit.commitTime) / 1000
            if let spill = try spills.take(xid: commit.xid) {
                defer { spill.discard() }
                let aborted = spill.abortedSubtransactions
                var replayed = 0
                try await offPipelineThread { try await spill.replay { lsn, raw in
                    // The stream is not read meanwhile, and a large transaction
                    // replays for longer than the walsender waits for a word.
                    replayed += 1
                    if replayed % 1024 == 0, ContinuousClock.now - self.lastStatusSent >= self.configuration.statusInterval {
                        if let acknowledged = self.source.acknowledgedPosition() { self.tracker.acknowledge(acknowledged) }
                        try await self.sendStatus(replication, requestReply: false)
                    }
                    let change = try PgOutputMessage.decode(raw, inStreamBlock: true)
                    if let xid = change.streamXid, aborted.contains(xid) { return }
                    decoder.changeLSN = lsn
                    if try !self.applyRowChange(change, decoder: &decoder) {
                        try await self.apply(change, catalog: catalog, decoder: &decoder)
                    }
                    if self.batch.count >= Self.batchEvents || self.batch.byteCount >= Self.batchBytes {
                        try await self.sendBatch(output, inTransaction: true)
                    }
                } }
            }
            batch.markTransactionEnd()
            tracker.completed(decoder.commit(commitLSN: commit.commitLSN, endLSN: commit.endLSN))
        default:
            try await apply(message, catalog: catalog, decoder: &decoder)
        }
    }

    /// Applies a change-carrying message (inside a transaction) to the decoder.
    private func apply(_ message: PgOutputMessage, catalog: Catalog, decoder: inout ChangeDecoder) async throws {
        switch message {
        case .relation(let relation):
            let unknown = decoder.unknownTypes(in: relation)
            if !unknown.isEmpty { try await catalog.resolveTypes(unknown, into: &decoder.types) }
            if binaryValues, let (column, type) = decoder.columnWithoutBinaryFormat(in: relation) {
                // Before the schema version is recorded and before any row is rendered; see BinaryModeFallback.
                throw BinaryModeFallback(table: TableName(schema: relation.namespace, name: relation.name), column: column,
                                         reason: "has type \(type), whose binary form Siphon does not decode")
            }
            let table = TableName(schema: relation.namespace, name: relation.name)
            let details = decoder.filter.matches(table) ? try await catalog.columnDetails(of: table) : [:]
            try decoder.relation(relation, details: details, into: &batch)
        case .insert, .update, .delete: _ = try applyRowChange(message, decoder: &decoder)
        case .truncate(let truncate): try decoder.truncate(truncate, into: &batch)
        case .message(let logical): decoder.logicalMessage(logical, into: &batch)
        case .type, .origin: break
        default:
            throw SiphonError(.sourceFatal, "pgoutput protocol: unexpected \(message) inside a transaction")
        }
    }
}

extension PgOutputMessage {
    /// The (sub)transaction id a change carries inside a streamed block.
    var streamXid: UInt32? {
        switch self {
        case .relation(let message): return message.xid
        case .type(let message): return message.xid
        case .insert(let message): return message.xid
        case .update(let message): return message.xid
        case .delete(let message): return message.xid
        case .truncate(let message): return message.xid
        case .message(let message): return message.xid
        default: return nil
        }
    }
}
