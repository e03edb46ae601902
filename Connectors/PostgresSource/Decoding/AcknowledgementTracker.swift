import SiphonCore

/// Maps acknowledged event positions to the LSN PostgreSQL may forget.
///
/// A transaction's end LSN is confirmed only once its last event is
/// durable; a transaction that produced no event is confirmed once all
/// events before it are. When nothing is in flight, the server's WAL end
/// (from keepalives) is confirmed too, so an idle slot never pins WAL.
struct AcknowledgementTracker {
    private var pending: [ChangeDecoder.Completed] = []
    private var pendingHead = 0
    private(set) var acknowledged: Position?
    private(set) var confirmedLSN: LSN

    init(startLSN: LSN, acknowledged: Position?) {
        confirmedLSN = startLSN
        self.acknowledged = acknowledged
    }

    /// A transaction was fully handed to the pipeline.
    mutating func completed(_ transaction: ChangeDecoder.Completed) {
        pending.append(transaction)
        advance()
    }

    mutating func acknowledge(_ position: Position) {
        if acknowledged.map({ position > $0 }) ?? true { acknowledged = position }
        advance()
    }

    /// Nothing emitted is waiting for the sink.
    var isIdle: Bool { pendingHead == pending.count }

    /// With nothing in flight and no transaction open, the server's WAL end may be confirmed.
    mutating func idle(serverWALEnd: LSN, transactionOpen: Bool) {
        guard isIdle, !transactionOpen, serverWALEnd > confirmedLSN else { return }
        confirmedLSN = serverWALEnd
    }

    private mutating func advance() {
        while pendingHead < pending.count {
            let next = pending[pendingHead]
            if let last = next.lastPosition {
                guard let acknowledged, last <= acknowledged else { break }
            }
            if next.endLSN > confirmedLSN { confirmedLSN = next.endLSN }
            pendingHead += 1
        }
        if pendingHead > 1024 || pendingHead == pending.count {
            pending.removeFirst(pendingHead)
            pendingHead = 0
        }
    }
}
