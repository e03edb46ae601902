/// Begin (`'B'`): a transaction starts; its changes follow until Commit.
struct Begin: Hashable, Sendable {
    /// The LSN of the transaction's commit record.
    var finalLSN: LSN
    /// Commit time, microseconds since 2000-01-01 UTC.
    var commitTime: Int64
    var xid: UInt32

    /// Reads the body after the type byte. The whole message must be
    /// consumed; `PgOutputMessage.decode` rejects leftover bytes.
    static func decode(from reader: inout ByteReader) throws -> Begin {
        let finalLSN = try reader.readLSN()
        let commitTime = try reader.readInt64()
        let xid = try reader.readUInt32()
        return Begin(finalLSN: finalLSN, commitTime: commitTime, xid: xid)
    }
}
