/// Commit (`'C'`): the transaction opened by the last Begin is complete.
///
/// `endLSN` is the position to acknowledge once every change of the
/// transaction is durable downstream.
struct Commit: Hashable, Sendable {
    /// Currently unused by the server (0).
    var flags: UInt8
    /// The LSN of the commit record.
    var commitLSN: LSN
    /// The LSN just past the commit record.
    var endLSN: LSN
    /// Commit time, microseconds since 2000-01-01 UTC.
    var commitTime: Int64

    /// Reads the body after the type byte. The whole message must be
    /// consumed; `PgOutputMessage.decode` rejects leftover bytes.
    static func decode(from reader: inout ByteReader) throws -> Commit {
        let flags = try reader.readUInt8()
        let commitLSN = try reader.readLSN()
        let endLSN = try reader.readLSN()
        let commitTime = try reader.readInt64()
        return Commit(flags: flags, commitLSN: commitLSN, endLSN: endLSN, commitTime: commitTime)
    }
}
