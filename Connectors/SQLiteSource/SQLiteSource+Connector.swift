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
        SQLiteSource(configuration: configuration, pipeline: context.pipeline, state: context.state, logger: context.logger)
    }

    public static func describe(_ position: Position) -> String {
        SQLitePosition.describe(position)
    }

    /// Removes Siphon's triggers and tables from the database (as `siphon
    /// sqlite uninstall` does): the next start installs them again and
    /// takes a new snapshot.
    public static func resetToBeginning(_ configuration: SQLiteSourceConfiguration, context: ConnectorContext) async throws -> [String] {
        let triggers = try uninstall(configuration: configuration, pipeline: context.pipeline)
        return ["removed \(triggers) triggers and Siphon's tables from \(configuration.path)"]
    }
}
