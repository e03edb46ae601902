import SiphonCore

/// `source: {type: sqlite, ...}`.
extension SQLiteSource: SourceConnector {
    public static let type = "sqlite"

    public static func configuration(reading reader: ConfigReader) -> SQLiteSourceConfiguration? {
        SQLiteSourceConfiguration(reading: reader)
    }

    /// The database file exists, is SQLite, can be written and is in WAL
    /// mode (or may be switched): read from its header, nothing opened.
    public static func staticProblems(in configuration: SQLiteSourceConfiguration) -> [ConnectorProblem] {
        configuration.staticProblems().map { ConnectorProblem(key: $0.key, $0.message) }
    }

    public static func makeSource(_ configuration: SQLiteSourceConfiguration, context: ConnectorContext) -> any Source {
        SQLiteSource(configuration: configuration, pipeline: context.pipeline, events: context.events, state: context.state,
                     logger: context.logger)
    }

    /// A lock file next to the database (`SQLiteFileLease`). Schema versions
    /// are in the database already (`_siphon_schema`), where a standby finds them.
    public static func makeLease(_ configuration: SQLiteSourceConfiguration, context: ConnectorContext) -> (any Lease)? {
        SQLiteFileLease(database: configuration.path, pipeline: context.pipeline)
    }

    public static func describe(_ position: Position) -> String {
        SQLitePosition.describe(position)
    }

    /// Removes Siphon's triggers and schema registry from the database and
    /// empties its changelog: the next start installs them again and takes
    /// a new snapshot, at positions after every event given out before.
    public static func resetToBeginning(_ configuration: SQLiteSourceConfiguration, context: ConnectorContext) async throws -> [String] {
        let triggers = try resetKeepingPositions(configuration: configuration, pipeline: context.pipeline)
        return ["removed \(triggers) triggers, the schema registry and the changelog's rows from \(configuration.path)"]
    }
}
