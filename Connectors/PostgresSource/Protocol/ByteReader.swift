/// A big-endian cursor over one wire message.
///
/// Every read checks the bytes are there first and throws
/// `PgOutputDecodingError` (code `.truncated`) instead of trapping. Reads that
/// return bytes hand back slices of the original storage: payload bytes are
/// never copied.
struct ByteReader: Sendable {
    private let bytes: ArraySlice<UInt8>
    private var index: Int

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        self.index = bytes.startIndex
    }

    /// Bytes not yet read.
    var remaining: Int { bytes.endIndex - index }

    /// Bytes read so far, counted from the start of the message.
    var offset: Int { index - bytes.startIndex }

    mutating func readUInt8() throws -> UInt8 {
        try require(1)
        defer { index += 1 }
        return bytes[index]
    }

    mutating func readUInt16() throws -> UInt16 { try readInteger() }
    mutating func readUInt32() throws -> UInt32 { try readInteger() }
    mutating func readInt32() throws -> Int32 { try readInteger() }
    mutating func readUInt64() throws -> UInt64 { try readInteger() }
    mutating func readInt64() throws -> Int64 { try readInteger() }

    /// Reads an `Int64` WAL position.
    mutating func readLSN() throws -> LSN { LSN(rawValue: try readUInt64()) }

    /// Reads a NUL-terminated string and consumes the terminator.
    /// Invalid UTF-8 is repaired with U+FFFD rather than rejected.
    mutating func readCString() throws -> String {
        guard let nul = bytes[index...].firstIndex(of: 0) else {
            throw PgOutputDecodingError(.truncated, offset: offset, detail: "string has no NUL terminator")
        }
        defer { index = nul + 1 }
        return String(decoding: bytes[index..<nul], as: UTF8.self)
    }

    /// Returns the next `n` bytes as a slice sharing the message's storage.
    mutating func readBytes(_ n: Int) throws -> ArraySlice<UInt8> {
        let range = try skipBytes(n)
        return bytes[(bytes.startIndex + range.lowerBound)..<(bytes.startIndex + range.upperBound)]
    }

    /// Skips the next `n` bytes; returns where they are, as offsets from
    /// the start of `message`.
    mutating func skipBytes(_ n: Int) throws -> Range<Int> {
        guard n >= 0 else {
            throw PgOutputDecodingError(.invalidValue, offset: offset, detail: "negative length \(n)")
        }
        try require(n)
        let start = offset
        index += n
        return start..<(start + n)
    }

    /// Reads an `Int32` length prefix followed by that many bytes.
    mutating func readLengthPrefixedBytes() throws -> ArraySlice<UInt8> {
        try readBytes(Int(try readInt32()))
    }

    /// The whole message being read.
    var message: ArraySlice<UInt8> { bytes }

    /// Skips an `Int32` length prefix and that many bytes; returns where
    /// they are, as offsets from the start of `message`.
    mutating func skipLengthPrefixedBytes() throws -> Range<Int> {
        try skipBytes(Int(try readInt32()))
    }

    /// Throws `.trailingBytes` unless the whole message has been read.
    func expectEnd() throws {
        guard remaining == 0 else {
            throw PgOutputDecodingError(.trailingBytes, offset: offset, detail: "\(remaining) bytes left over")
        }
    }

    private func require(_ n: Int) throws {
        guard remaining >= n else {
            throw PgOutputDecodingError(.truncated, offset: offset, detail: "needed \(n) bytes, \(remaining) left")
        }
    }

    private mutating func readInteger<T: FixedWidthInteger>() throws -> T {
        let size = MemoryLayout<T>.size
        try require(size)
        var value: T = 0
        for byte in bytes[index..<(index + size)] {
            value = value << 8 | T(truncatingIfNeeded: byte)
        }
        index += size
        return value
    }
}
