/// Maps PostgreSQL type OIDs to a name, a `ValueKind` and, for the types
/// whose binary send format Siphon decodes, a `BinaryFormat`.
///
/// Knows every built-in type of pg_type out of the box; types created by
/// users (enums, domains, composite types, extension types, and arrays of
/// them) have OIDs that differ per database, so they are registered at run
/// time once looked up in the catalog. A value type: copies are independent.
struct TypeRegistry: Sendable {
    struct Entry: Sendable, Equatable {
        var name: String
        var kind: ValueKind
        /// nil: values of this type cannot be decoded in binary form.
        var binary: BinaryFormat?
    }

    private var registered: [UInt32: Entry] = [:]

    /// A registry that knows PostgreSQL's built-in types.
    init() {}

    /// How values of `oid` are rendered. Unknown OIDs render as `.text`,
    /// which is always valid: every PostgreSQL value has a text form.
    func kind(of oid: UInt32) -> ValueKind {
        entry(for: oid)?.kind ?? .text
    }

    /// The binary send format of `oid`'s values, or nil when Siphon cannot
    /// decode them (unknown OIDs included), which keeps a session in text mode.
    func binaryFormat(of oid: UInt32) -> BinaryFormat? {
        entry(for: oid)?.binary
    }

    /// How values of a column of type `oid` with type modifier
    /// `typeModifier` (pg_attribute.atttypmod, -1 for none) are rendered:
    /// `kind(of:)` with the column's precision applied (timestamptz(p)).
    func kind(of oid: UInt32, typeModifier: Int32) -> ValueKind {
        kind(of: oid).applying(typeModifier: typeModifier)
    }

    /// `binaryFormat(of:)` for a column with type modifier `typeModifier`.
    func binaryFormat(of oid: UInt32, typeModifier: Int32) -> BinaryFormat? {
        binaryFormat(of: oid)?.applying(typeModifier: typeModifier)
    }

    /// The pg_type name (`int4`, `_int4` for its array), or nil when the OID
    /// is neither built in nor registered, which is how callers tell that a
    /// type still needs a catalog lookup.
    func typeName(of oid: UInt32) -> String? {
        entry(for: oid)?.name
    }

    /// Records a type discovered at run time. A registration for an OID that
    /// is already known replaces it. `binary` must describe the same values
    /// `kind` does (a domain takes both from its base type).
    mutating func register(oid: UInt32, name: String, kind: ValueKind, binary: BinaryFormat? = nil) {
        registered[oid] = Entry(name: name, kind: kind, binary: binary)
    }

    private func entry(for oid: UInt32) -> Entry? {
        if !registered.isEmpty, let entry = registered[oid] { return entry }
        return Self.builtIns[oid]
    }
}
