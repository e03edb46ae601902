import FileSink
import KafkaSink
import NatsSink
import PostgresSink
import PostgresSource
import SQLiteSink
import SQLiteSource
import SiphonCore

extension ConnectorRegistry {
    /// Every connector this build has: adding one is a line here.
    static let standard = ConnectorRegistry(
        sources: [PostgresSource.self, SQLiteSource.self],
        sinks: [FileSink.self, KafkaSink.self, NatsSink.self, PostgresSink.self, SQLiteSink.self])
}
