import Foundation
import XCTest
@testable import SiphonCore

/// `EventBatch.changeSnapshotMarkerOfLastEvent`: a snapshot row's marker
/// changed after it was written, in both envelopes, with the event's line
/// and key moved along and the events before it untouched.
final class SnapshotMarkerTests: XCTestCase {
    /// Appends a snapshot row whose `after` has a column named like the
    /// markers' members, holding marker text; returns where `source.snapshot` is.
    private func appendRow(_ batch: inout EventBatch, envelope: EventEnvelope, low: UInt64, marker: SnapshotMarker) -> Range<Int> {
        var range = 0..<0
        batch.appendRowEvent(
            position: Position(high: 1, low: low), op: .read, table: TableName(schema: "main", name: "t"), envelope: envelope,
            source: { json in
                json.appendRaw("{\"snapshot\":\"")
                let start = json.count
                json.appendRaw(marker.rawValue.utf8)
                range = start..<json.count
                json.appendRaw("\"}")
            },
            transaction: nil, timestampMicros: 1_000_000, schemaVersion: 1,
            facts: { CloudEventFacts(sourceMillis: 1000, snapshot: marker, database: "db") }
        ) { image, json in
            switch image {
            case .before: return false
            case .after: json.appendRaw(#"{"id":\#(low),"snapshot":"true","iodebeziumsnapshot":"true"}"#.utf8)
            case .key: json.appendRaw(#"{"id":\#(low)}"#.utf8)
            }
            return true
        }
        batch.markTransactionEnd()
        return range
    }

    private func objects(_ batch: EventBatch) throws -> [[String: Any]] {
        try (0..<batch.count).map { try XCTUnwrap(JSONSerialization.jsonObject(with: Data(batch.line($0))) as? [String: Any]) }
    }

    func testTheLastEventsMarkerChangesInBothEnvelopes() throws {
        for format in EventOptions.Envelope.allCases {
            let envelope = EventEnvelope(options: EventOptions(envelope: format), connector: "sqlite", pipeline: "p")
            var batch = EventBatch()
            _ = appendRow(&batch, envelope: envelope, low: 1, marker: .first)
            let firstLine = batch.line(0)
            var range = appendRow(&batch, envelope: envelope, low: 2, marker: .firstInTable)
            range = batch.changeSnapshotMarkerOfLastEvent(to: .lastInTable, sourceMarker: range)
            XCTAssertEqual(String(decoding: batch.buffer.bytes[range], as: UTF8.self), "last_in_data_collection")
            range = batch.changeSnapshotMarkerOfLastEvent(to: .last, sourceMarker: range)
            XCTAssertEqual(String(decoding: batch.buffer.bytes[range], as: UTF8.self), "last")

            XCTAssertEqual(batch.line(0), firstLine, "\(format): the events before are untouched")
            XCTAssertTrue(batch.events[1].endsTransaction)
            let events = try objects(batch)
            let data = format == .cloudevents ? events.map { $0["data"] as? [String: Any] ?? [:] } : events
            XCTAssertEqual(data.map { $0[path: "source.snapshot"] as? String }, ["first", "last"], "\(format)")
            XCTAssertEqual(data[1][path: "after.snapshot"] as? String, "true", "\(format): a column of that name is data")
            XCTAssertEqual(data[1][path: "after.iodebeziumsnapshot"] as? String, "true", "\(format)")
            if format == .cloudevents {
                XCTAssertEqual(events.map { $0["iodebeziumsnapshot"] as? String }, ["first", "last"])
                XCTAssertEqual(events[1]["partitionkey"] as? String, #"{"id":2}"#)
            }
            let key = try XCTUnwrap(batch.events[1].key)
            XCTAssertEqual(String(decoding: batch.buffer.bytes[key], as: UTF8.self), #"{"id":2}"#, "\(format): the key moved along")
            XCTAssertEqual(batch.data.last, UInt8(ascii: "\n"))
            XCTAssertEqual(batch.events[1].line.upperBound, batch.byteCount - 1)
        }
    }
}

private extension Dictionary where Key == String, Value == Any {
    subscript(path path: String) -> Any? {
        var current: Any? = self
        for part in path.split(separator: ".") {
            current = (current as? [String: Any])?[String(part)]
        }
        return current
    }
}
