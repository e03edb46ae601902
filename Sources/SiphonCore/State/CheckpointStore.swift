import Foundation

/// The last position whose events the sink has made durable.
public struct Checkpoint: Sendable, Equatable {
    public var position: Position
    public var updatedMillis: Int64

    public init(position: Position, updatedMillis: Int64) {
        self.position = position
        self.updatedMillis = updatedMillis
    }
}

/// Reads and writes `offsets.json` in a state folder.
public struct CheckpointStore: Sendable {
    public static let fileName = "offsets.json"
    public let directory: StateDirectory
    public let pipeline: String

    public init(directory: StateDirectory, pipeline: String) {
        self.directory = directory
        self.pipeline = pipeline
    }

    public func load() throws -> Checkpoint? {
        guard let bytes = try directory.read(Self.fileName) else { return nil }
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
              let text = object["position"] as? String, let position = Position(text)
        else {
            throw SiphonError(.state, "\(directory.url(Self.fileName)) is damaged; restore it from a backup or delete it to start over (events may then repeat)")
        }
        let updated = (object["updated_ms"] as? NSNumber)?.int64Value ?? 0
        return Checkpoint(position: position, updatedMillis: updated)
    }

    public func save(_ position: Position) throws {
        var json = JSONBuffer(capacity: 128)
        json.appendRaw("{\"pipeline\":")
        json.appendString(pipeline)
        json.appendRaw(",\"position\":\"")
        position.withHexDigits { json.appendRaw($0) }
        json.appendRaw("\",\"updated_ms\":")
        json.appendInt(Clock.unixMillis())
        json.appendRaw("}\n")
        try directory.write(Self.fileName, json.bytes)
    }
}

public enum Clock {
    /// Wall-clock time in milliseconds since 1970.
    public static func unixMillis() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }
}
