/// Parses `COPY ... TO STDOUT (FORMAT binary)`: the header (which the server
/// sends in front of the first row, in the same CopyData message), then one
/// row per message: an Int16 field count and, per field, an Int32 length
/// (-1 for NULL) and that many bytes in the type's binary send format. A
/// field count of -1 ends the data.
///
/// Values are the same send formats pgoutput uses in binary mode, so
/// `ValueRenderer.appendJSON(binary:format:to:)` renders them; `Fields`
/// reads a row's values in place.
enum CopyBinaryParser {
    /// `PGCOPY\n\377\r\n\0`
    static let signature: [UInt8] = [0x50, 0x47, 0x43, 0x4F, 0x50, 0x59, 0x0A, 0xFF, 0x0D, 0x0A, 0x00]

    /// The rows part of the first message: what follows the header.
    static func skipHeader(_ message: ArraySlice<UInt8>) throws -> ArraySlice<UInt8> {
        guard message.starts(with: signature) else {
            throw PgOutputDecodingError(.invalidValue, offset: 0, detail: "binary COPY data without its signature")
        }
        var reader = ByteReader(message.dropFirst(signature.count))
        let flags = try reader.readUInt32()
        // Bit 16: OIDs included (never for a column list); bits 17-31 must be understood, 0-15 may be ignored.
        guard flags >> 16 == 0 else {
            throw PgOutputDecodingError(.invalidValue, offset: reader.offset, detail: "binary COPY header flags \(flags)")
        }
        _ = try reader.readBytes(Int(try reader.readUInt32()))  // header extension: none defined yet
        return message.suffix(reader.remaining)
    }

    /// Whether `message` is the end-of-data marker (a field count of -1).
    static func isEnd(_ message: ArraySlice<UInt8>) -> Bool {
        message.count == 2 && message.first == 0xFF && message.last == 0xFF
    }

    /// A cursor over the fields of one row. It keeps offsets, not the bytes:
    /// the caller passes the same message to every call and takes each value
    /// as a span of it, so a row is read with no copy, no closure and no
    /// reference counting per value.
    struct Fields {
        private var offset = 2
        private var left: Int

        /// Reads the field count; nil for the end-of-data marker.
        init?(_ message: Span<UInt8>) throws {
            guard let count = ValueRenderer.bigEndian(message, at: 0, as: Int16.self) else {
                throw PgOutputDecodingError(.truncated, offset: 0, detail: "a row needs 2 bytes, \(message.count) left")
            }
            if count == -1 { return nil }
            left = max(0, Int(count))
        }

        /// The next field: `.some(nil)` for NULL, `.some(range)` for a value
        /// at `range` of `message`; nil after the last one, once the whole
        /// message has been read.
        mutating func next(in message: Span<UInt8>) throws -> Range<Int>?? {
            guard left > 0 else {
                guard offset == message.count else {
                    throw PgOutputDecodingError(.trailingBytes, offset: offset, detail: "\(message.count - offset) bytes left over")
                }
                return nil
            }
            left -= 1
            guard let length = ValueRenderer.bigEndian(message, at: offset, as: Int32.self) else {
                throw PgOutputDecodingError(.truncated, offset: offset, detail: "needed 4 bytes, \(message.count - offset) left")
            }
            offset += 4
            if length == -1 { return .some(nil) }
            guard length >= 0 else {
                throw PgOutputDecodingError(.invalidValue, offset: offset - 4, detail: "negative length \(length)")
            }
            guard Int(length) <= message.count - offset else {
                throw PgOutputDecodingError(.truncated, offset: offset, detail: "needed \(length) bytes, \(message.count - offset) left")
            }
            defer { offset += Int(length) }
            return offset..<(offset + Int(length))
        }
    }
}
