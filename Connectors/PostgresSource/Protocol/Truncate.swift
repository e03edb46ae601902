/// Truncate (`'T'`): one `TRUNCATE` statement, covering every listed table.
struct Truncate: Hashable, Sendable {
    /// The streamed transaction's xid; set only inside a stream block.
    var xid: UInt32?
    /// Bit 0: `CASCADE`; bit 1: `RESTART IDENTITY`.
    var options: UInt8
    var relationIDs: [UInt32]

    var cascade: Bool { options & 1 != 0 }
    var restartIdentity: Bool { options & 2 != 0 }

    /// Reads the body after the type byte. The whole message must be
    /// consumed; `PgOutputMessage.decode` rejects leftover bytes.
    static func decode(from reader: inout ByteReader, inStreamBlock: Bool) throws -> Truncate {
        let xid = try reader.readStreamXid(inStreamBlock: inStreamBlock)
        let countOffset = reader.offset
        let count = try reader.readInt32()
        guard count >= 0 else {
            throw PgOutputDecodingError(.invalidValue, offset: countOffset, detail: "negative relation count \(count)")
        }
        let options = try reader.readUInt8()
        var relationIDs: [UInt32] = []
        // Never trust the count for allocation: each id takes 4 bytes.
        relationIDs.reserveCapacity(min(Int(count), reader.remaining / 4))
        for _ in 0..<count {
            relationIDs.append(try reader.readUInt32())
        }
        return Truncate(xid: xid, options: options, relationIDs: relationIDs)
    }
}
