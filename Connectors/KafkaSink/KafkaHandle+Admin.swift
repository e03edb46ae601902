import CRdKafka
import SiphonCore

extension KafkaHandle {
    /// Creates `names` through the admin API (CreateTopics, sent to the
    /// controller) with `creation`'s partition count and replication
    /// factor, and returns once the cluster answered for each. A topic that
    /// exists by then (another client created it, or the broker did) is
    /// not an error. Blocks up to about `timeoutMs`: call it off the
    /// pipeline's thread.
    func createTopics(_ names: [String], _ creation: KafkaSinkConfiguration.TopicCreation, timeoutMs: Int32) throws {
        var errstr = [CChar](repeating: 0, count: 512)
        var newTopics: [OpaquePointer?] = []
        defer { newTopics.forEach { rd_kafka_NewTopic_destroy($0) } }
        for name in names {
            guard let topic = rd_kafka_NewTopic_new(name, creation.partitions, Int32(creation.replicationFactor),
                                                    &errstr, errstr.count) else {
                throw SiphonError(.sink, "sink.create_topics: cannot create topic \(name) (\(errstr.text))")
            }
            newTopics.append(topic)
        }
        guard let queue = rd_kafka_queue_new(pointer) else {
            throw SiphonError(.sink, "librdkafka could not make a queue to create topics", transient: true)
        }
        defer { rd_kafka_queue_destroy(queue) }
        let options = rd_kafka_AdminOptions_new(pointer, RD_KAFKA_ADMIN_OP_CREATETOPICS)
        defer { rd_kafka_AdminOptions_destroy(options) }
        // The broker answers once the topics exist (or after this long).
        _ = rd_kafka_AdminOptions_set_operation_timeout(options, timeoutMs, &errstr, errstr.count)
        _ = rd_kafka_AdminOptions_set_request_timeout(options, timeoutMs, &errstr, errstr.count)
        newTopics.withUnsafeMutableBufferPointer { rd_kafka_CreateTopics(pointer, $0.baseAddress, $0.count, options, queue) }

        let what = "create topic\(names.count == 1 ? "" : "s") \(names.joined(separator: ", "))"
        // The request timeout bounds the answer; the extra second lets its error arrive as the result.
        guard let event = rd_kafka_queue_poll(queue, timeoutMs + 1000) else {
            throw SiphonError(.sink, "cannot \(what): the cluster did not answer; check sink.brokers and that the cluster is up",
                              transient: true)
        }
        defer { rd_kafka_event_destroy(event) }
        let err = rd_kafka_event_error(event)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            let said = Secrets.redact(rd_kafka_event_error_string(event).map { String(cString: $0) } ?? "", secrets: secrets)
            throw Self.creationError(err, what, said)
        }
        guard let result = rd_kafka_event_CreateTopics_result(event) else {
            throw SiphonError(.sink, "cannot \(what): librdkafka gave no CreateTopics result", transient: true)
        }
        var count = 0
        guard let results = rd_kafka_CreateTopics_result_topics(result, &count) else { return }
        for index in 0..<count {
            let topic = results[index]
            let err = rd_kafka_topic_result_error(topic)
            guard err != RD_KAFKA_RESP_ERR_NO_ERROR, err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS else { continue }
            let name = String(cString: rd_kafka_topic_result_name(topic))
            let said = Secrets.redact(rd_kafka_topic_result_error_string(topic).map { String(cString: $0) } ?? "", secrets: secrets)
            throw Self.creationError(err, "create topic \(name)", said)
        }
    }

    /// A topic the cluster refuses to create: permanent when only a person
    /// can fix it (the values in `sink.create_topics`, grants, a policy, a
    /// broker without the admin API).
    private static func creationError(_ err: rd_kafka_resp_err_t, _ what: String, _ said: String) -> SiphonError {
        let permanent: Set<Int32> = [
            RD_KAFKA_RESP_ERR_INVALID_PARTITIONS.rawValue,
            RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR.rawValue,
            RD_KAFKA_RESP_ERR_INVALID_REPLICA_ASSIGNMENT.rawValue,
            RD_KAFKA_RESP_ERR_INVALID_CONFIG.rawValue,
            RD_KAFKA_RESP_ERR_POLICY_VIOLATION.rawValue,
            RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION.rawValue,
            RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED.rawValue,
            RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED.rawValue,
            RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION.rawValue,
            RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE.rawValue,
            RD_KAFKA_RESP_ERR__INVALID_ARG.rawValue,
        ]
        let isPermanent = permanent.contains(err.rawValue)
        let advice = isPermanent
            ? "the pipeline stops: fix sink.create_topics or the grants (Create on the cluster or the topics), or create the topics first and remove sink.create_topics"
            : "the pipeline starts again from its checkpoint"
        return SiphonError(.sink, "cannot \(what) (\(KafkaErrors.name(err))\(said.isEmpty ? "" : ": \(said)")); \(advice)",
                           transient: !isPermanent)
    }
}
