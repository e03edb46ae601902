import Foundation

/// An event's `{db}` and `{connector}`, as sinks' name templates use them:
/// `source.db` and `source.connector`, or the CloudEvents attributes
/// (`iodebeziumdb`, `iodebeziumconnector`) for `format: cloudevents`.
/// Read when a sink first renders a name (they do not change within a
/// pipeline), so JSONSerialization will do.
public enum SourceFacts {
    public static func dbAndConnector(in line: ArraySlice<UInt8>) -> (db: String?, connector: String?) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else { return (nil, nil) }
        if let source = object["source"] as? [String: Any] {
            return (source["db"] as? String, source["connector"] as? String)
        }
        return (object["iodebeziumdb"] as? String, object["iodebeziumconnector"] as? String)
    }
}
