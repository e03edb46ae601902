/// Primary keepalive (`'k'`): the server's heartbeat.
///
/// When `replyRequested` is true the client should send a
/// `StandbyStatusUpdate` promptly, or the server may drop the connection
/// after `wal_sender_timeout`.
struct PrimaryKeepalive: Hashable, Sendable {
    /// The current end of WAL on the server.
    var walEnd: LSN
    /// Server clock at transmission, microseconds since 2000-01-01 UTC.
    var serverTime: Int64
    var replyRequested: Bool

    /// Reads the body after the `'k'` byte; the whole message must be
    /// consumed (17 bytes), which the caller checks.
    static func decode(from reader: inout ByteReader) throws -> PrimaryKeepalive {
        let walEnd = try reader.readLSN()
        let serverTime = try reader.readInt64()
        let replyRequested = try reader.readUInt8() != 0
        return PrimaryKeepalive(walEnd: walEnd, serverTime: serverTime, replyRequested: replyRequested)
    }
}
