/// Standby status update (`'r'`): tells the server how far the client has
/// received, durably stored and applied WAL.
///
/// The server may recycle WAL up to `flushed` on a logical slot, so only
/// report a position there once everything before it is durable downstream.
struct StandbyStatusUpdate: Hashable, Sendable {
    static let id: UInt8 = 0x72  // 'r'
    /// Encoded size: type byte, four Int64 fields, one flag byte.
    static let encodedSize = 34

    /// Last WAL byte + 1 received.
    var written: LSN
    /// Last WAL byte + 1 durably stored by the client.
    var flushed: LSN
    /// Last WAL byte + 1 applied by the client.
    var applied: LSN
    /// Client clock, microseconds since 2000-01-01 UTC
    /// (see `PostgresTime.postgresMicros(fromUnixMillis:)`).
    var clientTime: Int64
    /// Asks the server to answer with a keepalive right away.
    var replyRequested: Bool

    init(written: LSN, flushed: LSN, applied: LSN, clientTime: Int64, replyRequested: Bool = false) {
        self.written = written
        self.flushed = flushed
        self.applied = applied
        self.clientTime = clientTime
        self.replyRequested = replyRequested
    }

    /// The CopyData payload to send: exactly 34 bytes, big-endian.
    func encode() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.encodedSize)
        bytes.append(Self.id)
        for value in [written.rawValue, flushed.rawValue, applied.rawValue, UInt64(bitPattern: clientTime)] {
            for shift in stride(from: 56, through: 0, by: -8) {
                bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift)))
            }
        }
        bytes.append(replyRequested ? 1 : 0)
        return bytes
    }
}
