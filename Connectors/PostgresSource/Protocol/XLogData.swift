/// XLogData (`'w'`): a run of WAL data from the server.
///
/// For a logical replication slot, `data` is exactly one pgoutput message;
/// decode it with `PgOutputMessage.decode(_:inStreamBlock:)`.
struct XLogData: Hashable, Sendable {
    /// The WAL position where `data` starts.
    var walStart: LSN
    /// The current end of WAL on the server.
    var walEnd: LSN
    /// Server clock at transmission, microseconds since 2000-01-01 UTC.
    var serverTime: Int64
    /// The payload; a slice of the CopyData buffer, never a copy.
    var data: ArraySlice<UInt8>

    /// Reads the body after the `'w'` byte. The data runs to the end of the
    /// message, so this always consumes the whole message.
    static func decode(from reader: inout ByteReader) throws -> XLogData {
        let walStart = try reader.readLSN()
        let walEnd = try reader.readLSN()
        let serverTime = try reader.readInt64()
        let data = try reader.readBytes(reader.remaining)
        return XLogData(walStart: walStart, walEnd: walEnd, serverTime: serverTime, data: data)
    }
}
