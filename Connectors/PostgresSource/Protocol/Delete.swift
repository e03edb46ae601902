/// Delete (`'D'`): a removed row.
///
/// The server always sends exactly one of `oldKey` (`'K'`, replica identity
/// default or index) and `oldTuple` (`'O'`, identity full); a message with
/// neither is rejected. Tables with identity nothing publish no deletes.
struct Delete: Hashable, Sendable {
    /// The streamed transaction's xid; set only inside a stream block.
    var xid: UInt32?
    var relationID: UInt32
    /// The old replica identity key; non-key columns are null.
    var oldKey: TupleData?
    /// The whole old row.
    var oldTuple: TupleData?

    /// Reads the body after the type byte. The whole message must be
    /// consumed; `PgOutputMessage.decode` rejects leftover bytes.
    static func decode(from reader: inout ByteReader, inStreamBlock: Bool) throws -> Delete {
        let xid = try reader.readStreamXid(inStreamBlock: inStreamBlock)
        let relationID = try reader.readUInt32()
        let tagOffset = reader.offset
        let tag = try reader.readUInt8()
        switch TupleData.Tag(rawValue: tag) {
        case .key?:
            return Delete(xid: xid, relationID: relationID, oldKey: try TupleData.decode(from: &reader), oldTuple: nil)
        case .old?:
            return Delete(xid: xid, relationID: relationID, oldKey: nil, oldTuple: try TupleData.decode(from: &reader))
        case .new?, nil:
            throw PgOutputDecodingError(.invalidValue, offset: tagOffset,
                                        detail: "expected tuple tag key or old, found \(tag)")
        }
    }
}
