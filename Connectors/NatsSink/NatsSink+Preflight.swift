import SiphonCore

/// `siphon check` for the NATS sink: the server reached and the credentials
/// taken, JetStream answering, and the stream (when it exists) taking the
/// pipeline's subjects and holding only its messages there. Creates
/// nothing: a missing stream is reported, not made.
extension NatsSink {
    public static func preflight(_ configuration: NatsSinkConfiguration, context: ConnectorContext) async -> [PreflightCheck] {
        let sink = NatsSink(configuration: configuration, pipeline: context.pipeline, logger: context.logger)
        let servers = configuration.servers.map(NatsErrors.withoutUserInfo).joined(separator: ",")
        let client: NatsClient
        do {
            client = try await Blocking.run {
                try NatsClient(configuration: configuration, name: "siphon \(context.pipeline) check", ackHandler: nil, closure: nil)
            }
        } catch {
            let message = (error as? SiphonError)?.message ?? "\(error)"
            return [.fail("server", message, fix: "check sink.url/sink.servers, that nats-server is up, and the credentials and TLS keys")]
        }
        defer { client.destroy() }
        let prefix = sink.prefix, filters = sink.filters, stream = configuration.stream
        let found: NatsStreamSetup?
        do {
            found = try await Blocking.run {
                try NatsStreamSetup.prepare(client: client, configuration: configuration, prefix: prefix, pipeline: context.pipeline,
                                            filters: filters, create: false)
            }
        } catch {
            let message = (error as? SiphonError)?.message ?? "\(error)"
            return [.pass("server", "reached \(servers)"),
                    .fail("stream", message, fix: "see the message: the stream must take the pipeline's subjects, which only it writes")]
        }
        guard let found else {
            return [.pass("server", "reached \(servers), JetStream answers"),
                    .pass("stream", "\(stream.name) does not exist yet; the sink creates it taking \(stream.subjects(prefix: prefix).joined(separator: ", "))")]
        }
        let mode: String
        switch found.expectation {
        case .stream: mode = "Siphon is its only writer (Nats-Expected-Last-Sequence)"
        case .subject: mode = "it takes other subjects too (Nats-Expected-Last-Subject-Sequence)"
        }
        var checks: [PreflightCheck] = [
            .pass("server", "reached \(servers), JetStream answers"),
            .pass("stream", "\(stream.name) takes \(found.streamSubjects.joined(separator: ", ")); \(mode); "
                  + (found.held.map { "holds this pipeline's events up to \($0)" } ?? "no message of this pipeline yet")),
        ]
        if found.expectation.isPerSubject {
            checks.append(.warn("stream mode", "\(stream.name) takes subjects other writers may use",
                                fix: "give the pipeline a stream of its own (subjects {prefix}.>) for the stream-wide checks"))
        }
        return checks
    }
}
