import XCTest
@testable import PostgresSource

/// Streaming replication framing (`'w'`, `'k'`, `'r'`), PostgreSQL time
/// conversion and the byte reader. `Fixture` lives in PgOutputDecodingTests.swift.
final class ReplicationFramingTests: XCTestCase {
    func testXLogDataCarriesPgOutputMessageWithoutCopying() throws {
        let inner = Fixture("I").u32(16384).tuple("N", [.text("hello")])
        let payload = Fixture("w").lsn(0x16_B374_D848).lsn(0x16_B374_D900).i64(774_000_000_000_000).raw(inner.bytes).slice
        guard case .xLogData(let x) = try ReplicationMessage.decode(payload) else { return XCTFail() }
        XCTAssertEqual(x.walStart.description, "16/B374D848")
        XCTAssertEqual(x.walEnd, LSN(0x16_B374_D900))
        XCTAssertEqual(x.serverTime, 774_000_000_000_000)
        XCTAssertEqual(Array(x.data), inner.bytes)

        guard case .insert(let insert) = try PgOutputMessage.decode(x.data, inStreamBlock: false),
              case .text(let value) = insert.newTuple.columns.first else { return XCTFail() }
        XCTAssertEqual(String(decoding: value, as: UTF8.self), "hello")
        payload.withUnsafeBufferPointer { whole in
            value.withUnsafeBufferPointer { XCTAssertEqual($0.baseAddress, whole.baseAddress! + payload.count - 5) }
        }
    }

    func testXLogDataWithEmptyData() throws {
        let payload = Fixture("w").lsn(1).lsn(2).i64(-1).slice
        XCTAssertEqual(try ReplicationMessage.decode(payload),
                       .xLogData(XLogData(walStart: LSN(1), walEnd: LSN(2), serverTime: -1, data: [])))
    }

    func testKeepalive() throws {
        XCTAssertEqual(try ReplicationMessage.decode(Fixture("k").lsn(0x16_0000_0001).i64(5).u8(1).slice),
                       .keepalive(PrimaryKeepalive(walEnd: LSN(0x16_0000_0001), serverTime: 5, replyRequested: true)))
        XCTAssertEqual(try ReplicationMessage.decode(Fixture("k").lsn(7).i64(5).u8(0).slice),
                       .keepalive(PrimaryKeepalive(walEnd: LSN(7), serverTime: 5, replyRequested: false)))
    }

    func testTruncatedTrailingAndUnknownFramingThrows() {
        let keepalive = Fixture("k").lsn(7).i64(5).u8(1)
        let xlogHeader = Fixture("w").lsn(1).lsn(2).i64(3)
        for fixture in [keepalive, xlogHeader] {
            for length in 0..<fixture.bytes.count {
                XCTAssertThrowsError(try ReplicationMessage.decode(fixture.bytes[..<length])) {
                    XCTAssertEqual(($0 as? PgOutputDecodingError)?.code, .truncated)
                }
            }
        }
        XCTAssertThrowsError(try ReplicationMessage.decode(keepalive.u8(0).slice)) {
            XCTAssertEqual(($0 as? PgOutputDecodingError)?.code, .trailingBytes)
            XCTAssertEqual(($0 as? PgOutputDecodingError)?.messageKind, UInt8(ascii: "k"))
        }
        XCTAssertThrowsError(try ReplicationMessage.decode(Fixture("r").raw([UInt8](repeating: 0, count: 33)).slice)) {
            XCTAssertEqual(($0 as? PgOutputDecodingError)?.code, .unknownMessage)
        }
    }

    func testStandbyStatusUpdateEncodesByteExact() {
        let update = StandbyStatusUpdate(written: LSN(0x0102_0304_0506_0708), flushed: LSN(0x16_B374_D848),
                                         applied: LSN(0), clientTime: -2, replyRequested: true)
        let expected: [UInt8] = [0x72,
                                 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
                                 0x00, 0x00, 0x00, 0x16, 0xB3, 0x74, 0xD8, 0x48,
                                 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE,
                                 0x01]
        XCTAssertEqual(update.encode(), expected)
        XCTAssertEqual(update.encode().count, 34)
        var noReply = update
        noReply.replyRequested = false
        XCTAssertEqual(noReply.encode().last, 0)
        XCTAssertEqual(noReply.encode(), Fixture("r").u64(0x0102_0304_0506_0708).lsn(0x16_B374_D848)
            .lsn(0).i64(-2).u8(0).bytes)
    }

    func testPostgresTime() {
        XCTAssertEqual(PostgresTime.unixMillis(fromPostgresMicros: 0), 946_684_800_000)
        XCTAssertEqual(PostgresTime.postgresMicros(fromUnixMillis: 946_684_800_000), 0)
        // 2024-07-11T12:00:00.123Z
        XCTAssertEqual(PostgresTime.unixMillis(fromPostgresMicros: 774_014_400_123_456), 1_720_699_200_123)
        XCTAssertEqual(PostgresTime.postgresMicros(fromUnixMillis: 1_720_699_200_123), 774_014_400_123_000)
        XCTAssertEqual(PostgresTime.unixMillis(fromPostgresMicros: -1), 946_684_799_999)  // floors before 2000
        XCTAssertEqual(PostgresTime.postgresMicros(fromUnixMillis: 0), -946_684_800_000_000)
        XCTAssertEqual(PostgresTime.postgresMicros(fromUnixMillis: .max), .max)
        XCTAssertEqual(PostgresTime.postgresMicros(fromUnixMillis: .min), .min)
    }

    func testByteReaderReadsBigEndianAndNeverTraps() throws {
        var reader = ByteReader([0xFF, 0x01, 0x02, 0xFF, 0xFF, 0xFF, 0xFE, 0x61, 0x62, 0x00, 0x09, 0x08][...])
        XCTAssertEqual(reader.remaining, 12)
        XCTAssertEqual(try reader.readUInt8(), 0xFF)
        XCTAssertEqual(try reader.readUInt16(), 0x0102)
        XCTAssertEqual(try reader.readInt32(), -2)
        XCTAssertEqual(try reader.readCString(), "ab")
        XCTAssertEqual(reader.offset, 10)
        XCTAssertThrowsError(try reader.readBytes(-1))
        XCTAssertThrowsError(try reader.readUInt32())
        XCTAssertEqual(reader.remaining, 2, "a failed read consumes nothing")
        XCTAssertEqual(Array(try reader.readBytes(2)), [0x09, 0x08])
        XCTAssertThrowsError(try reader.readUInt8())
        XCTAssertNoThrow(try reader.expectEnd())

        var wide = ByteReader([0x80, 0, 0, 0, 0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF][...])
        XCTAssertEqual(try wide.readUInt64(), 0x8000_0000_0000_0001)
        XCTAssertEqual(try wide.readInt64(), -1)
        XCTAssertEqual(try wide.readUInt32(), 0xFFFF_FFFF)
        XCTAssertEqual(wide.remaining, 0)
    }
}
