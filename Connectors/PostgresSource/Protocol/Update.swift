/// Update (`'U'`): a changed row.
///
/// The old image depends on the table's replica identity: `oldKey` when
/// key columns changed (identity default or index), `oldTuple` with
/// identity full, neither otherwise. Unchanged TOAST columns in `newTuple`
/// arrive as `.unchangedToast`.
struct Update: Hashable, Sendable {
    /// The streamed transaction's xid; set only inside a stream block.
    var xid: UInt32?
    var relationID: UInt32
    /// The old replica identity key (`'K'`); non-key columns are null.
    var oldKey: TupleData?
    /// The whole old row (`'O'`).
    var oldTuple: TupleData?
    var newTuple: TupleData

    /// Reads the body after the type byte. The whole message must be
    /// consumed; `PgOutputMessage.decode` rejects leftover bytes.
    static func decode(from reader: inout ByteReader, inStreamBlock: Bool) throws -> Update {
        let xid = try reader.readStreamXid(inStreamBlock: inStreamBlock)
        let relationID = try reader.readUInt32()
        var oldKey: TupleData?
        var oldTuple: TupleData?
        var tagOffset = reader.offset
        var tag = try reader.readUInt8()
        switch TupleData.Tag(rawValue: tag) {
        case .key?:
            oldKey = try TupleData.decode(from: &reader)
            tagOffset = reader.offset
            tag = try reader.readUInt8()
        case .old?:
            oldTuple = try TupleData.decode(from: &reader)
            tagOffset = reader.offset
            tag = try reader.readUInt8()
        case .new?, nil:
            break
        }
        guard tag == TupleData.Tag.new.rawValue else {
            throw PgOutputDecodingError(.invalidValue, offset: tagOffset,
                                        detail: "expected tuple tag new, found \(tag)")
        }
        let newTuple = try TupleData.decode(from: &reader)
        return Update(xid: xid, relationID: relationID, oldKey: oldKey, oldTuple: oldTuple, newTuple: newTuple)
    }
}
