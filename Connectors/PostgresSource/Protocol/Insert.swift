/// Insert (`'I'`): a new row.
struct Insert: Hashable, Sendable {
    /// The streamed transaction's xid; set only inside a stream block.
    var xid: UInt32?
    /// Matches a `Relation.relationID` received earlier in the session.
    var relationID: UInt32
    var newTuple: TupleData

    /// Reads the body after the type byte. The whole message must be
    /// consumed; `PgOutputMessage.decode` rejects leftover bytes.
    static func decode(from reader: inout ByteReader, inStreamBlock: Bool) throws -> Insert {
        let xid = try reader.readStreamXid(inStreamBlock: inStreamBlock)
        let relationID = try reader.readUInt32()
        try reader.expectTupleTag(.new)
        let newTuple = try TupleData.decode(from: &reader)
        return Insert(xid: xid, relationID: relationID, newTuple: newTuple)
    }
}

extension ByteReader {
    /// Reads a tuple tag byte and throws `.invalidValue` unless it is `tag`.
    mutating func expectTupleTag(_ tag: TupleData.Tag) throws {
        let offset = self.offset
        let byte = try readUInt8()
        guard byte == tag.rawValue else {
            throw PgOutputDecodingError(.invalidValue, offset: offset,
                                        detail: "expected tuple tag \(tag), found \(byte)")
        }
    }
}
