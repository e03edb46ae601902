/// Stream Abort (`'A'`, protocol v2): discard changes streamed for a
/// transaction.
///
/// When `subtransactionXid == xid` the whole top-level transaction aborted;
/// otherwise only the changes of that subtransaction are discarded.
/// Protocol v4 (parallel apply) appends an abort LSN and time; those
/// messages are rejected as having trailing bytes.
struct StreamAbort: Hashable, Sendable {
    /// The top-level transaction.
    var xid: UInt32
    /// The aborted subtransaction (equal to `xid` for the whole transaction).
    var subtransactionXid: UInt32

    /// True when the whole streamed transaction aborted.
    var abortsTopLevel: Bool { xid == subtransactionXid }

    /// Reads the body after the type byte. The whole message must be
    /// consumed; `PgOutputMessage.decode` rejects leftover bytes.
    static func decode(from reader: inout ByteReader) throws -> StreamAbort {
        let xid = try reader.readUInt32()
        let subtransactionXid = try reader.readUInt32()
        return StreamAbort(xid: xid, subtransactionXid: subtransactionXid)
    }
}
