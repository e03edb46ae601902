import CNats
import Foundation
import Logging
import SiphonCore
import Synchronization

/// One `open` of the NATS sink: its connection, acknowledgement ledger,
/// what the stream held at `open`, and the subjects worked out so far.
///
/// Used by the pipeline's task only (the sink does not flush alongside
/// writes); the ledger is the one part libnats' callback touches, and it
/// has its own lock.
final class NatsSession: @unchecked Sendable {
    let client: NatsClient
    let context: AckContext
    var ledger: AckLedger { context.ledger }
    let setup: NatsStreamSetup
    private let configuration: NatsSinkConfiguration
    private let prefix: String
    private let pipeline: String
    private let maxPayload: Int
    private var subjects: [SubjectKey: Subject] = [:]
    /// Stream mode: the id of the session's last message handed to libnats,
    /// which the next one names as `Nats-Expected-Last-Msg-Id`.
    private var previousId: String?
    /// What `write` skips: events the stream holds (see `NatsSink.gapGuard`).
    let skipsThrough: Position?

    final class Subject {
        let name: String
        let cName: [CChar]
        /// Per-subject mode: the subject's last sequence, for the session's
        /// first publish to it (then nil); unknown until looked up.
        var expectedLast: UInt64?
        var lookedUp = false
        init(name: String) {
            self.name = name
            cName = Array(name.utf8CString)
        }
    }

    private struct SubjectKey: Hashable {
        var op: SiphonCore.Operation
        var table: TableName?
    }

    init(client: NatsClient, context: AckContext, setup: NatsStreamSetup, skipsThrough: Position?, sink: NatsSink) {
        self.skipsThrough = skipsThrough
        self.client = client
        self.context = context
        self.setup = setup
        configuration = sink.configuration
        prefix = sink.prefix
        pipeline = sink.pipeline
        maxPayload = client.maxPayload
    }

    /// Per-subject mode: the subject needs its last sequence looked up
    /// (a network round trip, off the pipeline's thread) before its first publish.
    func needsLookup(_ subject: Subject) -> Bool {
        setup.expectation.isPerSubject && !subject.lookedUp
    }

    /// Per-subject mode: the subject's last sequence, which its first
    /// publish of the session expects. A message on it after `open` means
    /// another session of this pipeline (a replay) or another writer got
    /// there since the tail was read: refused before publishing.
    func lookUp(_ subject: Subject) async throws {
        guard case let .subject(openSequence) = setup.expectation else { return }
        let client = client, stream = configuration.stream.name, name = subject.name
        let last = try await Blocking.run {
            try NatsStreamSetup.lastSequence(client: client, stream: stream, subject: name)
        }
        if last > openSequence {
            throw SiphonError(.sink, "subject \(name) of stream \(stream) gained a message (sequence \(last)) after this session read the stream's tail (sequence \(openSequence)); another writer, or a replay: re-reading the stream's tail and resuming after it",
                              transient: true)
        }
        subject.expectedLast = last
        subject.lookedUp = true
    }

    /// Publishes event `index` of `batch` asynchronously; its acknowledgement
    /// comes to the ledger.
    func publish(_ batch: EventBatch, _ index: Int, subject: Subject) throws {
        let event = batch.events[index]
        let id = event.position.description
        let op = Self.opValue(event.op)
        let version = Self.schemaVersion(in: batch.buffer.bytes[event.line])
        // What the server counts against max_payload: the payload and the
        // headers ("NATS/1.0\r\n", "Name: value\r\n" each, "\r\n"),
        // including those libnats adds (Nats-Msg-Id, the expectations).
        func header(_ name: Int, _ value: Int) -> Int { name + 2 + value + 2 }
        var headerBytes = 10 + 2 + header(11, 32) + header(9, 32) + header(15, pipeline.utf8.count)
        headerBytes += op.map { header(9, $0.utf8.count) } ?? 0
        headerBytes += version.map { header(21, $0.utf8.count) } ?? 0
        switch setup.expectation {
        case .stream: headerBytes += header(27, 20) + header(25, 32)
        case .subject: headerBytes += header(35, 20)
        }
        let size = event.line.count + headerBytes
        if size > maxPayload || setup.maxMessageSize.map({ size > $0 }) == true {
            let limit = size > maxPayload ? "the server's max_payload of \(maxPayload) bytes" : "stream \(configuration.stream.name)'s max_msg_size of \(setup.maxMessageSize ?? 0) bytes"
            throw SiphonError(.sink, "the event of \(Self.describe(event, batch)) (\(size) bytes with its headers, id \(id)) is over \(limit); the pipeline stops before it: raise the limit or leave the table out")
        }
        var message: OpaquePointer?
        let created = batch.buffer.bytes.withUnsafeBytes { raw in
            natsMsg_Create(&message, subject.cName, nil, raw.baseAddress!.assumingMemoryBound(to: CChar.self) + event.line.lowerBound,
                           Int32(event.line.count))
        }
        guard created == NATS_OK, let message else {
            throw SiphonError(.sink, "cannot make the NATS message of \(Self.describe(event, batch)) (\(NatsErrors.text(created, secrets: client.secrets)))", transient: true)
        }
        var owned: OpaquePointer? = message
        defer { if let owned { natsMsg_Destroy(owned) } }
        natsMsgHeader_Set(message, NatsStreamSetup.idHeader, id)
        natsMsgHeader_Set(message, NatsStreamSetup.pipelineHeader, pipeline)
        if let op { natsMsgHeader_Set(message, "siphon-op", op) }
        if let version { natsMsgHeader_Set(message, "siphon-schema-version", version) }
        let number = ledger.publishing(event.position)
        var options = jsPubOptions()
        jsPubOptions_Init(&options)
        if case let .stream(lastSequence) = setup.expectation, lastSequence + number == 0 {
            // libnats leaves a 0 out; the server checks it (the stream must be empty).
            natsMsgHeader_Set(message, "Nats-Expected-Last-Sequence", "0")
        }
        let status: natsStatus = id.withCString { msgId in
            (previousId ?? "").withCString { previous in
                options.MsgId = msgId
                switch setup.expectation {
                case let .stream(lastSequence):
                    options.ExpectLastSeq = lastSequence + number
                    // The sequence alone lets a message line up again after one
                    // was refused (another writer's took its place); naming the
                    // previous message refuses every one after a refusal.
                    if previousId != nil { options.ExpectLastMsgId = previous }
                case .subject:
                    if let last = subject.expectedLast {
                        if last == 0 { options.ExpectNoMessage = true } else { options.ExpectLastSubjectSeq = last }
                        subject.expectedLast = nil
                    }
                }
                return js_PublishMsgAsync(client.jetStream, &owned, &options)
            }
        }
        if status == NATS_OK {
            previousId = id
            return
        }
        ledger.unpublish(number)
        let error = NatsErrors.publishError(status: status, code: jsErrCode(0), serverText: nil, subject: subject.name,
                                            id: id, stream: configuration.stream.name, secrets: client.secrets)
        throw SiphonError(.sink, "\(Self.describe(event, batch)): \(error.message)", transient: error.isTransient)
    }

    /// `table public.orders, key {"id":1}`, for messages.
    static func describe(_ event: EventRecord, _ batch: EventBatch) -> String {
        let key = event.key.map { String(decoding: batch.buffer.bytes[$0], as: UTF8.self) } ?? "null"
        switch event.op {
        case .schemaChange: return "the schema change of \(event.table?.description ?? "no table")"
        case .message: return "the logical message at \(event.position)"
        default: return "table \(event.table?.description ?? "?"), key \(key)"
        }
    }

    /// The `siphon-op` header's value; none for schema changes.
    static func opValue(_ op: SiphonCore.Operation) -> String? {
        op == .schemaChange ? nil : op.rawValue
    }

    private static let schemaVersionMarker = Array("\"schema_version\":".utf8)

    /// The event's top-level `"schema_version":N` (the last one in the line: row data comes before it).
    static func schemaVersion(in line: ArraySlice<UInt8>) -> String? {
        let marker = schemaVersionMarker
        var start = line.endIndex - marker.count
        while start >= line.startIndex {
            if line[start] == marker[0], line[start..<(start + marker.count)].elementsEqual(marker) {
                let digits = line[(start + marker.count)...].prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
                return digits.isEmpty ? nil : String(decoding: digits, as: UTF8.self)
            }
            start -= 1
        }
        return nil
    }

    /// The event's subject, from its template.
    func subject(for event: EventRecord, batch: EventBatch) throws -> Subject {
        let key = SubjectKey(op: event.op == .schemaChange || event.op == .message ? event.op : .create, table: event.table)
        if let subject = subjects[key] { return subject }
        let template: SubjectTemplate, templateKey: String
        switch event.op {
        case .schemaChange: (template, templateKey) = (configuration.schemaSubject, "schema_subject")
        case .message: (template, templateKey) = (configuration.messageSubject, "message_subject")
        default: (template, templateKey) = (configuration.subject, "subject")
        }
        var values = SubjectTemplate.Values(prefix: prefix, schema: event.table?.schema ?? "", table: event.table?.name ?? "")
        if template.usesSourceFacts {
            let facts = Self.sourceFacts(in: batch.buffer.bytes[event.line])
            guard let db = facts.db, let connector = facts.connector else {
                throw SiphonError(.sink, "sink.\(templateKey): the event of \(event.table?.description ?? "position \(event.position)") does not say its {db} or {connector}")
            }
            values.db = db
            values.connector = connector
        }
        if template.usesTable, event.table == nil {
            throw SiphonError(.sink, "sink.\(templateKey): event \(event.position) belongs to no table, but the subject template names {schema} or {table}")
        }
        switch template.render(values) {
        case let .success(name):
            let subject = Subject(name: name)
            subjects[key] = subject
            return subject
        case let .failure(unfit):
            throw SiphonError(.sink, "sink.\(templateKey): {\(unfit.placeholder)} of \(event.table.map { "table \($0)" } ?? "event \(event.position)") is '\(unfit.value)', which a NATS subject token cannot hold (a dot, a space, * or >); use a template without it, or leave the table out")
        }
    }

    /// `source.db` and `source.connector` (CloudEvents: `iodebeziumdb`, `iodebeziumconnector`).
    private static func sourceFacts(in line: ArraySlice<UInt8>) -> (db: String?, connector: String?) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else { return (nil, nil) }
        if let source = object["source"] as? [String: Any] {
            return (source["db"] as? String, source["connector"] as? String)
        }
        return (object["iodebeziumdb"] as? String, object["iodebeziumconnector"] as? String)
    }
}

/// What libnats' acknowledgement callback reaches through its closure
/// pointer. Retained for good when a session starts (libnats may still
/// call back after the connection is destroyed, and the callback must
/// find it alive); it is small, and a session starts once per pipeline
/// (re)start.
final class AckContext: Sendable {
    let ledger: AckLedger
    let stream: String
    let secrets: [String]
    let logger: Logger
    /// The servers, without credentials, for log lines.
    let servers: String
    /// Set when the sink closes the connection itself: not worth a warning.
    let closing = Atomic<Bool>(false)

    init(ledger: AckLedger, stream: String, secrets: [String], logger: Logger, servers: String) {
        self.ledger = ledger
        self.stream = stream
        self.secrets = secrets
        self.logger = logger
        self.servers = servers
    }
}

/// libnats lost the connection (it reconnects on its own; unacknowledged
/// publishes then time out and the session starts again).
let natsDisconnected: natsConnectionHandler = { _, closure in
    guard let closure else { return }
    let context = Unmanaged<AckContext>.fromOpaque(closure).takeUnretainedValue()
    guard !context.closing.load(ordering: .relaxed) else { return }
    context.logger.warning("NATS connection lost; reconnecting", metadata: ["servers": .string(context.servers)])
}

let natsReconnected: natsConnectionHandler = { _, closure in
    guard let closure else { return }
    let context = Unmanaged<AckContext>.fromOpaque(closure).takeUnretainedValue()
    context.logger.info("NATS connection back", metadata: ["servers": .string(context.servers)])
}

/// One publish's acknowledgement, positive or negative (libnats' thread).
let natsAckHandler: jsPubAckHandler = { _, message, ack, failure, closure in
    guard let closure else { return }
    let context = Unmanaged<AckContext>.fromOpaque(closure).takeUnretainedValue()
    defer { if let message { natsMsg_Destroy(message) } }
    let id = message.flatMap { NatsStreamSetup.header($0, NatsStreamSetup.idHeader) } ?? "?"
    if let ack, let position = Position(id) {
        context.ledger.acknowledged(position, sequence: ack.pointee.Sequence)
        return
    }
    let subject = message.map { String(cString: natsMsg_GetSubject($0)) } ?? "?"
    let status = failure?.pointee.Err ?? NATS_ERR
    let code = failure?.pointee.ErrCode ?? jsErrCode(0)
    let text = failure?.pointee.ErrText.map { String(cString: $0) }
    context.ledger.failed(NatsErrors.publishError(status: status, code: code, serverText: text, subject: subject, id: id,
                                                  stream: context.stream, secrets: context.secrets))
}
