import Logging

/// What a connector is given to build its source or sink.
public struct ConnectorContext: Sendable {
    /// The pipeline's name (`name:`), which events carry as `source.name`.
    public var pipeline: String
    /// The pipeline's state folder; `StateDirectory(readingAt:)` for commands
    /// that must not create it.
    public var state: StateDirectory
    public var logger: Logger
    /// How events are written (`events:`); sources render them.
    public var events: EventOptions
    /// `lease:`, when processes on other hosts may run this pipeline after
    /// this one: a source then keeps what it needs to resume (PostgreSQL's
    /// schema history) where they find it, not in the state folder.
    public var lease: LeaseOptions?

    public init(pipeline: String, state: StateDirectory, logger: Logger, events: EventOptions = EventOptions(),
                lease: LeaseOptions? = nil) {
        self.pipeline = pipeline
        self.state = state
        self.logger = logger
        self.events = events
        self.lease = lease
    }
}

/// A problem a connector found in its configuration without touching the
/// network: the key it is about (`path`) and what to do.
public struct ConnectorProblem: Sendable, Equatable {
    public var key: String
    public var message: String

    public init(key: String, _ message: String) {
        self.key = key
        self.message = message
    }
}

/// Something only one pipeline may write (a sink file, a topic, a target
/// table): two loaded pipelines that claim the same `resource` are a
/// configuration error naming both files.
public struct ResourceClaim: Sendable, Equatable {
    /// The key that names it (`path`).
    public var key: String
    /// What is claimed, comparable across pipelines (`file:/real/path`).
    public var resource: String
    /// How to name it in a message (`sink file /data/out.jsonl`).
    public var description: String

    public init(key: String, resource: String, description: String) {
        self.key = key
        self.resource = resource
        self.description = description
    }
}

/// A source connector, as the registry sees it: `type:` names, reading and
/// checking its configuration, building the source, and the commands that
/// act on it offline.
public protocol SourceConnector: SendableMetatype {
    associatedtype Configuration: Sendable
    /// The `source.type` value, and other accepted spellings.
    static var type: String { get }
    static var aliases: [String] { get }
    /// Reads the `source:` keys, reporting every problem through `reader`
    /// (and finishing it); nil when something is wrong.
    static func configuration(reading reader: ConfigReader) -> Configuration?
    /// Checks that need no network (a file exists and is writable). Must
    /// create nothing.
    static func staticProblems(in configuration: Configuration) -> [ConnectorProblem]
    static func makeSource(_ configuration: Configuration, context: ConnectorContext) -> any Source
    /// A position in the source's words (`commit LSN 0/16B3748, event 2`).
    static func describe(_ position: Position) -> String
    /// `siphon offsets reset --to beginning`: removes what the source keeps
    /// outside the state folder so that the next start begins again (the
    /// PostgreSQL slot); returns one line per thing done.
    static func resetToBeginning(_ configuration: Configuration, context: ConnectorContext) async throws -> [String]
    /// `siphon check`: connects and checks everything the pipeline needs,
    /// one line each, creating nothing; never throws (a failure is a line).
    static func preflight(_ configuration: Configuration, context: ConnectorContext) async -> [PreflightCheck]
    /// The lease that decides which of several processes runs the pipeline
    /// (`lease:`, in `context.lease`); nil when this source type has none,
    /// which makes `lease:` a configuration error.
    static func makeLease(_ configuration: Configuration, context: ConnectorContext) -> (any Lease)?
}

extension SourceConnector {
    public static var aliases: [String] { [] }
    public static func makeLease(_ configuration: Configuration, context: ConnectorContext) -> (any Lease)? { nil }
    public static func preflight(_ configuration: Configuration, context: ConnectorContext) async -> [PreflightCheck] {
        [.pass("source", "no checks beyond `siphon validate` for this source type")]
    }
    public static func staticProblems(in configuration: Configuration) -> [ConnectorProblem] { [] }
    public static func resetToBeginning(_ configuration: Configuration, context: ConnectorContext) async throws -> [String] { [] }
}

/// A sink connector, as the registry sees it.
public protocol SinkConnector: SendableMetatype {
    associatedtype Configuration: Sendable
    /// The `sink.type` value.
    static var type: String { get }
    /// Reads the `sink:` keys, reporting every problem through `reader`
    /// (and finishing it); nil when something is wrong.
    static func configuration(reading reader: ConfigReader) -> Configuration?
    /// Checks that need no network (the folder of a file is writable). Must
    /// create nothing.
    static func staticProblems(in configuration: Configuration) -> [ConnectorProblem]
    /// What no other pipeline may write too.
    static func claims(of configuration: Configuration) -> [ResourceClaim]
    static func makeSink(_ configuration: Configuration, context: ConnectorContext) -> any Sink
    /// What the sink holds, read without running the pipeline and without
    /// changing anything (`offsets show`, `offsets reset`); `.untracked`
    /// when it cannot tell.
    static func storedPosition(_ configuration: Configuration, context: ConnectorContext) async throws -> SinkPosition
    /// `siphon check`: reachable, authenticated, the destination usable,
    /// one line each, creating nothing; never throws.
    static func preflight(_ configuration: Configuration, context: ConnectorContext) async -> [PreflightCheck]
}

extension SinkConnector {
    public static func preflight(_ configuration: Configuration, context: ConnectorContext) async -> [PreflightCheck] {
        [.pass("sink", "no checks beyond `siphon validate` for this sink type")]
    }
    public static func staticProblems(in configuration: Configuration) -> [ConnectorProblem] { [] }
    public static func claims(of configuration: Configuration) -> [ResourceClaim] { [] }
    public static func storedPosition(_ configuration: Configuration, context: ConnectorContext) async throws -> SinkPosition {
        .untracked
    }
}
