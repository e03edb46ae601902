import Foundation
import SiphonCore

/// Tables waiting for a snapshot, kept in `sqlite-snapshot.json` in the
/// state folder until the sink holds every row read, so a snapshot
/// interrupted by a crash is taken again (at-least-once for `op: "r"`
/// events, exactly-once when the tables did not change in between, since
/// the positions are then the same).
struct SnapshotPlan {
    static let fileName = "sqlite-snapshot.json"

    struct InFlight {
        var tables: [String]
        /// The position of the last event read (low 0: no rows).
        var last: Position
    }

    var pending: Set<String> = []
    var inFlight: InFlight?

    static func load(_ directory: StateDirectory) throws -> SnapshotPlan {
        guard let bytes = try directory.read(fileName) else { return SnapshotPlan() }
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
              let pending = object["pending"] as? [String] else {
            throw SiphonError(.state, "\(directory.url(fileName)) is damaged; delete it (tables waiting for a snapshot will then not be read)")
        }
        return SnapshotPlan(pending: Set(pending))
    }

    func save(_ directory: StateDirectory) throws {
        var json = JSONBuffer(capacity: 64)
        json.appendRaw("{\"pending\":")
        SchemaDiff.writeNames(pending.sorted(), &json)
        json.appendRaw("}\n")
        try directory.write(Self.fileName, json.bytes)
    }
}
