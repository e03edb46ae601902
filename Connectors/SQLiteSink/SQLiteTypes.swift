import Foundation
import SiphonCore

/// The declared type a target column gets, and how an event's JSON value
/// is stored: the mapping README "Database sinks" documents.
enum SQLiteTypes {
    /// PostgreSQL type (`typeName`, the catalog's name) to SQLite declared type.
    static func fromPostgres(typeName: String, typeExpression: String) -> String {
        if typeExpression.hasSuffix("[]") { return "TEXT" }
        switch typeName {
        case "int2", "int4", "int8", "bool", "oid": return "INTEGER"
        case "float4", "float8": return "REAL"
        case "bytea": return "BLOB"
        // numeric and money keep their exact digits as text; everything else
        // (text, json, uuid, dates and times in ISO form, ranges) is text.
        default: return "TEXT"
        }
    }

    /// An SQLite source's declared type, kept when it is plain words, digits and parentheses.
    static func fromSQLite(_ declared: String) -> String {
        declared.range(of: #"^[A-Za-z_][A-Za-z0-9_ ]*(\([0-9]+(, ?[0-9]+)?\))?$"#, options: .regularExpression) != nil ? declared : ""
    }

    /// The JSON text of an event value as the value to store in a column
    /// declared `declared`: base64 strings become blobs in BLOB columns;
    /// numbers stay exact (integers as integers); arrays and objects are
    /// stored as their JSON text.
    static func value(_ json: String, declared: String) -> TargetValue {
        guard let first = json.utf8.first else { return .null }
        switch first {
        case UInt8(ascii: "n"): return .null
        case UInt8(ascii: "t"): return .integer(1)
        case UInt8(ascii: "f"): return .integer(0)
        case UInt8(ascii: "\""):
            let text = (try? JSONMembers.decodeString(ArraySlice(json.utf8))) ?? ""
            if declared.uppercased().contains("BLOB"), let bytes = Data(base64Encoded: text) { return .blob(Array(bytes)) }
            return .text(text)
        case UInt8(ascii: "["), UInt8(ascii: "{"):
            return .text(json)
        default:
            if let integer = Int64(json) { return .integer(integer) }
            if let real = Double(json) { return .real(real) }
            return .text(json)
        }
    }

    /// A default the sink copies to an added column: a plain literal (a
    /// PostgreSQL cast such as `::text` is dropped). Anything else is not copied.
    static func copyableDefault(_ expression: String?) -> String? {
        guard var expression else { return nil }
        if let cast = expression.range(of: #"::[a-z_][a-z0-9_ ]*(\([0-9, ]+\))?(\[\])*$"#, options: .regularExpression) {
            expression.removeSubrange(cast)
        }
        let pattern = #"^('([^']|'')*'|-?[0-9]+(\.[0-9]+)?|NULL|null)$"#
        return expression.range(of: pattern, options: .regularExpression) != nil ? expression : nil
    }
}
