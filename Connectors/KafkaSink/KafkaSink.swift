import CRdKafka
import Foundation
import Logging
import SiphonCore
import Synchronization

/// Writes every event to Kafka through librdkafka: row events keyed by the
/// row's key to `sink.topic`, schema changes to `sink.schema_topic`,
/// logical messages to `sink.message_topic`, a tombstone after each delete
/// of a keyed row.
///
/// Durability: the producer is idempotent with `acks=all`; `flush` returns
/// the last event such that it and every event before it have successful
/// delivery reports, so the checkpoint never passes a record Kafka has not
/// acknowledged, nor one whose report failed (the failure is what `flush`
/// throws).
///
/// Exactly once without Kafka transactions: every record carries its
/// event's position (`siphon-id`) and pipeline (`siphon-pipeline`) in
/// headers. `open` reads the last record of each partition of the
/// pipeline's topics (`KafkaSinkPosition`), and `write` skips each event
/// already at or below the last record of the partition it maps to. That
/// is correct for one writer per topic and an unchanged partition count.
/// `open` answers `.untracked`: the pipeline resumes from its checkpoint,
/// which may be behind what Kafka holds, and the sink drops the repeats.
/// (No single position can say what Kafka holds: after a crash, a later
/// event may be in one partition while an earlier one, in flight to
/// another, never arrived.)
///
/// Threading: librdkafka's delivery reports are queued on its main queue,
/// which writes to a pipe when it becomes non-empty; the pipeline's thread
/// waits on that pipe with `FileDescriptorWait` and serves the reports
/// with a non-blocking `rd_kafka_poll`. Lookups that block on the network
/// (metadata, offsets, the last records) run on a thread of their own.
public final class KafkaSink: Sink {
    let configuration: KafkaSinkConfiguration
    let pipeline: String
    let prefix: String
    let logger: Logger
    /// How long `open` waits for the cluster's metadata and each partition's
    /// last record before it fails (transiently: the pipeline retries).
    let lookupTimeout: Duration
    private let session = Mutex<KafkaSession?>(nil)
    /// Set when a session ended with a failed delivery: the last event that
    /// session had made durable (nil: none), past which the next session
    /// skips nothing. A failed record may be followed, in its partition, by
    /// later records that did arrive (one that timed out while the brokers
    /// were down, then the brokers came back), so "at or below the
    /// partition's last record" no longer means "in Kafka" past it; sending
    /// those events again may repeat some, and loses none.
    private let gapAfter = Mutex<GapGuard?>(nil)
    private let highestHeld = Mutex<Position?>(nil)

    /// The highest position in the last records `open` read.
    public var highestPositionHeld: Position? { highestHeld.withLock { $0 } }

    struct GapGuard: Sendable {
        var durable: Position?
    }

    public init(configuration: KafkaSinkConfiguration, pipeline: String, logger: Logger,
                lookupTimeout: Duration = .seconds(10)) {
        self.configuration = configuration
        self.lookupTimeout = lookupTimeout
        self.pipeline = pipeline
        self.prefix = configuration.prefix ?? pipeline
        self.logger = logger
    }

    /// What the consumer that reads each partition's last record gets:
    /// bootstrap.servers and the user's properties (TLS, SASL), and never a
    /// commit, in case the properties name a consumer group.
    var readerSettings: [(key: String, value: String)] {
        [("bootstrap.servers", configuration.brokers.joined(separator: ","))] + configuration.properties
            + [("enable.auto.commit", "false"), ("enable.auto.offset.store", "false")]
    }

    /// What the producer gets on top: exactly once depends on the first
    /// three; the queue bound keeps memory flat when the cluster is slow.
    var producerSettings: [(key: String, value: String)] {
        [("bootstrap.servers", configuration.brokers.joined(separator: ",")),
         ("enable.idempotence", "true"), ("acks", "all"), ("partitioner", "murmur2"),
         ("compression.type", configuration.compression.rawValue),
         ("queue.buffering.max.kbytes", "65536")] + configuration.properties
    }

    public func open() async throws -> SinkPosition {
        try await close()
        let ledger = try DeliveryLedger()
        let context = ProducerContext(ledger: ledger, logger: logger, secrets: configuration.secrets)
        let producer = try KafkaHandle(RD_KAFKA_PRODUCER, settings: producerSettings, secrets: configuration.secrets,
                                       context: context) { conf in
            rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(context).toOpaque())
            rd_kafka_conf_set_dr_msg_cb(conf, deliveryReport)
            rd_kafka_conf_set_error_cb(conf, clientError)
            rd_kafka_conf_set_log_cb(conf, clientLog)
        }
        if let queue = rd_kafka_queue_get_main(producer.pointer) {
            rd_kafka_queue_io_event_enable(queue, ledger.wakeWrite, "1", 1)
            rd_kafka_queue_destroy(queue)
        }
        let configuration = configuration, prefix = prefix, pipeline = pipeline, settings = readerSettings
        let timeoutMs = Int32(clamping: lookupTimeout.inNanoseconds / 1_000_000)
        let held: KafkaSinkPosition
        do {
            held = try await Blocking.run {
                try KafkaSinkPosition.read(client: producer, configuration: configuration, prefix: prefix, pipeline: pipeline,
                                           consumerSettings: settings, timeoutMs: timeoutMs)
            }
        } catch {
            // rd_kafka_destroy joins librdkafka's threads: not on the pipeline's thread.
            _ = try? await Blocking.run { producer.destroy() }
            throw error
        }
        logger.info("Kafka sink open", metadata: [
            "topics": .stringConvertible(held.partitionCounts.count),
            "highest-held": .string(held.highest?.description ?? "none"),
        ])
        highestHeld.withLock { $0 = held.highest }
        var trusted = held
        if let gap = gapAfter.withLock({ $0 }) {
            trusted.skipsNothingAfter(gap.durable)
            logger.warning("a record failed in the last session: events after \(gap.durable?.description ?? "its start") are sent again even if their partition holds a later one (some may repeat, none is lost)")
        }
        session.withLock { $0 = KafkaSession(producer: producer, context: context, held: trusted, sink: self) }
        return .untracked
    }

    public func write(_ batch: EventBatch) async throws {
        guard let session = session.withLock({ $0 }) else { throw SiphonError(.sink, "Kafka sink used before open") }
        if let creation = configuration.createTopics {
            try await createMissingTopics(for: batch, in: session, creation)
        }
        var index = 0
        var step = KafkaSession.Step.begin
        while index < batch.count {
            let now = session.ledger.snapshot
            if let failure = now.failure {
                noteGap(durable: now.durable)
                throw failure
            }
            switch try session.send(batch, index, from: step) {
            case .done:
                index += 1
                step = .begin
            case let .queueFull(from):
                // librdkafka's queue is full: wait for reports to free it.
                step = from
                await session.waitForReports()
            }
        }
        session.serveReports()
    }

    /// `sink.create_topics`: creates the topics `batch` is bound for that
    /// do not exist yet, before the first record to them (the admin call
    /// blocks, so it runs on a thread of its own).
    private func createMissingTopics(for batch: EventBatch, in session: KafkaSession,
                                     _ creation: KafkaSinkConfiguration.TopicCreation) async throws {
        let missing = try session.missingTopics(in: batch)
        guard !missing.isEmpty else { return }
        let producer = session.producer
        let timeoutMs = Int32(clamping: lookupTimeout.inNanoseconds / 1_000_000)
        try await Blocking.run { try producer.createTopics(missing, creation, timeoutMs: timeoutMs) }
        session.created(missing)
        logger.info("Kafka topics created", metadata: [
            "topics": .string(missing.joined(separator: ",")),
            "partitions": .stringConvertible(creation.partitions),
            "replication-factor": .stringConvertible(creation.replicationFactor),
        ])
    }

    /// Waits until every record sent so far has its delivery report; returns
    /// the last event it and all before it were delivered, or throws the
    /// first failed report.
    public func flush() async throws -> Position? {
        guard let session = session.withLock({ $0 }) else { return nil }
        let target = session.ledger.snapshot.sent
        while true {
            session.serveReports()
            let now = session.ledger.snapshot
            if let failure = now.failure {
                noteGap(durable: now.durable)
                throw failure
            }
            if now.frontier >= target {
                // Everything this session sent arrived, including what it sent
                // again past a gap: each partition holds a prefix again.
                if now.durable != nil { gapAfter.withLock { $0 = nil } }
                return now.durable
            }
            await session.waitForReports()
        }
    }

    /// Keeps the earliest guard: a session that failed before making
    /// anything durable leaves the one before it in place.
    private func noteGap(durable: Position?) {
        gapAfter.withLock { state in
            switch (state, durable) {
            case (nil, _): state = GapGuard(durable: durable)
            case let (existing?, durable?): state = GapGuard(durable: existing.durable.map { min($0, durable) })
            case (_?, nil): break
            }
        }
    }

    /// Drops the producer: anything not yet acknowledged is purged (it was
    /// never reported durable, so the pipeline sends it again).
    public func close() async throws {
        guard let closing = session.withLock({ state -> KafkaSession? in
            defer { state = nil }
            return state
        }) else { return }
        rd_kafka_purge(closing.producer.pointer, Int32(RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT))
        closing.serveReports()
        try await Blocking.run { closing.release() }
    }
}

/// What the librdkafka callbacks reach through the client's opaque pointer;
/// owned by the client handle, so it outlives every callback.
final class ProducerContext: Sendable {
    let ledger: DeliveryLedger
    let logger: Logger
    let secrets: [String]
    /// What each topic holds (`table public.orders`), for failed delivery reports.
    private let holdings = Mutex<[String: String]>([:])

    func topic(_ topic: String, holds what: String) {
        holdings.withLock { $0[topic] = what }
    }

    func holdings(of topic: String) -> String {
        holdings.withLock { $0[topic] } ?? "events"
    }

    init(ledger: DeliveryLedger, logger: Logger, secrets: [String]) {
        self.ledger = ledger
        self.logger = logger
        self.secrets = secrets
    }

    static func from(_ opaque: UnsafeMutableRawPointer?) -> ProducerContext? {
        opaque.map { Unmanaged<ProducerContext>.fromOpaque($0).takeUnretainedValue() }
    }
}

/// The delivery report of one record (`rd_kafka_poll`, on the pipeline's thread).
private let deliveryReport: @convention(c) (OpaquePointer?, UnsafePointer<rd_kafka_message_t>?, UnsafeMutableRawPointer?) -> Void = { _, message, opaque in
    guard let message, let context = ProducerContext.from(opaque) else { return }
    let record = UInt64(UInt(bitPattern: message.pointee._private) - 1)
    let err = message.pointee.err
    if err == RD_KAFKA_RESP_ERR_NO_ERROR {
        context.ledger.delivered(record)
        return
    }
    let topic = message.pointee.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? "?"
    let key = message.pointee.key.map {
        String(decoding: UnsafeRawBufferPointer(start: $0, count: message.pointee.key_len), as: UTF8.self)
    } ?? "null"
    let permanent = KafkaErrors.isPermanent(err)
    let advice = permanent
        ? "the pipeline stops before it: fix the topic or the broker's limits (message.max.bytes), or leave the table out"
        : "the pipeline starts again from its checkpoint"
    context.ledger.failed(SiphonError(.sink, "Kafka did not take the record of \(context.holdings(of: topic)) with key \(key) for topic \(topic) (\(KafkaErrors.name(err))); \(advice)",
                                      transient: !permanent))
}

/// librdkafka's client errors: a fatal one ends this producer (the pipeline
/// starts a new one); the others librdkafka retries itself.
private let clientError: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafeMutableRawPointer?) -> Void = { handle, code, reason, opaque in
    guard let context = ProducerContext.from(opaque) else { return }
    let said = Secrets.redact(reason.map { String(cString: $0) } ?? "", secrets: context.secrets)
    if code == RD_KAFKA_RESP_ERR__FATAL.rawValue {
        var buffer = [CChar](repeating: 0, count: 512)
        let fatal = rd_kafka_fatal_error(handle, &buffer, buffer.count)
        let text = Secrets.redact(buffer.text, secrets: context.secrets)
        context.logger.error("Kafka producer failed; starting a new one from the last acknowledged position",
                             metadata: ["error": .string("\(KafkaErrors.name(fatal)) \(text)")])
        context.ledger.failed(SiphonError(.sink, "the Kafka producer failed (\(KafkaErrors.name(fatal)): \(text)); starting a new one from the last acknowledged position",
                                          transient: true))
    } else {
        // librdkafka retries these itself, and its log line (clientLog) already said so.
        context.logger.debug("Kafka client error", metadata: ["error": .string(said)])
    }
    _ = write(context.ledger.wakeWrite, "1", 1)
}

/// librdkafka's log lines, warnings and worse, into the caller's logger.
private let clientLog: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> Void = { handle, level, facility, text in
    guard level <= 4, let handle, let context = ProducerContext.from(rd_kafka_opaque(handle)) else { return }
    let line = Secrets.redact(text.map { String(cString: $0) } ?? "", secrets: context.secrets)
    context.logger.warning("librdkafka: \(line)")
}
