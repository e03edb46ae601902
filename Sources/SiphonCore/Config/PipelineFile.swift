/// One pipeline file whose envelope has been read.
///
/// The connector keys under `source` and `sink` are not read yet: the caller picks the
/// connector by `sourceType`/`sinkType`, lets it read its keys through `source`/`sink`, and
/// then calls `finish()` on both readers so unknown keys are reported. `type` is already
/// marked as known on both.
public struct PipelineFile: Sendable {
    /// The file as named on the command line or found in a named folder.
    public var file: String
    /// The pipeline id: letters, digits, `_` and `-`, unique across the files loaded together.
    public var name: String
    /// Reader over the `source` mapping (key path `source`).
    public var source: ConfigReader
    /// `source.type`, e.g. `postgres`; empty when missing (already reported).
    public var sourceType: String
    /// Reader over the `sink` mapping (key path `sink`).
    public var sink: ConfigReader
    /// `sink.type`, e.g. `file`; empty when missing (already reported).
    public var sinkType: String
    /// `state.path`, or `.siphon/<name>` when not set.
    public var statePath: String
    /// `retry_delay`: the first pause before the pipeline restarts after a
    /// transient failure; it doubles up to `max_retry_delay`.
    public var retryDelay: Duration = .milliseconds(500)
    public var maxRetryDelay: Duration = .seconds(30)
    /// `events:`: how the pipeline's events are written.
    public var events = EventOptions()
    /// `lease:`: several processes may be given this pipeline, and the one
    /// holding the lease runs it (nil: this process runs it alone).
    public var lease: LeaseOptions?

    public init(
        file: String, name: String, source: ConfigReader, sourceType: String,
        sink: ConfigReader, sinkType: String, statePath: String
    ) {
        self.file = file
        self.name = name
        self.source = source
        self.sourceType = sourceType
        self.sink = sink
        self.sinkType = sinkType
        self.statePath = statePath
    }
}
