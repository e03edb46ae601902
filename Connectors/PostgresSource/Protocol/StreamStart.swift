/// Stream Start (`'S'`, protocol v2): the changes that follow, up to Stream
/// Stop, belong to the in-progress transaction `xid`. Decode them with
/// `inStreamBlock: true`.
///
/// A large transaction arrives as several segments, possibly interleaved
/// with other transactions; it ends with Stream Commit or Stream Abort.
struct StreamStart: Hashable, Sendable {
    var xid: UInt32
    /// True for the first segment of this transaction.
    var isFirstSegment: Bool

    /// Reads the body after the type byte. The whole message must be
    /// consumed; `PgOutputMessage.decode` rejects leftover bytes.
    static func decode(from reader: inout ByteReader) throws -> StreamStart {
        let xid = try reader.readUInt32()
        let isFirstSegment = try reader.readUInt8() != 0
        return StreamStart(xid: xid, isFirstSegment: isFirstSegment)
    }
}
