import Foundation
import SiphonCore

/// Tables waiting for a snapshot, kept in `sqlite-snapshot.json` in the
/// state folder until the sink holds every row read, so a snapshot
/// interrupted by a crash is taken again (at-least-once for `op: "r"`
/// events, exactly-once when the tables did not change in between, since
/// the positions are then the same).
///
/// A snapshot read to the end is saved as in flight, with the position of
/// its last event: after a restart (a crash, or the pipeline restarting
/// after a sink failure) the position the pipeline resumes after tells
/// whether the sink holds all of it. Only a snapshot the sink does not hold
/// entirely is taken again.
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
        var plan = SnapshotPlan(pending: Set(pending))
        if let inFlight = object["in_flight"] as? [String: Any], let tables = inFlight["tables"] as? [String],
           let last = (inFlight["last"] as? String).flatMap({ Position($0) }) {
            plan.inFlight = InFlight(tables: tables, last: last)
        }
        return plan
    }

    /// After a restart: a snapshot in flight is done if the sink holds its
    /// last event (the pipeline resumes at or after it), else it is taken
    /// again. True when the plan changed.
    mutating func settle(resumingAfter resume: Position?) -> Bool {
        guard let inFlight else { return false }
        if inFlight.last.low == 0 || (resume.map { $0 >= inFlight.last } ?? false) {
            pending.subtract(inFlight.tables)
        }
        self.inFlight = nil
        return true
    }

    func save(_ directory: StateDirectory) throws {
        var json = JSONBuffer(capacity: 64)
        json.appendRaw("{\"pending\":")
        SchemaDiff.writeNames(pending.sorted(), &json)
        if let inFlight {
            json.appendRaw(",\"in_flight\":{\"tables\":")
            SchemaDiff.writeNames(inFlight.tables, &json)
            json.appendRaw(",\"last\":")
            json.appendString(inFlight.last.description)
            json.appendByte(UInt8(ascii: "}"))
        }
        json.appendRaw("}\n")
        try directory.write(Self.fileName, json.bytes)
    }
}
