/// Maps `type:` values to connectors: the one list the executable keeps
/// (`ConnectorRegistry.standard` there). Adding a connector is a line in
/// that list.
public struct ConnectorRegistry: Sendable {
    private let sources: [String: @Sendable (ConfigReader) -> PreparedSource?]
    private let sinks: [String: @Sendable (ConfigReader) -> PreparedSink?]
    /// The `type:` values, for "available: ..." messages.
    public let sourceTypes: [String]
    public let sinkTypes: [String]

    public init(sources: [any SourceConnector.Type], sinks: [any SinkConnector.Type]) {
        var sourceReaders: [String: @Sendable (ConfigReader) -> PreparedSource?] = [:]
        for connector in sources {
            let read = Self.reader(for: connector)
            for name in [connector.type] + connector.aliases { sourceReaders[name] = read }
        }
        var sinkReaders: [String: @Sendable (ConfigReader) -> PreparedSink?] = [:]
        for connector in sinks { sinkReaders[connector.type] = Self.reader(for: connector) }
        self.sources = sourceReaders
        self.sinks = sinkReaders
        sourceTypes = sources.map { $0.type }
        sinkTypes = sinks.map { $0.type }
    }

    /// Reads `source:` with the connector its `type` names; an unknown type
    /// is reported with the list of known ones. Finishes the reader.
    public func readSource(_ reader: ConfigReader, type: String) -> PreparedSource? {
        defer { reader.finish() }
        guard !type.isEmpty else { return nil }
        guard let read = sources[type] else {
            reader.report("type", "unknown source type '\(type)'; available: \(sourceTypes.joined(separator: ", "))")
            return nil
        }
        return read(reader)
    }

    /// Reads `sink:` with the connector its `type` names. Finishes the reader.
    public func readSink(_ reader: ConfigReader, type: String) -> PreparedSink? {
        defer { reader.finish() }
        guard !type.isEmpty else { return nil }
        guard let read = sinks[type] else {
            reader.report("type", "unknown sink type '\(type)'; available: \(sinkTypes.joined(separator: ", "))")
            return nil
        }
        return read(reader)
    }

    private static func reader<C: SourceConnector>(for connector: C.Type) -> @Sendable (ConfigReader) -> PreparedSource? {
        { reader in
            guard let configuration = C.configuration(reading: reader) else { return nil }
            return PreparedSource(
                type: C.type,
                staticProblems: { C.staticProblems(in: configuration) },
                make: { C.makeSource(configuration, context: $0) },
                describe: { C.describe($0) },
                reset: { try await C.resetToBeginning(configuration, context: $0) },
                preflight: { await C.preflight(configuration, context: $0) },
                makeLease: { C.makeLease(configuration, context: $0) })
        }
    }

    private static func reader<C: SinkConnector>(for connector: C.Type) -> @Sendable (ConfigReader) -> PreparedSink? {
        { reader in
            guard let configuration = C.configuration(reading: reader) else { return nil }
            return PreparedSink(
                type: C.type,
                staticProblems: { C.staticProblems(in: configuration) },
                claims: C.claims(of: configuration),
                make: { C.makeSink(configuration, context: $0) },
                storedPosition: { try await C.storedPosition(configuration, context: $0) },
                preflight: { await C.preflight(configuration, context: $0) })
        }
    }
}

/// A source whose configuration was read and is valid, ready to be checked and built.
public struct PreparedSource: Sendable {
    public let type: String
    public let staticProblems: @Sendable () -> [ConnectorProblem]
    public let make: @Sendable (ConnectorContext) -> any Source
    public let describe: @Sendable (Position) -> String
    public let reset: @Sendable (ConnectorContext) async throws -> [String]
    public let preflight: @Sendable (ConnectorContext) async -> [PreflightCheck]
    /// The lease for `context.lease`; nil when the source type has none.
    public let makeLease: @Sendable (ConnectorContext) -> (any Lease)?
}

/// A sink whose configuration was read and is valid, ready to be checked and built.
public struct PreparedSink: Sendable {
    public let type: String
    public let staticProblems: @Sendable () -> [ConnectorProblem]
    public let claims: [ResourceClaim]
    public let make: @Sendable (ConnectorContext) -> any Sink
    public let storedPosition: @Sendable (ConnectorContext) async throws -> SinkPosition
    public let preflight: @Sendable (ConnectorContext) async -> [PreflightCheck]
}
