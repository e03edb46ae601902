import Foundation
import Synchronization

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
public final class CheckpointStore: Sendable {
    public static let fileName = "offsets.json"
    public let directory: StateDirectory
    public let pipeline: String

    /// Whether `reset.json` may be there (cleared once a save removed it),
    /// so that a save does not try to unlink it every time.
    private let resetMarkerMayExist = Mutex(true)

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

    /// Saves the checkpoint durably; the reset marker, if there was one, is
    /// done with once a checkpoint exists.
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
        if resetMarkerMayExist.withLock({ $0 }) {
            directory.remove(ResetMarker.fileName)
            resetMarkerMayExist.withLock { $0 = false }
        }
    }

    /// The marker `siphon offsets reset` left, if any.
    public func loadResetMarker() throws -> ResetMarker? {
        guard let bytes = try directory.read(ResetMarker.fileName) else { return nil }
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
            throw SiphonError(.state, "\(directory.url(ResetMarker.fileName)) is damaged; run `siphon offsets reset` again")
        }
        return ResetMarker(sinkPosition: (object["sink_position"] as? String).flatMap { Position($0) })
    }

    /// Removes the checkpoint and records that the pipeline starts over
    /// after what its sink holds now (`sinkPosition`, nil for a sink that
    /// holds nothing or does not track positions).
    public func reset(sinkPosition: Position?) throws {
        var json = JSONBuffer(capacity: 128)
        json.appendRaw("{\"pipeline\":")
        json.appendString(pipeline)
        json.appendRaw(",\"sink_position\":")
        if let sinkPosition { json.appendString(sinkPosition.description) } else { json.appendNull() }
        json.appendRaw(",\"reset_ms\":")
        json.appendInt(Clock.unixMillis())
        json.appendRaw("}\n")
        try directory.write(ResetMarker.fileName, json.bytes)
        resetMarkerMayExist.withLock { $0 = true }
        directory.remove(Self.fileName)
        try directory.syncDirectory()
    }
}

/// Left by `siphon offsets reset`: the pipeline starts from the beginning
/// while its sink still holds exactly what it held at the reset.
public struct ResetMarker: Sendable, Equatable {
    public static let fileName = "reset.json"
    public var sinkPosition: Position?

    public init(sinkPosition: Position?) {
        self.sinkPosition = sinkPosition
    }
}

public enum Clock {
    /// Wall-clock time in microseconds since 1970.
    public static func unixMicros() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1_000_000 + Int64(spec.tv_nsec) / 1000
    }

    /// Wall-clock time in milliseconds since 1970.
    public static func unixMillis() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }
}
