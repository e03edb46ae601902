import CNats
import Foundation
import SiphonCore

/// What `open` learns about the stream: it exists (found or created), its
/// subjects cover the pipeline's, which expected-sequence mode applies,
/// and the last event of this pipeline it holds.
struct NatsStreamSetup: Sendable {
    /// How publishes prove the stream is where the sink left it.
    enum Expectation: Sendable, Equatable {
        /// Siphon is the stream's only writer (every subject the stream
        /// takes is the pipeline's): each publish carries
        /// `Nats-Expected-Last-Sequence`, counted on from `lastSequence`.
        case stream(lastSequence: UInt64)
        /// The stream takes other subjects too: the first publish to each
        /// subject in a session carries `Nats-Expected-Last-Subject-Sequence`,
        /// and is refused up front when the subject gained a message after
        /// `openSequence` (the stream's last sequence at `open`).
        case subject(openSequence: UInt64)

        var isPerSubject: Bool { if case .subject = self { true } else { false } }
    }

    var expectation: Expectation
    /// The pipeline's last message in the stream; nil: none.
    var tail: Tail?
    /// The position of the pipeline's last message in the stream; nil: none.
    var held: Position? { tail?.position }
    /// The stream's `max_msg_size`; nil: no limit.
    var maxMessageSize: Int?
    var created: Bool
    var streamSubjects: [String]

    /// The pipeline's last message: which event's, which of its messages,
    /// and, for an event inside a transaction whose END is not in the
    /// stream, where that transaction's BEGIN is (see `NatsSink.open`).
    struct Tail: Sendable, Equatable {
        var position: Position
        var part: AckLedger.Part
        /// The position of the BEGIN message (that of the transaction's
        /// first event) of the transaction the tail event belongs to, when
        /// the stream holds it; looked up only with transaction metadata on.
        var openTransactionBegin: Position?
    }

    static let idHeader = "siphon-id"
    static let pipelineHeader = "siphon-pipeline"
    /// `BEGIN` or `END` on transaction metadata messages.
    static let transactionHeader = "siphon-transaction"

    /// Finds or creates the stream and reads its tail; blocks on the network.
    /// Without `create`, a missing stream is reported as nil and nothing is changed.
    static func prepare(client: NatsClient, configuration: NatsSinkConfiguration, prefix: String, pipeline: String,
                        filters: [(key: String, filter: String)], create: Bool = true) throws -> NatsStreamSetup? {
        let name = configuration.stream.name
        var created = false
        var info = try streamInfo(client, name)
        if info == nil {
            guard create else { return nil }
            try addStream(client, configuration.stream, prefix: prefix)
            created = true
            info = try streamInfo(client, name)
        }
        guard let info else {
            throw SiphonError(.sink, "stream \(name) is missing right after it was created; retrying", transient: true)
        }
        defer { jsStreamInfo_Destroy(info) }
        guard let config = info.pointee.Config else {
            throw SiphonError(.sink, "stream \(name): the server sent no configuration; retrying", transient: true)
        }
        var subjects: [String] = (0..<Int(config.pointee.SubjectsLen)).compactMap { index in
            config.pointee.Subjects[index].map { String(cString: $0) }
        }
        // A stream created without subjects takes its own name as one.
        if subjects.isEmpty { subjects = [name] }
        for (key, filter) in filters where !SubjectFilter.anyCovers(subjects, filter) {
            throw SiphonError(.sink, "stream \(name) takes the subjects \(subjects.joined(separator: ", ")), which do not cover \(filter), where sink.\(key) publishes; the sink never alters a stream: add \(filter) to the stream's subjects, or change sink.\(key) (or sink.prefix) to subjects it takes")
        }
        let ours = filters.map(\.filter) + ["\(prefix).>"]
        let onlyWriter = subjects.allSatisfy { SubjectFilter.anyCovers(ours, $0) }
        let lastSequence = info.pointee.State.LastSeq
        var tail: (sequence: UInt64, message: OpaquePointer)?
        if onlyWriter {
            if lastSequence > 0 {
                tail = try message(client, stream: name) { js_GetMsg(&$0, client.jetStream, name, lastSequence, nil, &$1) }
                    .map { (lastSequence, $0) }
            }
        } else {
            for filter in Set(filters.map(\.filter)) {
                guard let found = try message(client, stream: name, { js_GetLastMsg(&$0, client.jetStream, name, filter, nil, &$1) }) else { continue }
                let sequence = natsMsg_GetSequence(found)
                if let current = tail, current.sequence >= sequence {
                    natsMsg_Destroy(found)
                } else {
                    if let current = tail { natsMsg_Destroy(current.message) }
                    tail = (sequence, found)
                }
            }
        }
        var last: Tail?
        if let tail {
            defer { natsMsg_Destroy(tail.message) }
            let subject = String(cString: natsMsg_GetSubject(tail.message))
            let id = header(tail.message, idHeader)
            let writer = header(tail.message, pipelineHeader)
            guard writer == pipeline, let id, let position = Position(id) else {
                let who = writer.map { "pipeline \($0)" } ?? "a writer that is not Siphon"
                throw SiphonError(.sink, "stream \(name) ends (sequence \(tail.sequence), subject \(subject)) with a message of \(who), not of pipeline \(pipeline); two writers on the pipeline's subjects would each skip or repeat the other's events: give this pipeline its own subjects (sink.prefix) or stream")
            }
            let part: AckLedger.Part = switch header(tail.message, transactionHeader) {
            case "BEGIN": .begin
            case "END": .end
            default: .event
            }
            last = Tail(position: position, part: part)
            if part == .event, configuration.transactionMetadata {
                last?.openTransactionBegin = try transactionBegin(of: tail.message, client: client, configuration: configuration,
                                                                  prefix: prefix, pipeline: pipeline)
            }
        }
        let maxSize = Int(config.pointee.MaxMsgSize)
        return NatsStreamSetup(expectation: onlyWriter ? .stream(lastSequence: lastSequence) : .subject(openSequence: lastSequence), tail: last,
                               maxMessageSize: maxSize > 0 ? maxSize : nil, created: created, streamSubjects: subjects)
    }

    /// For an event inside a source transaction (its payload has a
    /// `transaction` object), the position of that transaction's BEGIN
    /// message when the stream holds it: the last message on the
    /// transaction subject, since the transaction's END is not there (it
    /// would be the tail) and no later BEGIN can precede its END. nil: the
    /// event belongs to no transaction, or its BEGIN was never published
    /// (metadata was off then).
    static func transactionBegin(of event: OpaquePointer, client: NatsClient, configuration: NatsSinkConfiguration,
                                 prefix: String, pipeline: String) throws -> Position? {
        let payload = Array(payloadBytes(event))
        guard let id = TransactionMetadata.transactionId(in: payload[...]) else { return nil }
        var values = SubjectTemplate.Values(prefix: prefix, schema: "", table: "")
        if configuration.transactionSubject.usesSourceFacts {
            let facts = SourceFacts.dbAndConnector(in: payload[...])
            guard let db = facts.db, let connector = facts.connector else { return nil }
            values.db = db
            values.connector = connector
        }
        guard case let .success(subject) = configuration.transactionSubject.render(values) else { return nil }
        let stream = configuration.stream.name
        guard let begin = try message(client, stream: stream, { js_GetLastMsg(&$0, client.jetStream, stream, subject, nil, &$1) }) else {
            return nil
        }
        defer { natsMsg_Destroy(begin) }
        guard header(begin, transactionHeader) == "BEGIN", header(begin, pipelineHeader) == pipeline,
              let position = header(begin, idHeader).flatMap({ Position($0) }),
              let object = try? JSONSerialization.jsonObject(with: Data(payloadBytes(begin))) as? [String: Any],
              object["id"] as? String == id else { return nil }
        return position
    }

    static func payloadBytes(_ message: OpaquePointer) -> UnsafeRawBufferPointer {
        guard let data = natsMsg_GetData(message) else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: data, count: Int(natsMsg_GetDataLength(message)))
    }

    /// The last sequence of `subject` in the stream; 0 when it holds none.
    static func lastSequence(client: NatsClient, stream: String, subject: String) throws -> UInt64 {
        guard let found = try message(client, stream: stream, { js_GetLastMsg(&$0, client.jetStream, stream, subject, nil, &$1) }) else {
            return 0
        }
        defer { natsMsg_Destroy(found) }
        return natsMsg_GetSequence(found)
    }

    static func header(_ message: OpaquePointer, _ name: String) -> String? {
        var value: UnsafePointer<CChar>?
        guard natsMsgHeader_Get(message, name, &value) == NATS_OK, let value else { return nil }
        return String(cString: value)
    }

    private static func streamInfo(_ client: NatsClient, _ name: String) throws -> UnsafeMutablePointer<jsStreamInfo>? {
        var info: UnsafeMutablePointer<jsStreamInfo>?
        var code = jsErrCode(0)
        let status = js_GetStreamInfo(&info, client.jetStream, name, nil, &code)
        if status == NATS_OK { return info }
        if status == NATS_NOT_FOUND || code == JSStreamNotFoundErr { return nil }
        throw lookupError(status, client: client, doing: "read stream \(name)'s information")
    }

    private static func addStream(_ client: NatsClient, _ stream: NatsSinkConfiguration.Stream, prefix: String) throws {
        var config = jsStreamConfig()
        jsStreamConfig_Init(&config)
        let subjects = stream.subjects(prefix: prefix).map { strdup($0) }
        defer { subjects.forEach { free($0) } }
        var pointers = subjects.map { UnsafePointer($0) }
        var code = jsErrCode(0)
        let status: natsStatus = stream.name.withCString { name in
            pointers.withUnsafeMutableBufferPointer { list in
                config.Name = name
                config.Subjects = list.baseAddress
                config.SubjectsLen = Int32(list.count)
                config.Storage = stream.storage == .memory ? js_MemoryStorage : js_FileStorage
                config.Replicas = Int64(stream.replicas)
                if let age = stream.maxAge { config.MaxAge = Int64(age.inNanoseconds) }
                if let window = stream.duplicateWindow { config.Duplicates = Int64(window.inNanoseconds) }
                return js_AddStream(nil, client.jetStream, &config, nil, &code)
            }
        }
        guard status != NATS_OK else { return }
        if code == JSStreamNameExistErr { return }
        let said = NatsErrors.text(status, secrets: client.secrets)
        throw SiphonError(.sink, "cannot create stream \(stream.name) with subjects \(stream.subjects(prefix: prefix).joined(separator: ", ")) on \(client.shownServers) (\(said)); check sink.stream, or create the stream beforehand",
                          transient: status == NATS_TIMEOUT || status == NATS_NO_RESPONDERS || status == NATS_CONNECTION_CLOSED)
    }

    /// One message fetched by `get`; nil when there is none.
    private static func message(_ client: NatsClient, stream: String,
                                _ get: (inout OpaquePointer?, inout jsErrCode) -> natsStatus) throws -> OpaquePointer? {
        var found: OpaquePointer?
        var code = jsErrCode(0)
        let status = get(&found, &code)
        if status == NATS_OK { return found }
        if status == NATS_NOT_FOUND || code == JSNoMessageFoundErr { return nil }
        throw lookupError(status, client: client, doing: "read the last message of stream \(stream)")
    }

    private static func lookupError(_ status: natsStatus, client: NatsClient, doing action: String) -> SiphonError {
        let said = NatsErrors.text(status, secrets: client.secrets)
        if status == NATS_NO_RESPONDERS {
            return SiphonError(.sink, "cannot \(action): no JetStream answered on \(client.shownServers) (\(said)); is nats-server started with JetStream (-js)? retrying",
                               transient: true)
        }
        return SiphonError(.sink, "cannot \(action) on \(client.shownServers) (\(said))",
                           transient: status != NATS_NOT_PERMITTED)
    }
}
