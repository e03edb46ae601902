import CNats
import Foundation
import Logging
import SiphonCore
import Synchronization

/// One `open` of the NATS sink: its connection, acknowledgement ledger,
/// what the stream held at `open`, and the subjects worked out so far.
///
/// Used by the pipeline's task only, but for the ledger, which `flush`
/// (on the shared pool) and libnats' callback read too: it has its own lock.
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
    /// What the stream already holds of the events this session is given.
    let held: Held
    /// What `open` answered (`.tracked(last:)`): what `flush` reports while
    /// nothing of this session is durable yet.
    let resumedAfter: Position?
    private var transactions = TransactionMetadata()
    private var transactionSubject: Subject?

    /// What the stream holds of the events a session is given again (see
    /// `NatsSink.open`): messages are stored in the order they were
    /// published (the expected-sequence checks refuse any other), so a
    /// message is there when it precedes the tail.
    struct Held: Sendable, Equatable {
        /// Every message of the events up to here: their BEGINs, the events,
        /// the ENDs of the ones before it.
        var through: Position?
        /// The BEGIN of the event here is in the stream.
        var beginAt: Position?
        /// The END of the event here is in the stream.
        var endAt: Position?

        func holds(_ position: Position, _ part: AckLedger.Part) -> Bool {
            let upTo = through.map { position <= $0 } ?? false
            switch part {
            case .begin: return upTo || beginAt == position
            case .event: return upTo
            case .end: return (through.map { position < $0 } ?? false) || endAt == position
            }
        }
    }

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

    init(client: NatsClient, context: AckContext, setup: NatsStreamSetup, held: Held, resumedAfter: Position?, sink: NatsSink) {
        self.held = held
        self.resumedAfter = resumedAfter
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

    /// Publishes what event `index` of `batch` makes that the stream does
    /// not hold yet: its transaction's BEGIN, the event, its transaction's
    /// END (with transaction metadata on). Their acknowledgements come to
    /// the ledger.
    func send(_ batch: EventBatch, _ index: Int, subject: Subject) throws {
        let event = batch.events[index]
        guard configuration.transactionMetadata else {
            if !held.holds(event.position, .event) { try publish(batch, index, subject: subject, boundary: true) }
            return
        }
        let around = transactions.observe(event, in: batch.buffer.bytes)
        if let begin = around.begin, !held.holds(event.position, .begin) {
            try publishTransaction(begin.value, event: event, batch: batch, part: .begin)
        }
        if !held.holds(event.position, .event) {
            // With metadata on, the checkpoint stops only at transaction
            // ends, so that a restart replays whole transactions and END
            // counts every event (see `TransactionMetadata`).
            try publish(batch, index, subject: subject, boundary: event.endsTransaction && around.end == nil)
        }
        if let end = around.end, !held.holds(event.position, .end) {
            try publishTransaction(end.value, event: event, batch: batch, part: .end)
        }
    }

    /// Publishes the event itself.
    private func publish(_ batch: EventBatch, _ index: Int, subject: Subject, boundary: Bool) throws {
        let event = batch.events[index]
        let op = Self.opValue(event.op)
        let version = Self.schemaVersion(in: batch.buffer.bytes[event.line])
        var headers: [(String, String)] = []
        if let op { headers.append(("siphon-op", op)) }
        if let version { headers.append(("siphon-schema-version", version)) }
        try batch.buffer.bytes.withUnsafeBytes { raw in
            try publishMessage(UnsafeRawBufferPointer(rebasing: raw[event.line]), subject: subject, position: event.position,
                               part: .event, boundary: boundary, headers: headers, describe: { Self.describe(event, batch) })
        }
    }

    /// A BEGIN or END message, on the transaction subject.
    private func publishTransaction(_ value: [UInt8], event: EventRecord, batch: EventBatch, part: AckLedger.Part) throws {
        let subject = try transactionSubject(for: event, batch: batch)
        try value.withUnsafeBytes { raw in
            try publishMessage(raw, subject: subject, position: event.position, part: part, boundary: part == .end,
                               headers: [(NatsStreamSetup.transactionHeader, part == .begin ? "BEGIN" : "END")],
                               describe: { "the transaction \(part == .begin ? "BEGIN" : "END") of event \(event.position)" })
        }
    }

    /// `Nats-Msg-Id` of a message: the event id, with `-begin` or `-end`
    /// for its transaction's messages (the duplicate window tells them apart).
    static func messageId(_ position: Position, _ part: AckLedger.Part) -> String {
        switch part {
        case .begin: return position.description + "-begin"
        case .event: return position.description
        case .end: return position.description + "-end"
        }
    }

    /// The position and part a `Nats-Msg-Id` names (on libnats' thread, per acknowledgement: bytes, not characters).
    static func parseMessageId(_ id: Substring) -> (Position, AckLedger.Part)? {
        let bytes = id.utf8
        guard bytes.count >= 32, let position = Position(Substring(bytes.prefix(32))) else { return nil }
        switch bytes.count {
        case 32: return (position, .event)
        case 38 where bytes.dropFirst(32).elementsEqual("-begin".utf8): return (position, .begin)
        case 36 where bytes.dropFirst(32).elementsEqual("-end".utf8): return (position, .end)
        default: return nil
        }
    }

    private func publishMessage(_ payload: UnsafeRawBufferPointer, subject: Subject, position: Position, part: AckLedger.Part,
                                boundary: Bool, headers: [(String, String)], describe: () -> String) throws {
        let id = position.description
        let messageId = part == .event ? id : Self.messageId(position, part)
        // What the server counts against max_payload: the payload and the
        // headers ("NATS/1.0\r\n", "Name: value\r\n" each, "\r\n"),
        // including those libnats adds (Nats-Msg-Id, the expectations).
        func header(_ name: Int, _ value: Int) -> Int { name + 2 + value + 2 }
        var headerBytes = 10 + 2 + header(11, messageId.utf8.count) + header(9, 32) + header(15, pipeline.utf8.count)
        for (name, value) in headers { headerBytes += header(name.utf8.count, value.utf8.count) }
        switch setup.expectation {
        case .stream: headerBytes += header(27, 20) + header(25, 38)
        case .subject: headerBytes += header(35, 20)
        }
        let size = payload.count + headerBytes
        if size > maxPayload || setup.maxMessageSize.map({ size > $0 }) == true {
            let limit = size > maxPayload ? "the server's max_payload of \(maxPayload) bytes" : "stream \(configuration.stream.name)'s max_msg_size of \(setup.maxMessageSize ?? 0) bytes"
            throw SiphonError(.sink, "the event of \(describe()) (\(size) bytes with its headers, id \(id)) is over \(limit); the pipeline stops before it: raise the limit or leave the table out")
        }
        var message: OpaquePointer?
        let created = natsMsg_Create(&message, subject.cName, nil, payload.baseAddress?.assumingMemoryBound(to: CChar.self),
                                     Int32(payload.count))
        guard created == NATS_OK, let message else {
            throw SiphonError(.sink, "cannot make the NATS message of \(describe()) (\(NatsErrors.text(created, secrets: client.secrets)))", transient: true)
        }
        var owned: OpaquePointer? = message
        defer { if let owned { natsMsg_Destroy(owned) } }
        natsMsgHeader_Set(message, NatsStreamSetup.idHeader, id)
        natsMsgHeader_Set(message, NatsStreamSetup.pipelineHeader, pipeline)
        for (name, value) in headers { natsMsgHeader_Set(message, name, value) }
        let number = ledger.publishing(position, part: part, boundary: boundary)
        var options = jsPubOptions()
        jsPubOptions_Init(&options)
        if case let .stream(lastSequence) = setup.expectation, lastSequence + number == 0 {
            // libnats leaves a 0 out; the server checks it (the stream must be empty).
            natsMsgHeader_Set(message, "Nats-Expected-Last-Sequence", "0")
        }
        let status: natsStatus = messageId.withCString { msgId in
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
            previousId = messageId
            return
        }
        ledger.unpublish(number)
        let error = NatsErrors.publishError(status: status, code: jsErrCode(0), serverText: nil, subject: subject.name,
                                            id: messageId, stream: configuration.stream.name, secrets: client.secrets)
        throw SiphonError(.sink, "\(describe()): \(error.message)", transient: error.isTransient)
    }

    /// The transaction subject, rendered once (`{db}` and `{connector}`
    /// are the same for every event of a pipeline).
    func transactionSubject(for event: EventRecord, batch: EventBatch) throws -> Subject {
        if let transactionSubject { return transactionSubject }
        let template = configuration.transactionSubject
        var values = SubjectTemplate.Values(prefix: prefix, schema: "", table: "")
        if template.usesSourceFacts {
            let facts = SourceFacts.dbAndConnector(in: batch.buffer.bytes[event.line])
            guard let db = facts.db, let connector = facts.connector else {
                throw SiphonError(.sink, "sink.transaction_subject: the event at \(event.position) does not say its {db} or {connector}")
            }
            values.db = db
            values.connector = connector
        }
        switch template.render(values) {
        case let .success(name):
            let subject = Subject(name: name)
            transactionSubject = subject
            return subject
        case let .failure(unfit):
            throw SiphonError(.sink, "sink.transaction_subject: {\(unfit.placeholder)} is '\(unfit.value)', which a NATS subject token cannot hold (a dot, a space, * or >); use a template without it")
        }
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
            let facts = SourceFacts.dbAndConnector(in: batch.buffer.bytes[event.line])
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
    let id = message.flatMap { NatsStreamSetup.header($0, "Nats-Msg-Id") } ?? "?"
    if let ack, let (position, part) = NatsSession.parseMessageId(id[...]) {
        context.ledger.acknowledged(position, part: part, sequence: ack.pointee.Sequence)
        return
    }
    let subject = message.map { String(cString: natsMsg_GetSubject($0)) } ?? "?"
    let status = failure?.pointee.Err ?? NATS_ERR
    let code = failure?.pointee.ErrCode ?? jsErrCode(0)
    let text = failure?.pointee.ErrText.map { String(cString: $0) }
    context.ledger.failed(NatsErrors.publishError(status: status, code: code, serverText: text, subject: subject, id: id,
                                                  stream: context.stream, secrets: context.secrets))
}
