import Foundation
import Logging

/// `--log-format json`: one JSON object per line on stderr, for log
/// collectors: `ts_ms` (milliseconds since the epoch), `level`, `pipeline`
/// and `connector` when the record has them, `message`, and the rest of its
/// metadata under `metadata`.
///
///     {"ts_ms":1733390000123,"level":"info","pipeline":"orders","connector":"PostgresSource","message":"streaming changes","metadata":{"slot":"siphon_orders"}}
///
/// `connector` is the module that logged (`PostgresSource`, `KafkaSink`,
/// ...); records of the core and of the executable have none.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    init(label: String) { self.label = label }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?, source: String,
             file: String, function: String, line: UInt) {
        var all = metadata
        if let provided = metadataProvider?.get() { all.merge(provided) { $1 } }
        if let explicit { all.merge(explicit) { $1 } }
        var object: [(String, Any)] = [("ts_ms", Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))),
                                       ("level", level.rawValue)]
        if let pipeline = all.removeValue(forKey: "pipeline") { object.append(("pipeline", Self.json(pipeline))) }
        if !["SiphonCore", "siphon", ""].contains(source) { object.append(("connector", source)) }
        object.append(("message", message.description))
        if !all.isEmpty { object.append(("metadata", Self.json(.dictionary(all)))) }
        var text = "{"
        for (index, (key, value)) in object.enumerated() {
            if index > 0 { text += "," }
            text += Self.quoted(key) + ":" + Self.encode(value)
        }
        text += "}\n"
        FileHandle.standardError.write(Data(text.utf8))
    }

    private static func json(_ value: Logger.Metadata.Value) -> Any {
        switch value {
        case .string(let text): text
        case .stringConvertible(let convertible): convertible.description
        case .array(let values): values.map(json)
        case .dictionary(let values): values.mapValues(json)
        }
    }

    private static func encode(_ value: Any) -> String {
        switch value {
        case let number as Int64: String(number)
        case let text as String: quoted(text)
        case let list as [Any]: "[" + list.map(encode).joined(separator: ",") + "]"
        case let object as [String: Any]:
            "{" + object.keys.sorted().map { quoted($0) + ":" + encode(object[$0]!) }.joined(separator: ",") + "}"
        default: quoted("\(value)")
        }
    }

    private static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x20: result += String(format: "\\u%04x", scalar.value)
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}
