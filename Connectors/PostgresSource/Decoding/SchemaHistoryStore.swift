import Foundation
import SiphonCore

/// Where `SchemaHistory` keeps its document (the `schemas.json` format):
/// the state folder, or, with `lease:`, the source database, where a
/// standby taking over finds it.
protocol SchemaHistoryStore: Sendable {
    /// The document as last written; nil when there is none.
    func read() throws -> [UInt8]?
    /// Replaces the document, durably, before returning.
    func write(_ bytes: [UInt8]) throws
    /// Whether a document is there; true when that cannot be told now (the
    /// database unreachable), so that the pipeline does not refuse to start
    /// on a guess: its session then fails to connect and retries.
    var exists: Bool { get }
    /// Where it is, for messages (`/state/schemas.json`).
    var location: String { get }
    /// What to do when the document is damaged.
    var damagedAdvice: String { get }
}

/// `schemas.json` in the state folder.
struct StateFolderSchemaHistory: SchemaHistoryStore {
    static let fileName = "schemas.json"
    let directory: StateDirectory

    func read() throws -> [UInt8]? { try directory.read(Self.fileName) }
    func write(_ bytes: [UInt8]) throws { try directory.write(Self.fileName, bytes) }
    var exists: Bool { FileManager.default.fileExists(atPath: directory.url(Self.fileName)) }
    var location: String { directory.url(Self.fileName) }
    var damagedAdvice: String { "delete it to rebuild schema versions from 1" }
}
