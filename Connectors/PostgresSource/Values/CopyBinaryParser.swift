/// Parses `COPY ... TO STDOUT (FORMAT binary)`: the header (which the server
/// sends in front of the first row, in the same CopyData message), then one
/// row per message: an Int16 field count and, per field, an Int32 length
/// (-1 for NULL) and that many bytes in the type's binary send format. A
/// field count of -1 ends the data.
///
/// Values are the same send formats pgoutput uses in binary mode, so
/// `ValueRenderer.appendJSON(binary:format:to:)` renders them.
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

    /// Hands each field of the row in `message` to `field` (nil for NULL),
    /// in column order. Returns false for the end-of-data marker.
    static func parseRow(_ message: ArraySlice<UInt8>, field: (ArraySlice<UInt8>?) -> Void) throws -> Bool {
        var reader = ByteReader(message)
        let count = Int16(bitPattern: try reader.readUInt16())
        if count == -1 { return false }
        for _ in 0..<max(0, Int(count)) {
            let length = try reader.readInt32()
            field(length == -1 ? nil : try reader.readBytes(Int(length)))
        }
        try reader.expectEnd()
        return true
    }
}
