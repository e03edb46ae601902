/// Message (`'M'`): a `pg_logical_emit_message()` call, sent only when the
/// subscription asks for `messages 'true'`.
struct LogicalMessage: Hashable, Sendable {
    /// The streamed transaction's xid; set only inside a stream block.
    var xid: UInt32?
    /// Bit 0: the message is transactional (arrives inside Begin/Commit).
    var flags: UInt8
    /// The LSN of the message.
    var lsn: LSN
    var prefix: String
    /// Arbitrary bytes; a slice of the message, never a copy.
    var content: ArraySlice<UInt8>

    var isTransactional: Bool { flags & 1 != 0 }

    /// Reads the body after the type byte. The whole message must be
    /// consumed; `PgOutputMessage.decode` rejects leftover bytes.
    static func decode(from reader: inout ByteReader, inStreamBlock: Bool) throws -> LogicalMessage {
        let xid = try reader.readStreamXid(inStreamBlock: inStreamBlock)
        let flags = try reader.readUInt8()
        let lsn = try reader.readLSN()
        let prefix = try reader.readCString()
        let content = try reader.readLengthPrefixedBytes()
        return LogicalMessage(xid: xid, flags: flags, lsn: lsn, prefix: prefix, content: content)
    }
}
