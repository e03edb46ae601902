/// Relation (`'R'`): describes a table before the first change to it in a
/// session, and again whenever its definition changes.
///
/// Tuple columns in Insert/Update/Delete line up with `columns` by position.
struct Relation: Hashable, Sendable {
    struct Column: Hashable, Sendable {
        /// Bit 0 set: the column is part of the replica identity key.
        var flags: UInt8
        var name: String
        var typeOID: UInt32
        /// `atttypmod`; -1 when the type has none.
        var typeModifier: Int32

        var isKey: Bool { flags & 1 != 0 }
    }

    /// The streamed transaction's xid; set only inside a stream block.
    var xid: UInt32?
    var relationID: UInt32
    var namespace: String
    var name: String
    /// `relreplident`: `d` default, `n` nothing, `f` full, `i` index (ASCII).
    var replicaIdentity: UInt8
    var columns: [Column]

    /// Reads the body after the type byte. The whole message must be
    /// consumed; `PgOutputMessage.decode` rejects leftover bytes.
    static func decode(from reader: inout ByteReader, inStreamBlock: Bool) throws -> Relation {
        let xid = try reader.readStreamXid(inStreamBlock: inStreamBlock)
        let relationID = try reader.readUInt32()
        let namespace = try reader.readCString()
        let name = try reader.readCString()
        let replicaIdentity = try reader.readUInt8()
        let count = Int(try reader.readUInt16())
        var columns: [Column] = []
        // Each column takes at least 10 bytes; never trust the count for allocation.
        columns.reserveCapacity(min(count, reader.remaining / 10))
        for _ in 0..<count {
            let flags = try reader.readUInt8()
            let columnName = try reader.readCString()
            let typeOID = try reader.readUInt32()
            let typeModifier = try reader.readInt32()
            columns.append(Column(flags: flags, name: columnName, typeOID: typeOID, typeModifier: typeModifier))
        }
        return Relation(xid: xid, relationID: relationID, namespace: namespace, name: name,
                        replicaIdentity: replicaIdentity, columns: columns)
    }
}
