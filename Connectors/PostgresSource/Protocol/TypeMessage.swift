/// Type (`'Y'`): names a data type (one not built in) before a Relation
/// that uses it.
struct TypeMessage: Hashable, Sendable {
    /// The streamed transaction's xid; set only inside a stream block.
    var xid: UInt32?
    var typeOID: UInt32
    var namespace: String
    var name: String

    /// Reads the body after the type byte. The whole message must be
    /// consumed; `PgOutputMessage.decode` rejects leftover bytes.
    static func decode(from reader: inout ByteReader, inStreamBlock: Bool) throws -> TypeMessage {
        let xid = try reader.readStreamXid(inStreamBlock: inStreamBlock)
        let typeOID = try reader.readUInt32()
        let namespace = try reader.readCString()
        let name = try reader.readCString()
        return TypeMessage(xid: xid, typeOID: typeOID, namespace: namespace, name: name)
    }
}
