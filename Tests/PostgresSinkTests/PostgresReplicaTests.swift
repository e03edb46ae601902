import Foundation
import SiphonTestSupport
import XCTest

/// PostgreSQL to PostgreSQL through the real source and the sink: after
/// each step, `SELECT *` on both clusters reads the same, value for value.
final class PostgresReplicaTests: XCTestCase {
    /// Every op (snapshot reads, inserts, updates, a primary-key change,
    /// deletes, truncate) and the type families the source emits; the
    /// created table keeps the exact types (an enum becomes text).
    func testEveryOperationAndTypeFamilyArriveValueForValue() async throws {
        let pair = try ReplicaHarness()
        try pair.sourceSQL("""
            CREATE TYPE mood AS ENUM ('sad', 'happy');
            CREATE TABLE kinds (
                id bigint PRIMARY KEY, i2 smallint, i4 integer NOT NULL DEFAULT 0, i8 bigint, r real, d double precision,
                n numeric(20,5), nn numeric, m money, b boolean, t text, vc varchar(10), c char(3), u uuid, ip inet,
                by bytea, j json, jb jsonb, da date, ti time, tz timetz, ts timestamp(3), tstz timestamptz, iv interval,
                ai int[], at text[], a2 int[], e mood, rg int4range, bits bit(4), vb varbit(8), x xml, pt point,
                bya bytea[], ja jsonb[], na numeric(6,2)[], dda date[], bx box, em mood[], bxa box[]);
            INSERT INTO kinds VALUES
              (1, 1, 2, 9223372036854775807, 1.5, 0.1, 12345678901234.56789, 'NaN', -5.5, true, 'a''b"c\\d', 'ten chars!', 'ab',
               'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '10.0.0.1/8', '\\xdeadbeef00ff', '{"a": 1, "b": [1, 2.50]}',
               '{"z": null, "a": "x"}', '2024-02-29', '13:45:00.5', '11:45:00.25+00', '2024-02-29 13:45:00.123',
               '2024-01-01 00:00:00+00', '1 year 2 months 3 days 04:05:06.789', '{1,NULL,3}', '{"a","b c",NULL}',
               '{{1,2},{3,4}}', 'happy', '[1,5)', B'1010', B'101', '<a>x</a>', '(1.5,2)',
               ARRAY['\\x00ff'::bytea, NULL], ARRAY['{"a": 1}'::jsonb, '[]'], '{1.50,NULL,-2}', '{2024-01-01,NULL}',
               '((3,4),(1,2))', '{happy,NULL,sad}', ARRAY['((1,1),(0,0))'::box, '((3,3),(2,2))']),
              (2, NULL, 0, NULL, 'Infinity', '-Infinity', NULL, 'Infinity', NULL, false, '', NULL, NULL, NULL, NULL, '\\x',
               'null', '[]', '0044-03-15 BC', '00:00:00', NULL, NULL, 'infinity', '-1 days 00:00:01', '{}', '{}', NULL,
               'sad', 'empty', NULL, NULL, NULL, NULL, '{}', NULL, '{NaN}', NULL, NULL, '{}', NULL);
            CREATE TABLE other (k text, n int, v text, PRIMARY KEY (k, n));
            INSERT INTO other SELECT 'k' || g, g, 'v' FROM generate_series(1, 50) g;
            """)
        try pair.start()
        let kinds = "SELECT * FROM kinds ORDER BY id"
        let other = "SELECT * FROM other ORDER BY k, n"
        try await pair.waitUntilEqual(kinds, expectedRows: 2)
        try await pair.waitUntilEqual(other, expectedRows: 50)
        XCTAssertEqual(try pair.targetSQL("""
            SELECT string_agg(format_type(atttypid, atttypmod), ',' ORDER BY attnum) FROM pg_attribute
            WHERE attrelid = 'kinds'::regclass AND attnum > 0
            """), "bigint,smallint,integer,bigint,real,double precision,numeric(20,5),numeric,money,boolean,text,character varying(10),character(3),uuid,inet,bytea,json,jsonb,date,time without time zone,time with time zone,timestamp(3) without time zone,timestamp with time zone,interval,integer[],text[],integer[],text,int4range,bit(4),bit varying(8),xml,point,bytea[],jsonb[],numeric(6,2)[],date[],box,text[],box[]")
        XCTAssertEqual(try pair.targetSQL("SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'other'::regclass AND i.indisprimary"), "k,n")

        try pair.sourceSQL("""
            INSERT INTO kinds (id, t, jb, n) VALUES (3, 'three', '{"deep": {"x": [1, "2"]}}', '-0.00001');
            UPDATE kinds SET t = 'changed', i4 = 42, ai = '{9}' WHERE id = 1;
            UPDATE kinds SET id = 30 WHERE id = 3;
            BEGIN;
            INSERT INTO kinds (id, t) VALUES (4, 'four');
            UPDATE kinds SET t = 'four again' WHERE id = 4;
            UPDATE kinds SET t = 'four thrice' WHERE id = 4;
            DELETE FROM kinds WHERE id = 2;
            INSERT INTO kinds (id, t) VALUES (2, 'two reborn');
            COMMIT;
            DELETE FROM other WHERE n % 2 = 0;
            UPDATE other SET v = 'odd' WHERE n % 3 = 0;
            """)
        try await pair.waitUntilEqual(kinds, expectedRows: 4)
        try await pair.waitUntilEqual(other, expectedRows: 25)
        try pair.sourceSQL("TRUNCATE other; INSERT INTO other VALUES ('after', 1, 'truncate')")
        try await pair.waitUntilEqual(other, expectedRows: 1)
        try await pair.stop()
    }
}
