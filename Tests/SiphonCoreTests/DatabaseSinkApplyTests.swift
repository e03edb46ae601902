import SiphonCore
import SiphonTesting
import XCTest

/// What database sinks share, without a database: JSON values kept as
/// their exact text, collapsing per key, and which source transactions go
/// into which target transaction (against a target that records its calls).
final class DatabaseSinkApplyTests: XCTestCase {
    // MARK: JSONMembers

    func testMembersKeepExactValueTextAndDecodeNames() throws {
        let text = #"{"a\"b":1.50000000000000000001,"名前":"x\ny","n":null,"arr":[1,{"k":"]"}],"e":"\ud83d\ude00"}"#
        let bytes = ArraySlice(Array(text.utf8))
        let members = try JSONMembers.parse(bytes)
        XCTAssertEqual(members.map(\.name), ["a\"b", "名前", "n", "arr", "e"])
        XCTAssertEqual(members.map { String(decoding: bytes[$0.value], as: UTF8.self) },
                       ["1.50000000000000000001", #""x\ny""#, "null", #"[1,{"k":"]"}]"#, #""\ud83d\ude00""#])
        XCTAssertEqual(try JSONMembers.decodeString(bytes[members[1].value]), "x\ny")
        XCTAssertEqual(try JSONMembers.decodeString(bytes[members[4].value]), "😀")
        XCTAssertThrowsError(try JSONMembers.parse(ArraySlice(Array(#"{"a":1"#.utf8))))
    }

    // MARK: RowChange

    func testRowsOfATableShareOneColumnListUntilTheirColumnsChange() throws {
        var batch = EventBatch()
        TestEvents.append(to: &batch, position: Position(high: 1, low: 1), key: 1, note: "a \"quoted\" n\u{F6}te")
        TestEvents.append(to: &batch, position: Position(high: 1, low: 2), key: 2, note: "b")
        TestEvents.append(to: &batch, position: Position(high: 1, low: 3), key: 3)
        TestEvents.append(to: &batch, position: Position(high: 1, low: 4), key: 4, table: TableName(schema: "s", name: "u"), note: "c")
        let lists = ColumnLists()
        let rows = try batch.events.indices.map { try RowChange.parse(batch, $0, columns: lists) }
        XCTAssertTrue(rows[0].values!.columns === rows[1].values!.columns)
        XCTAssertEqual(rows[0].values?.dictionary, ["id": "1", "note": #""a \"quoted\" n\#u{F6}te""#])
        XCTAssertEqual(rows[1].values?.dictionary, ["id": "2", "note": #""b""#])
        XCTAssertEqual(rows[2].values?.columns.names, ["id"])
        XCTAssertEqual(rows[3].values?.columns.names, ["id", "note"])
        XCTAssertFalse(rows[3].values!.columns === rows[0].values!.columns, "lists are per table")
        XCTAssertEqual(try rows[2].key().dictionary, ["id": "3"])
        XCTAssertEqual(rows[2].keyText, #"{"id":3}"#)
    }

    /// A database sink reads `key` and `after` where the source recorded
    /// them: the ranges must follow the events when batches are split,
    /// joined, or an event is edited in place.
    func testRecordedRangesFollowEventsWhenBatchesAreSplitJoinedAndEdited() throws {
        var batch = EventBatch()
        for key in 1...3 { TestEvents.append(to: &batch, position: Position(high: 1, low: UInt64(key)), key: key, note: "n\(key)") }
        func rows(_ batch: EventBatch) throws -> [[String: String]] {
            try batch.events.indices.map { try RowChange.parse(batch, $0).values!.dictionary }
        }
        let expected = (1...3).map { ["id": "\($0)", "note": "\"n\($0)\""] }
        let tail = batch.suffix(after: Position(high: 1, low: 1))
        XCTAssertEqual(try rows(tail), Array(expected[1...]))
        var joined = EventBatch()
        TestEvents.append(to: &joined, position: Position(high: 0, low: 1), key: 9, note: "a longer note than the others")
        joined.append(tail)
        XCTAssertEqual(try rows(joined).dropFirst().map { $0 }, Array(expected[1...]))
        var split = batch
        let last = split.removeLastEvent()
        XCTAssertEqual(try rows(last), [expected[2]])
        XCTAssertEqual(try rows(split), Array(expected[..<2]))
        // An edit before `after` (the event's id) moves it; the row still reads the same.
        let line = split.events[1].line
        let id = Array(split.data[line]).firstRange(of: Array("\"id\":\"".utf8))!
        split.replaceInLastEvent((line.lowerBound + id.upperBound)..<(line.lowerBound + id.upperBound + 2), with: Array("longer-than-two".utf8))
        XCTAssertEqual(try rows(split), Array(expected[..<2]))
    }

    // MARK: ChangeSet

    private func change(_ kind: RowChange.Kind, _ key: Int, _ values: [String: String] = [:], table: String = "t") -> RowChange {
        RowChange(kind: kind, table: TableName(schema: "s", name: table), keyText: "{\"id\":\(key)}",
                  values: values.merging(["id": "\(key)"]) { a, _ in a })
    }

    func testCollapsingKeepsTheLastStateAndWhatLaterChangesDoNotCarry() {
        var set = ChangeSet()
        set.add(change(.upsert, 1, ["v": "1", "big": "\"x\""]))
        set.add(change(.upsert, 1, ["v": "2"]))  // `big` unchanged (TOAST): kept from the insert
        set.add(change(.upsert, 2, ["v": "1"]))
        set.add(change(.delete, 2))
        set.add(change(.delete, 3))
        set.add(change(.upsert, 3, ["v": "3"]))  // deleted then written: delete first, nothing of the old row survives
        set.add(change(.upsert, 1, ["v": "9"], table: "u"))
        XCTAssertEqual(set.eventCount, 7)
        XCTAssertEqual(set.tables.map(\.name.name), ["t", "u"])
        let rows = set.tables[0].rows
        XCTAssertEqual(rows.count, 3)
        XCTAssertEqual(rows[0].values?.dictionary, ["id": "1", "v": "2", "big": "\"x\""])
        XCTAssertFalse(rows[0].deleteFirst)
        XCTAssertNil(rows[1].values)
        XCTAssertEqual(rows[2].values?.dictionary, ["id": "3", "v": "3"])
        XCTAssertTrue(rows[2].deleteFirst)
    }

    func testAppendingALaterSetIsLikeAddingItsChangesInOrder() {
        var first = ChangeSet()
        first.add(change(.upsert, 1, ["v": "1", "w": "1"]))
        var later = ChangeSet()
        later.add(change(.delete, 1))
        later.add(change(.upsert, 1, ["v": "2"]))
        later.add(change(.upsert, 2, ["v": "2"]))
        first.append(later)
        XCTAssertEqual(first.eventCount, 4)
        XCTAssertEqual(first.tables[0].rows.map(\.values?.dictionary), [["id": "1", "v": "2"], ["id": "2", "v": "2"]])
        XCTAssertEqual(first.tables[0].rows.map(\.deleteFirst), [true, false])
    }

    // MARK: TransactionApplier

    /// Records what the applier asks of its target.
    final class RecordingTarget: ApplyTarget, @unchecked Sendable {
        var calls: [String] = []
        var stored: Position?
        func open() async throws -> Position? { calls.append("open"); return stored }
        func begin() async throws { calls.append("begin") }
        func apply(_ changes: ChangeSet) async throws { calls.append("apply \(changes.eventCount)") }
        func applySchema(_ change: SchemaChange) async throws { calls.append("schema") }
        func truncate(_ table: TableName) async throws { calls.append("truncate") }
        func commit(through position: Position) async throws { calls.append("commit \(position.high).\(position.low)"); stored = position }
        func rollback() async { calls.append("rollback") }
        func close() async { calls.append("close") }
    }

    /// Transactions of `sizes` events, from `first`, as one batch.
    private func batch(_ sizes: [Int], first: UInt64 = 1) -> EventBatch {
        var batch = EventBatch()
        for (index, size) in sizes.enumerated() {
            for event in 0..<size {
                TestEvents.append(to: &batch, position: Position(high: first + UInt64(index), low: UInt64(event)), key: event,
                                  endsTransaction: event == size - 1)
            }
        }
        return batch
    }

    func testWholeTransactionsAreCommittedTogetherAtFlushWithTheirLastPosition() async throws {
        let target = RecordingTarget()
        let applier = TransactionApplier(target: target, maxEvents: 100, maxDelay: .seconds(60))
        let opened = try await applier.open()
        XCTAssertEqual(opened, .tracked(last: nil))
        try await applier.write(batch([2, 3]))
        XCTAssertEqual(target.calls, ["open"], "nothing is written before the flush or a limit")
        let flushed = try await applier.flush()
        XCTAssertEqual(flushed, Position(high: 2, low: 2))
        XCTAssertEqual(target.calls, ["open", "begin", "apply 5", "commit 2.2"])
        let again = try await applier.flush()
        XCTAssertEqual(again, Position(high: 2, low: 2))
        XCTAssertEqual(target.calls.count, 4, "a flush with nothing new does nothing")
    }

    func testATransactionLargerThanTheLimitGoesInChunksAndCommitsOnlyAtItsEnd() async throws {
        let target = RecordingTarget()
        let applier = TransactionApplier(target: target, maxEvents: 4, maxDelay: .seconds(60))
        _ = try await applier.open()
        try await applier.write(batch([2]))
        // Ten events of one transaction, handed over in two batches; a flush between them.
        var large = batch([10], first: 2)
        let rest = large.suffix(after: Position(high: 2, low: 5))
        large = EventBatch()
        for event in 0..<6 { TestEvents.append(to: &large, position: Position(high: 2, low: UInt64(event)), key: event) }
        try await applier.write(large)
        let midway = try await applier.flush()
        XCTAssertNil(midway, "a flush in the middle of a transaction commits nothing of it")
        try await applier.write(rest)
        XCTAssertEqual(target.calls, ["open", "begin", "apply 2", "apply 4", "apply 4", "apply 2", "commit 2.9"])
        let end = try await applier.flush()
        XCTAssertEqual(end, Position(high: 2, low: 9))
    }

    func testClosingAbandonsWhatIsNotCommitted() async throws {
        let target = RecordingTarget()
        let applier = TransactionApplier(target: target, maxEvents: 3, maxDelay: .seconds(60))
        _ = try await applier.open()
        var partial = EventBatch()
        for event in 0..<5 { TestEvents.append(to: &partial, position: Position(high: 1, low: UInt64(event)), key: event) }
        try await applier.write(partial)
        await applier.close()
        XCTAssertEqual(target.calls, ["open", "begin", "apply 3", "rollback", "close"])
        XCTAssertNil(target.stored)
        let reopened = try await applier.open()
        XCTAssertEqual(reopened, .tracked(last: nil))
    }
}
