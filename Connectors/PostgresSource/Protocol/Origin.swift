/// Origin (`'O'`): the current transaction was replicated from another
/// node. Several may appear in one transaction.
struct Origin: Hashable, Sendable {
    /// The LSN of the commit on the origin server.
    var commitLSN: LSN
    var name: String

    /// Reads the body after the type byte. The whole message must be
    /// consumed; `PgOutputMessage.decode` rejects leftover bytes.
    static func decode(from reader: inout ByteReader) throws -> Origin {
        let commitLSN = try reader.readLSN()
        let name = try reader.readCString()
        return Origin(commitLSN: commitLSN, name: name)
    }
}
