/// The one error thrown while decoding replication framing or pgoutput messages.
///
/// `description` names the code, the message kind and the byte offset; it
/// never includes payload bytes, so it is safe to log.
struct PgOutputDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong. New codes may be added; switch with a default.
    struct Code: Hashable, Sendable, CustomStringConvertible {
        let description: String
        private init(_ description: String) { self.description = description }

        /// The message ended before a field did.
        static let truncated = Code("truncated")
        /// Bytes were left after the last field of the message.
        static let trailingBytes = Code("trailingBytes")
        /// The message type byte is not one this decoder knows.
        static let unknownMessage = Code("unknownMessage")
        /// A field held a value the protocol does not allow (bad tag, negative length).
        static let invalidValue = Code("invalidValue")
    }

    var code: Code
    /// The type byte of the message being decoded (`'I'`, `'w'`...), when known.
    var messageKind: UInt8?
    /// Offset from the start of the message where decoding stopped.
    var offset: Int
    /// A short static explanation; never contains payload data.
    var detail: String?

    init(_ code: Code, messageKind: UInt8? = nil, offset: Int, detail: String? = nil) {
        self.code = code
        self.messageKind = messageKind
        self.offset = offset
        self.detail = detail
    }

    var description: String {
        var text = "pgoutput decoding error (\(code))"
        if let kind = messageKind {
            text += (0x20..<0x7F).contains(kind)
                ? " in '\(Character(Unicode.Scalar(kind)))' message"
                : " in message 0x\(String(kind, radix: 16))"
        }
        text += " at offset \(offset)"
        if let detail { text += ": \(detail)" }
        return text
    }
}

extension PgOutputDecodingError {
    /// Runs `body`, stamping any decoding error it throws with `kind`.
    static func tagging<T>(_ kind: UInt8, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch var error as PgOutputDecodingError {
            error.messageKind = error.messageKind ?? kind
            throw error
        }
    }
}
