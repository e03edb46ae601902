/// Choices about how values are written that hold for every column, as
/// opposed to `ValueKind` and `BinaryFormat`, which follow from each
/// column's type.
///
/// The defaults give event format 2: the values Debezium 3.6 writes with
/// `decimal.handling.mode=string`, `time.precision.mode=isostring` and
/// `interval.handling.mode=string` (JsonConverter, schemas disabled).
struct ValueOptions: Sendable, Equatable {
    /// json and jsonb values as a JSON string holding PostgreSQL's text of
    /// the value, as Debezium writes them (`"{\"a\": 1}"`; the JSON value
    /// `null` is the string `"null"`, distinct from SQL NULL). When false,
    /// the value is embedded as JSON (`{"a": 1}`), as event format 1 did.
    var jsonAsString: Bool

    init(jsonAsString: Bool = true) {
        self.jsonAsString = jsonAsString
    }
}
