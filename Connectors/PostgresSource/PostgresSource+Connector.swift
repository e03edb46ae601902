import Foundation
import SiphonCore

/// `source: {type: postgres, ...}`.
extension PostgresSource: SourceConnector {
    public static let type = "postgres"
    public static let aliases = ["postgresql"]

    public static func configuration(reading reader: ConfigReader) -> PostgresSourceConfiguration? {
        PostgresSourceConfiguration(reading: reader)
    }

    public static func makeSource(_ configuration: PostgresSourceConfiguration, context: ConnectorContext) -> any Source {
        PostgresSource(configuration: configuration, pipeline: context.pipeline, state: context.state, logger: context.logger,
                       events: context.events, historyInDatabase: context.lease != nil)
    }

    /// An advisory lock in the source database (`PostgresLease`).
    public static func makeLease(_ configuration: PostgresSourceConfiguration, context: ConnectorContext) -> (any Lease)? {
        guard let target = try? ConnectionTarget(configuration.url) else { return nil }
        return PostgresLease(target: target, slot: configuration.slot, logger: context.logger)
    }

    public static func describe(_ position: Position) -> String {
        PostgresPosition.describe(position)
    }

    /// The schema history lives apart from the position: in the state
    /// folder, or with `lease:` in the source database.
    public var resumeStateMissing: Bool { !historyStore.exists }

    /// Drops the slot, so that the next start creates it again with a new
    /// initial snapshot (or, with `snapshot: never`, streams from then on).
    /// The publication is left alone: it may be the user's.
    public static func resetToBeginning(_ configuration: PostgresSourceConfiguration, context: ConnectorContext) async throws -> [String] {
        let target: ConnectionTarget
        do {
            target = try ConnectionTarget(configuration.url)
        } catch {
            throw SiphonError(.configuration, "source.url: \(error.text)")
        }
        do {
            let connection = try await PostgresConnection.connect(target, replication: false)
            defer { connection.close() }
            let catalog = Catalog(connection: connection, logger: context.logger)
            guard let slot = try await catalog.slot(configuration.slot) else {
                return ["replication slot \(configuration.slot) does not exist; nothing to drop"]
            }
            if slot.active {
                throw SiphonError(.sourceSetup, "replication slot \(configuration.slot) is in use by another connection (a running siphon?); stop it first")
            }
            try await connection.query("SELECT pg_drop_replication_slot($1)", parameters: [configuration.slot])
            return ["dropped replication slot \(configuration.slot) on \(target.display)"]
        } catch {
            throw classify(error)
        }
    }
}
