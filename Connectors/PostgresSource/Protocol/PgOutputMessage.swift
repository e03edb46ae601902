/// One pgoutput logical replication message (protocol versions 1 and 2),
/// as carried in `XLogData.data`.
enum PgOutputMessage: Hashable, Sendable {
    case begin(Begin)
    case commit(Commit)
    case origin(Origin)
    case relation(Relation)
    case type(TypeMessage)
    case insert(Insert)
    case update(Update)
    case delete(Delete)
    case truncate(Truncate)
    case message(LogicalMessage)
    case streamStart(StreamStart)
    case streamStop
    case streamCommit(StreamCommit)
    case streamAbort(StreamAbort)

    enum ID: UInt8 {
        case begin = 0x42         // 'B'
        case commit = 0x43        // 'C'
        case origin = 0x4F        // 'O'
        case relation = 0x52      // 'R'
        case type = 0x59          // 'Y'
        case insert = 0x49        // 'I'
        case update = 0x55        // 'U'
        case delete = 0x44        // 'D'
        case truncate = 0x54      // 'T'
        case message = 0x4D       // 'M'
        case streamStart = 0x53   // 'S'
        case streamStop = 0x45    // 'E'
        case streamCommit = 0x63  // 'c'
        case streamAbort = 0x41   // 'A'
    }

    /// Decodes one whole pgoutput message, type byte included.
    ///
    /// - Parameter inStreamBlock: true between Stream Start and Stream Stop
    ///   (protocol v2). There, Relation, Type, Insert, Update, Delete,
    ///   Truncate and Message carry the streamed transaction's xid right
    ///   after the type byte; outside, their `xid` is nil.
    /// - Throws: `PgOutputDecodingError` on short input, bytes left over,
    ///   an unknown type byte (including protocol v3 two-phase messages), or
    ///   a bad tag. Never traps. Column values share storage with `data`.
    static func decode(_ data: ArraySlice<UInt8>, inStreamBlock: Bool) throws -> PgOutputMessage {
        var reader = ByteReader(data)
        let kind = try reader.readUInt8()
        guard let id = ID(rawValue: kind) else {
            throw PgOutputDecodingError(.unknownMessage, messageKind: kind, offset: 0,
                                        detail: "not a pgoutput v1/v2 message")
        }
        return try PgOutputDecodingError.tagging(kind) {
            let s = inStreamBlock
            let message: PgOutputMessage
            switch id {
            case .begin: message = .begin(try Begin.decode(from: &reader))
            case .commit: message = .commit(try Commit.decode(from: &reader))
            case .origin: message = .origin(try Origin.decode(from: &reader))
            case .relation: message = .relation(try Relation.decode(from: &reader, inStreamBlock: s))
            case .type: message = .type(try TypeMessage.decode(from: &reader, inStreamBlock: s))
            case .insert: message = .insert(try Insert.decode(from: &reader, inStreamBlock: s))
            case .update: message = .update(try Update.decode(from: &reader, inStreamBlock: s))
            case .delete: message = .delete(try Delete.decode(from: &reader, inStreamBlock: s))
            case .truncate: message = .truncate(try Truncate.decode(from: &reader, inStreamBlock: s))
            case .message: message = .message(try LogicalMessage.decode(from: &reader, inStreamBlock: s))
            case .streamStart: message = .streamStart(try StreamStart.decode(from: &reader))
            case .streamStop: message = .streamStop
            case .streamCommit: message = .streamCommit(try StreamCommit.decode(from: &reader))
            case .streamAbort: message = .streamAbort(try StreamAbort.decode(from: &reader))
            }
            try reader.expectEnd()
            return message
        }
    }
}

extension ByteReader {
    /// Reads the Int32 xid that prefixes some v2 messages inside a stream block.
    mutating func readStreamXid(inStreamBlock: Bool) throws -> UInt32? {
        inStreamBlock ? try readUInt32() : nil
    }
}
