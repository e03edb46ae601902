/// The column values of one row, in the order of the Relation's columns.
///
/// The values stay in the message they came in: `message` is one reference
/// to it for the whole row, and each value is a kind and a range of it. A
/// slice per value cost a retain and a release of the message per value,
/// the largest part of the reference counting of a streamed row.
struct TupleData: Hashable, Sendable {
    /// The byte before a TupleData saying which image of the row follows.
    enum Tag: UInt8 {
        case new = 0x4E  // 'N'
        case key = 0x4B  // 'K'
        case old = 0x4F  // 'O'
    }

    struct Value: Hashable, Sendable {
        enum Kind: UInt8, Sendable { case null, unchangedToast, text, binary }
        var kind: Kind
        /// Where the value's bytes are, as offsets from the start of
        /// `message` (empty for null and unchanged TOAST).
        var range: Range<Int>
    }

    /// The bytes the values are in (the whole message).
    let message: ArraySlice<UInt8>
    let values: [Value]

    var count: Int { values.count }

    /// Column `index` as a `TupleValue`.
    subscript(index: Int) -> TupleValue {
        let value = values[index]
        switch value.kind {
        case .null: return .null
        case .unchangedToast: return .unchangedToast
        case .text: return .text(bytes(of: value))
        case .binary: return .binary(bytes(of: value))
        }
    }

    /// A value's bytes, as a slice of the message.
    func bytes(of value: Value) -> ArraySlice<UInt8> {
        message[(message.startIndex + value.range.lowerBound)..<(message.startIndex + value.range.upperBound)]
    }

    /// Every value as a `TupleValue`.
    var columns: [TupleValue] { values.indices.map { self[$0] } }

    /// A row made of the given values (their bytes are copied into one array).
    init(columns: [TupleValue]) {
        var bytes: [UInt8] = []
        values = columns.map { column in
            let start = bytes.count
            switch column {
            case .null: return Value(kind: .null, range: start..<start)
            case .unchangedToast: return Value(kind: .unchangedToast, range: start..<start)
            case .text(let text):
                bytes.append(contentsOf: text)
                return Value(kind: .text, range: start..<bytes.count)
            case .binary(let binary):
                bytes.append(contentsOf: binary)
                return Value(kind: .binary, range: start..<bytes.count)
            }
        }
        message = bytes[...]
    }

    private init(message: ArraySlice<UInt8>, values: [Value]) {
        self.message = message
        self.values = values
    }

    /// Rows are equal when their values are, wherever the bytes sit.
    static func == (lhs: TupleData, rhs: TupleData) -> Bool { lhs.columns == rhs.columns }

    func hash(into hasher: inout Hasher) { hasher.combine(columns) }

    /// Reads an Int16 column count and that many values. Value bytes are
    /// ranges of the message, never copies.
    static func decode(from reader: inout ByteReader) throws -> TupleData {
        let count = Int(try reader.readUInt16())
        var values: [Value] = []
        // Each value takes at least its 1-byte kind; never trust the count for allocation.
        values.reserveCapacity(min(count, reader.remaining))
        for _ in 0..<count {
            let offset = reader.offset
            let kind = try reader.readUInt8()
            switch TupleValue.ID(rawValue: kind) {
            case .null: values.append(Value(kind: .null, range: offset..<offset))
            case .unchangedToast: values.append(Value(kind: .unchangedToast, range: offset..<offset))
            case .text: values.append(Value(kind: .text, range: try reader.skipLengthPrefixedBytes()))
            case .binary: values.append(Value(kind: .binary, range: try reader.skipLengthPrefixedBytes()))
            case nil:
                throw PgOutputDecodingError(.invalidValue, offset: offset, detail: "unknown tuple value kind \(kind)")
            }
        }
        return TupleData(message: reader.message, values: values)
    }
}

/// One column value inside a `TupleData`, as a value of its own (tests and
/// messages built by hand).
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
}
