/// The column values of one row, in the order of the Relation's columns.
struct TupleData: Hashable, Sendable {
    var columns: [TupleValue]

    /// The byte before a TupleData saying which image of the row follows.
    enum Tag: UInt8 {
        case new = 0x4E  // 'N'
        case key = 0x4B  // 'K'
        case old = 0x4F  // 'O'
    }

    /// Reads an Int16 column count and that many values. Value bytes are
    /// slices of the message, never copies.
    static func decode(from reader: inout ByteReader) throws -> TupleData {
        let count = Int(try reader.readUInt16())
        var columns: [TupleValue] = []
        // Each value takes at least its 1-byte kind; never trust the count for allocation.
        columns.reserveCapacity(min(count, reader.remaining))
        for _ in 0..<count {
            columns.append(try TupleValue.decode(from: &reader))
        }
        return TupleData(columns: columns)
    }
}

/// One column value inside a `TupleData`.
enum TupleValue: Hashable, Sendable {
    /// SQL NULL.
    case null
    /// A TOASTed value that did not change; pgoutput does not resend it, so
    /// the caller must keep (or lack) the previous value.
    case unchangedToast
    /// The value in PostgreSQL's text output format (UTF-8 for UTF-8 databases).
    case text(ArraySlice<UInt8>)
    /// The value in the type's binary send format (only with `binary 'true'`).
    case binary(ArraySlice<UInt8>)

    enum ID: UInt8 {
        case null = 0x6E            // 'n'
        case unchangedToast = 0x75  // 'u'
        case text = 0x74            // 't'
        case binary = 0x62          // 'b'
    }

    static func decode(from reader: inout ByteReader) throws -> TupleValue {
        let offset = reader.offset
        let kind = try reader.readUInt8()
        switch ID(rawValue: kind) {
        case .null: return .null
        case .unchangedToast: return .unchangedToast
        case .text: return .text(try reader.readLengthPrefixedBytes())
        case .binary: return .binary(try reader.readLengthPrefixedBytes())
        case nil:
            throw PgOutputDecodingError(.invalidValue, offset: offset, detail: "unknown tuple value kind \(kind)")
        }
    }
}
