/// One CopyData payload received from the server after `START_REPLICATION`.
///
/// Streaming replication sends only two kinds of message to the client: WAL
/// data (which, for a logical slot, carries one pgoutput message) and
/// keepalives.
enum ReplicationMessage: Hashable, Sendable {
    case xLogData(XLogData)
    case keepalive(PrimaryKeepalive)

    enum ID: UInt8 {
        case xLogData = 0x77   // 'w'
        case keepalive = 0x6B  // 'k'
    }

    /// Decodes a whole CopyData payload, type byte included.
    ///
    /// Throws `PgOutputDecodingError` when the payload is short, has bytes
    /// left over, or starts with an unknown type byte. `XLogData.data` shares
    /// storage with `payload`.
    static func decode(_ payload: ArraySlice<UInt8>) throws -> ReplicationMessage {
        var reader = ByteReader(payload)
        let kind = try reader.readUInt8()
        guard let id = ID(rawValue: kind) else {
            throw PgOutputDecodingError(.unknownMessage, messageKind: kind, offset: 0,
                                        detail: "not a streaming replication message")
        }
        return try PgOutputDecodingError.tagging(kind) {
            let message: ReplicationMessage
            switch id {
            case .xLogData: message = .xLogData(try XLogData.decode(from: &reader))
            case .keepalive: message = .keepalive(try PrimaryKeepalive.decode(from: &reader))
            }
            try reader.expectEnd()
            return message
        }
    }
}
