import XCTest
@testable import PostgresSource
import SiphonCore

/// Builds wire-message byte fixtures by hand, big-endian, one field at a time.
/// Shared by the framing tests in this target.
struct Fixture: Sendable {
    private(set) var bytes: [UInt8]

    init(_ kind: Character) { bytes = [kind.asciiValue!] }
    init(bytes: [UInt8] = []) { self.bytes = bytes }

    var slice: ArraySlice<UInt8> { bytes[...] }

    func raw(_ more: [UInt8]) -> Fixture { Fixture(bytes: bytes + more) }
    func char(_ c: Character) -> Fixture { raw([c.asciiValue!]) }
    func u8(_ v: UInt8) -> Fixture { raw([v]) }
    func u16(_ v: UInt16) -> Fixture { bigEndian(v) }
    func u32(_ v: UInt32) -> Fixture { bigEndian(v) }
    func i32(_ v: Int32) -> Fixture { bigEndian(v) }
    func u64(_ v: UInt64) -> Fixture { bigEndian(v) }
    func i64(_ v: Int64) -> Fixture { bigEndian(v) }
    func lsn(_ v: UInt64) -> Fixture { bigEndian(v) }
    func cstring(_ s: String) -> Fixture { raw(Array(s.utf8) + [0]) }
    /// Appends the stream xid only when given, as the server does inside a stream block.
    func xid(_ v: UInt32?) -> Fixture { v.map { u32($0) } ?? self }

    /// A tuple tag ('N', 'K', 'O') followed by TupleData.
    func tuple(_ tag: Character, _ values: [FixtureValue]) -> Fixture {
        var f = char(tag).u16(UInt16(values.count))
        for value in values {
            switch value {
            case .null: f = f.char("n")
            case .toast: f = f.char("u")
            case .text(let s): f = f.char("t").i32(Int32(s.utf8.count)).raw(Array(s.utf8))
            case .binary(let b): f = f.char("b").i32(Int32(b.count)).raw(b)
            }
        }
        return f
    }

    private func bigEndian<T: FixedWidthInteger>(_ v: T) -> Fixture {
        withUnsafeBytes(of: v.bigEndian) { raw(Array($0)) }
    }
}

enum FixtureValue { case null, toast, text(String), binary([UInt8]) }

func text(_ s: String) -> TupleValue { .text(ArraySlice(s.utf8)) }

final class PgOutputDecodingTests: XCTestCase {
    static let lsnA: UInt64 = 0x16_B374_D848
    static let lsnB: UInt64 = 0x16_B374_D900
    static let time: Int64 = 774_000_000_123_456

    private func decode(_ f: Fixture, stream: Bool = false) throws -> PgOutputMessage {
        try PgOutputMessage.decode(f.slice, inStreamBlock: stream)
    }

    // MARK: Fixtures

    static func relation(xid: UInt32?) -> Fixture {
        Fixture("R").xid(xid).u32(16384).cstring("public").cstring("orders").char("d").u16(3)
            .u8(1).cstring("id").u32(23).i32(-1)
            .u8(0).cstring("note").u32(25).i32(-1)
            .u8(0).cstring("price").u32(1700).i32(655_366)
    }
    static func type(xid: UInt32?) -> Fixture {
        Fixture("Y").xid(xid).u32(90_001).cstring("public").cstring("mood")
    }
    static func insert(xid: UInt32?) -> Fixture {
        Fixture("I").xid(xid).u32(16384).tuple("N", [.text("42"), .null, .toast, .binary([0xDE, 0xAD])])
    }
    static func truncate(xid: UInt32?) -> Fixture {
        Fixture("T").xid(xid).i32(3).u8(3).u32(16384).u32(16390).u32(16400)
    }
    static func message(xid: UInt32?) -> Fixture {
        Fixture("M").xid(xid).u8(1).lsn(lsnA).cstring("siphon").i32(3).raw([1, 0, 2])
    }
    static let updateNeither = Fixture("U").u32(16384).tuple("N", [.text("1"), .toast])
    static let updateKey = Fixture("U").u32(16384).tuple("K", [.text("1"), .null]).tuple("N", [.text("2"), .text("x")])
    static let updateOld = Fixture("U").xid(77).u32(16384).tuple("O", [.text("1"), .text("a")]).tuple("N", [.text("1"), .text("b")])
    static let deleteKey = Fixture("D").u32(16384).tuple("K", [.text("1"), .null])
    static let deleteOld = Fixture("D").xid(77).u32(16384).tuple("O", [.text("1"), .text("a")])

    /// Every valid fixture, with the `inStreamBlock` it must be decoded with.
    static var all: [(name: String, fixture: Fixture, stream: Bool)] {
        [
            ("begin", Fixture("B").lsn(lsnA).i64(time).u32(760), false),
            ("commit", Fixture("C").u8(0).lsn(lsnA).lsn(lsnB).i64(time), false),
            ("origin", Fixture("O").lsn(lsnA).cstring("node_1"), false),
            ("relation", relation(xid: nil), false), ("relation+xid", relation(xid: 77), true),
            ("type", type(xid: nil), false), ("type+xid", type(xid: 77), true),
            ("insert", insert(xid: nil), false), ("insert+xid", insert(xid: 77), true),
            ("update", updateNeither, false), ("update K", updateKey, false), ("update O+xid", updateOld, true),
            ("delete K", deleteKey, false), ("delete O+xid", deleteOld, true),
            ("truncate", truncate(xid: nil), false), ("truncate+xid", truncate(xid: 77), true),
            ("message", message(xid: nil), false), ("message+xid", message(xid: 77), true),
            ("stream start", Fixture("S").u32(77).u8(1), false),
            ("stream stop", Fixture("E"), true),
            ("stream commit", Fixture("c").u32(77).u8(0).lsn(lsnA).lsn(lsnB).i64(time), false),
            ("stream abort", Fixture("A").u32(77).u32(78), false),
        ]
    }

    // MARK: Transaction framing

    func testBeginCommitOrigin() throws {
        XCTAssertEqual(try decode(Self.all[0].fixture),
                       .begin(Begin(finalLSN: LSN(Self.lsnA), commitTime: Self.time, xid: 760)))
        XCTAssertEqual(try decode(Self.all[1].fixture),
                       .commit(Commit(flags: 0, commitLSN: LSN(Self.lsnA), endLSN: LSN(Self.lsnB), commitTime: Self.time)))
        XCTAssertEqual(try decode(Self.all[2].fixture), .origin(Origin(commitLSN: LSN(Self.lsnA), name: "node_1")))
        guard case .begin(let begin) = try decode(Self.all[0].fixture) else { return XCTFail() }
        XCTAssertEqual(begin.finalLSN.description, "16/B374D848")
    }

    /// Events carry their transaction's LSN as `appendText` writes it; it
    /// must read exactly as PostgreSQL prints a pg_lsn (and as `description`).
    func testLSNTextInEventsMatchesPostgres() {
        let cases: [(UInt64, String)] = [
            (0, "0/0"), (1, "0/1"), (0xA, "0/A"), (0x10, "0/10"), (0x1_0000_0000, "1/0"),
            (Self.lsnA, "16/B374D848"), (0x0000_000F_0000_00F0, "F/F0"),
            (UInt64.max, "FFFFFFFF/FFFFFFFF"), (0x8000_0000_0800_0000, "80000000/8000000"),
        ]
        for (raw, text) in cases {
            var json = JSONBuffer(capacity: 32)
            LSN(raw).appendText(to: &json)
            XCTAssertEqual(String(decoding: json.bytes, as: UTF8.self), text)
            XCTAssertEqual(LSN(raw).description, text)
        }
    }

    // MARK: Relation and Type

    func testRelationWithAndWithoutStreamXid() throws {
        let columns = [
            Relation.Column(flags: 1, name: "id", typeOID: 23, typeModifier: -1),
            Relation.Column(flags: 0, name: "note", typeOID: 25, typeModifier: -1),
            Relation.Column(flags: 0, name: "price", typeOID: 1700, typeModifier: 655_366),
        ]
        let expected = Relation(xid: nil, relationID: 16384, namespace: "public", name: "orders",
                                replicaIdentity: UInt8(ascii: "d"), columns: columns)
        XCTAssertEqual(try decode(Self.relation(xid: nil)), .relation(expected))
        var streamed = expected
        streamed.xid = 77
        XCTAssertEqual(try decode(Self.relation(xid: 77), stream: true), .relation(streamed))
        XCTAssertEqual(columns.map(\.isKey), [true, false, false])
    }

    func testTypeWithAndWithoutStreamXid() throws {
        XCTAssertEqual(try decode(Self.type(xid: nil)),
                       .type(TypeMessage(xid: nil, typeOID: 90_001, namespace: "public", name: "mood")))
        XCTAssertEqual(try decode(Self.type(xid: 77), stream: true),
                       .type(TypeMessage(xid: 77, typeOID: 90_001, namespace: "public", name: "mood")))
    }

    // MARK: Row changes

    func testInsertWithNullToastTextAndBinary() throws {
        let tuple = TupleData(columns: [text("42"), .null, .unchangedToast, .binary([0xDE, 0xAD])])
        XCTAssertEqual(try decode(Self.insert(xid: nil)), .insert(Insert(xid: nil, relationID: 16384, newTuple: tuple)))
        XCTAssertEqual(try decode(Self.insert(xid: 77), stream: true),
                       .insert(Insert(xid: 77, relationID: 16384, newTuple: tuple)))
    }

    func testUpdateWithNeitherOldImage() throws {
        XCTAssertEqual(try decode(Self.updateNeither), .update(Update(
            xid: nil, relationID: 16384, oldKey: nil, oldTuple: nil,
            newTuple: TupleData(columns: [text("1"), .unchangedToast]))))
    }

    func testUpdateWithOldKey() throws {
        XCTAssertEqual(try decode(Self.updateKey), .update(Update(
            xid: nil, relationID: 16384, oldKey: TupleData(columns: [text("1"), .null]), oldTuple: nil,
            newTuple: TupleData(columns: [text("2"), text("x")]))))
    }

    func testUpdateWithOldTupleInStreamBlock() throws {
        XCTAssertEqual(try decode(Self.updateOld, stream: true), .update(Update(
            xid: 77, relationID: 16384, oldKey: nil, oldTuple: TupleData(columns: [text("1"), text("a")]),
            newTuple: TupleData(columns: [text("1"), text("b")]))))
    }

    func testUpdateWithoutNewTupleThrows() {
        let f = Fixture("U").u32(16384).tuple("K", [.text("1")]).tuple("O", [.text("1")])
        XCTAssertThrowsError(try decode(f)) { XCTAssertEqual(($0 as? PgOutputDecodingError)?.code, .invalidValue) }
    }

    func testDeleteWithKeyOrOldTuple() throws {
        XCTAssertEqual(try decode(Self.deleteKey), .delete(Delete(
            xid: nil, relationID: 16384, oldKey: TupleData(columns: [text("1"), .null]), oldTuple: nil)))
        XCTAssertEqual(try decode(Self.deleteOld, stream: true), .delete(Delete(
            xid: 77, relationID: 16384, oldKey: nil, oldTuple: TupleData(columns: [text("1"), text("a")]))))
    }

    func testDeleteWithNeitherImageThrows() {
        let f = Fixture("D").u32(16384).tuple("N", [.text("1")])
        XCTAssertThrowsError(try decode(f)) { error in
            let e = error as? PgOutputDecodingError
            XCTAssertEqual(e?.code, .invalidValue)
            XCTAssertEqual(e?.messageKind, UInt8(ascii: "D"))
            XCTAssertEqual(e?.offset, 5)
        }
    }

    func testTruncateWithSeveralRelationsAndOptions() throws {
        XCTAssertEqual(try decode(Self.truncate(xid: nil)),
                       .truncate(Truncate(xid: nil, options: 3, relationIDs: [16384, 16390, 16400])))
        guard case .truncate(let t) = try decode(Self.truncate(xid: 77), stream: true) else { return XCTFail() }
        XCTAssertEqual(t.xid, 77)
        XCTAssertEqual(t.relationIDs, [16384, 16390, 16400])
        XCTAssertTrue(t.cascade && t.restartIdentity)
        for (options, cascade, restart) in [(0, false, false), (1, true, false), (2, false, true)] as [(UInt8, Bool, Bool)] {
            guard case .truncate(let t) = try decode(Fixture("T").i32(1).u8(options).u32(1)) else { return XCTFail() }
            XCTAssertEqual(t.cascade, cascade)
            XCTAssertEqual(t.restartIdentity, restart)
        }
        XCTAssertEqual(try decode(Fixture("T").i32(0).u8(0)), .truncate(Truncate(xid: nil, options: 0, relationIDs: [])))
    }

    func testLogicalMessage() throws {
        let expected = LogicalMessage(xid: nil, flags: 1, lsn: LSN(Self.lsnA), prefix: "siphon", content: [1, 0, 2])
        XCTAssertEqual(try decode(Self.message(xid: nil)), .message(expected))
        XCTAssertTrue(expected.isTransactional)
        guard case .message(let m) = try decode(Self.message(xid: 77), stream: true) else { return XCTFail() }
        XCTAssertEqual(m.xid, 77)
        XCTAssertEqual(Array(m.content), [1, 0, 2])
        guard case .message(let n) = try decode(Fixture("M").u8(0).lsn(1).cstring("").i32(0)) else { return XCTFail() }
        XCTAssertFalse(n.isTransactional)
        XCTAssertTrue(n.content.isEmpty)
    }

    // MARK: Streamed transactions

    func testStreamMessages() throws {
        XCTAssertEqual(try decode(Fixture("S").u32(77).u8(1)), .streamStart(StreamStart(xid: 77, isFirstSegment: true)))
        XCTAssertEqual(try decode(Fixture("S").u32(77).u8(0)), .streamStart(StreamStart(xid: 77, isFirstSegment: false)))
        XCTAssertEqual(try decode(Fixture("E"), stream: true), .streamStop)
        XCTAssertEqual(try decode(Fixture("c").u32(77).u8(0).lsn(Self.lsnA).lsn(Self.lsnB).i64(Self.time)),
                       .streamCommit(StreamCommit(xid: 77, flags: 0, commitLSN: LSN(Self.lsnA),
                                                  endLSN: LSN(Self.lsnB), commitTime: Self.time)))
        XCTAssertEqual(try decode(Fixture("A").u32(77).u32(78)), .streamAbort(StreamAbort(xid: 77, subtransactionXid: 78)))
        guard case .streamAbort(let whole) = try decode(Fixture("A").u32(77).u32(77)) else { return XCTFail() }
        XCTAssertTrue(whole.abortsTopLevel)
    }

    // MARK: Malformed input

    func testEveryPrefixOfEveryFixtureThrowsTruncated() throws {
        for (name, fixture, stream) in Self.all {
            XCTAssertNoThrow(try PgOutputMessage.decode(fixture.slice, inStreamBlock: stream), name)
            for length in 0..<fixture.bytes.count {
                XCTAssertThrowsError(try PgOutputMessage.decode(fixture.bytes[..<length], inStreamBlock: stream),
                                     "\(name) prefix \(length)") { error in
                    XCTAssertEqual((error as? PgOutputDecodingError)?.code, .truncated, "\(name) prefix \(length)")
                }
            }
        }
    }

    func testTrailingBytesThrow() {
        for (name, fixture, stream) in Self.all {
            XCTAssertThrowsError(try PgOutputMessage.decode(fixture.u8(0).slice, inStreamBlock: stream), name) { error in
                let e = error as? PgOutputDecodingError
                XCTAssertEqual(e?.code, .trailingBytes, name)
                XCTAssertEqual(e?.offset, fixture.bytes.count, name)
                XCTAssertEqual(e?.messageKind, fixture.bytes[0], name)
            }
        }
    }

    func testSlicesWithNonZeroStartIndexDecode() throws {
        let padded = [0xFF, 0xFF] + Self.insert(xid: nil).bytes + [0xFF]
        let message = try PgOutputMessage.decode(padded[2..<(padded.count - 1)], inStreamBlock: false)
        XCTAssertEqual(message, try decode(Self.insert(xid: nil)))
    }

    func testUnknownAndInvalidValuesThrow() {
        func code(_ f: Fixture, stream: Bool = false) -> PgOutputDecodingError.Code? {
            do { _ = try decode(f, stream: stream); return nil } catch { return (error as? PgOutputDecodingError)?.code }
        }
        XCTAssertEqual(code(Fixture("Z")), .unknownMessage)
        XCTAssertEqual(code(Fixture("b").lsn(1)), .unknownMessage)  // protocol v3 Begin Prepare
        XCTAssertEqual(code(Fixture("I").u32(1).char("N").u16(1).char("x")), .invalidValue)  // bad value kind
        XCTAssertEqual(code(Fixture("I").u32(1).char("K").u16(0)), .invalidValue)  // insert needs 'N'
        XCTAssertEqual(code(Fixture("I").u32(1).char("N").u16(1).char("t").i32(-1)), .invalidValue)
        XCTAssertEqual(code(Fixture("M").u8(0).lsn(1).cstring("p").i32(Int32.min)), .invalidValue)
        XCTAssertEqual(code(Fixture("T").i32(-5).u8(0)), .invalidValue)
        XCTAssertEqual(code(Fixture("T").i32(Int32.max).u8(0).u32(1)), .truncated)  // huge count, no huge allocation
        XCTAssertEqual(code(Fixture("I").u32(1).char("N").u16(UInt16.max).char("n")), .truncated)
        XCTAssertEqual(code(Fixture("O").lsn(1).raw([0x61, 0x62])), .truncated)  // unterminated name
    }

    func testGarbageNeverTraps() {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 33
        }
        let seeds = Self.all.map(\.fixture.bytes)
        for round in 0..<4000 {
            var bytes = seeds[round % seeds.count]
            for _ in 0..<(1 + Int(next() % 3)) where !bytes.isEmpty {
                bytes[Int(next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: next())
            }
            if round % 5 == 0 { bytes = (0..<Int(next() % 40)).map { _ in UInt8(truncatingIfNeeded: next()) } }
            for stream in [false, true] {
                do { _ = try PgOutputMessage.decode(bytes[...], inStreamBlock: stream) } catch {
                    XCTAssertTrue(error is PgOutputDecodingError)
                }
            }
        }
    }

    func testInvalidUTF8IsRepairedNotRejected() throws {
        guard case .origin(let o) = try decode(Fixture("O").lsn(1).raw([0x61, 0xFF, 0x62, 0])) else { return XCTFail() }
        XCTAssertEqual(o.name, "a\u{FFFD}b")
    }

    func testErrorDescriptionIsReadable() {
        XCTAssertThrowsError(try decode(Fixture("I").u32(1).char("N").u16(1).char("t").i32(10).raw([1, 2]))) { error in
            XCTAssertEqual("\(error)", "pgoutput decoding error (truncated) in 'I' message at offset 13: needed 10 bytes, 2 left")
        }
    }

    // MARK: Copies

    func testThousandColumnTupleSharesPayloadStorage() throws {
        let values = (0..<1000).map { FixtureValue.text("value-\($0)") }
        let data = Fixture("I").u32(16384).tuple("N", values).slice
        guard case .insert(let insert) = try PgOutputMessage.decode(data, inStreamBlock: false) else { return XCTFail() }
        XCTAssertEqual(insert.newTuple.columns.count, 1000)
        data.withUnsafeBufferPointer { payload in
            var offset = 1 + 4 + 1 + 2
            for (i, value) in insert.newTuple.columns.enumerated() {
                guard case .text(let bytes) = value else { return XCTFail("column \(i)") }
                offset += 1 + 4
                XCTAssertEqual(String(decoding: bytes, as: UTF8.self), "value-\(i)")
                bytes.withUnsafeBufferPointer { XCTAssertEqual($0.baseAddress, payload.baseAddress! + offset, "column \(i)") }
                offset += bytes.count
            }
            XCTAssertEqual(offset, payload.count)
        }
    }
}
