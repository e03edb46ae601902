import Foundation
import Logging
import PostgresSink
import SiphonCore
import SiphonTestSupport
import XCTest

/// A snapshot taken again (after a crash in the middle of the first, the
/// sources start over from the first row) replaces each table's rows: a row
/// deleted at the source in between does not survive in the target.
final class PostgresSnapshotTests: XCTestCase {
    /// Snapshot rows of `s.t` for `keys`, the first marked as the table's first.
    private func snapshot(_ keys: [Int], high: UInt64) -> EventBatch {
        var batch = EventBatch()
        let envelope = EventEnvelope(options: EventOptions(), connector: "test", pipeline: "snap")
        for (index, key) in keys.enumerated() {
            let marker = index == 0 ? "first_in_data_collection" : (index == keys.count - 1 ? "last_in_data_collection" : "true")
            batch.appendRowEvent(position: Position(high: high, low: UInt64(index + 1)), op: .read, table: TableName(schema: "s", name: "t"),
                                 envelope: envelope,
                                 source: { json in json.appendRaw("{\"name\":\"snap\",\"snapshot\":\"\(marker)\"}".utf8) },
                                 transaction: nil, timestampMicros: 0, schemaVersion: 1,
                                 facts: { CloudEventFacts(sourceMillis: 0, snapshot: .none, database: "test") }) { image, json in
                switch image {
                case .before: return false
                case .after: json.appendRaw("{\"id\":\(key)}".utf8)
                case .key: json.appendRaw("{\"id\":\(key)}".utf8)
                }
                return true
            }
            batch.markTransactionEnd()
        }
        return batch
    }

    func testASnapshotTakenAgainReplacesTheTablesRows() async throws {
        let server = try PostgresServer.start()
        try server.createDatabase("app")
        try server.psql("CREATE SCHEMA s; CREATE TABLE s.t (id bigint PRIMARY KEY)", database: "app")
        let sink = PostgresSink(configuration: PostgresSinkConfiguration(url: server.conninfo(database: "app")), pipeline: "snap",
                                logger: Logger(label: "snap"))
        _ = try await sink.open()
        try await sink.write(snapshot([1, 2, 3], high: 1))
        _ = try await sink.flush()
        XCTAssertEqual(try server.psql("SELECT string_agg(id::text, ',' ORDER BY id) FROM s.t", database: "app"), "1,2,3")
        // Row 2 deleted at the source, and the snapshot taken again (new positions).
        try await sink.write(snapshot([1, 3], high: 2))
        let flushed = try await sink.flush()
        XCTAssertEqual(flushed, Position(high: 2, low: 2))
        XCTAssertEqual(try server.psql("SELECT string_agg(id::text, ',' ORDER BY id) FROM s.t", database: "app"), "1,3")
        try await sink.close()
    }
}
