"""Drain-mode workloads: each creates its table, then writes a backlog of an
exactly known number of row changes with server-side SQL (fast, and every
statement touches exactly one row, so the count is exact).

To add one: write a class with `name`, `title`, `changes`, `columns` (the
table's definition, which the database-sink runs make in the target too),
`setup(cur)`,
`generate(cur)` and `deletes(cur)` (how many of the changes are deletes,
once the backlog is written: the Kafka sink writes a tombstone after each),
and put it in `workloads()`.
"""

# The mixed column set of W1-W3 and the snapshot table.
COLUMNS = "id bigint PRIMARY KEY, qty int NOT NULL, note text, price numeric(12,2), doc jsonb, at timestamptz"


def row_values(key):
    """SQL for one row of COLUMNS, given an SQL expression for its key."""
    return (f"{key}, ({key} % 1000)::int, md5({key}::text), ({key} % 100000) / 100.0, "
            f"jsonb_build_object('n', {key}, 'tags', jsonb_build_array('a', 'b')), now()")


def create_table(cur, name, columns=COLUMNS):
    cur.execute(f"DROP TABLE IF EXISTS {name}")
    cur.execute(f"CREATE TABLE {name} ({columns})")


class MixedTransactions:
    """W1: transactions of 1-5 statements, ~60% insert, 30% update, 10% delete."""
    name = "w1"
    columns = COLUMNS
    seed_rows = 10_000

    def __init__(self, changes):
        self.changes = changes
        self.title = f"W1 mixed 1-5 statement transactions ({changes:,} changes)"

    def setup(self, cur):
        create_table(cur, "w1")
        cur.execute(f"INSERT INTO w1 SELECT {row_values('g')} FROM generate_series(1, {self.seed_rows}) g")

    def generate(self, cur):
        # Deletes remove the lowest live key and updates pick a key in [lo, hi],
        # so every statement changes exactly one row (the key is computed
        # first: random() in a WHERE clause would be evaluated for every row).
        cur.execute(f"""
            DO $$
            DECLARE
                lo bigint := 1; hi bigint := {self.seed_rows}; done int := 0; total int := {self.changes};
                size int; r float8; target bigint;
            BEGIN
                PERFORM setseed(0.42);
                WHILE done < total LOOP
                    size := least(1 + floor(random() * 5)::int, total - done);
                    FOR j IN 1..size LOOP
                        r := random();
                        IF r < 0.6 OR hi - lo < 100 THEN
                            hi := hi + 1;
                            INSERT INTO w1 VALUES ({row_values('hi')});
                        ELSIF r < 0.9 THEN
                            target := lo + floor(random() * (hi - lo + 1))::bigint;
                            UPDATE w1 SET qty = qty + 1, note = md5(random()::text), price = price + 0.01,
                                          doc = jsonb_set(doc, '{{n}}', to_jsonb(done)), at = now()
                            WHERE id = target;
                        ELSE
                            DELETE FROM w1 WHERE id = lo;
                            lo := lo + 1;
                        END IF;
                    END LOOP;
                    done := done + size;
                    COMMIT;
                END LOOP;
            END $$""")

    def deletes(self, cur):
        # Deletes took the lowest live key, from 1 up, one key each; the
        # table is never emptied (inserts whenever fewer than 100 rows live).
        cur.execute("SELECT min(id) - 1 FROM w1")
        return cur.fetchone()[0]


class SingleInserts:
    """W2: one single-row insert per transaction."""
    name = "w2"
    columns = COLUMNS

    def __init__(self, changes):
        self.changes = changes
        self.title = f"W2 single-row insert transactions ({changes:,})"

    def setup(self, cur):
        create_table(cur, "w2")

    def generate(self, cur):
        cur.execute(f"""
            DO $$
            BEGIN
                FOR i IN 1..{self.changes} LOOP
                    INSERT INTO w2 VALUES ({row_values('i')});
                    COMMIT;
                END LOOP;
            END $$""")

    def deletes(self, cur):
        return 0


class OneLargeTransaction:
    """W3: one transaction inserting many rows (PostgreSQL streams or spills it)."""
    name = "w3"
    columns = COLUMNS

    def __init__(self, changes):
        self.changes = changes
        self.title = f"W3 one transaction of {changes:,} inserts"

    def setup(self, cur):
        create_table(cur, "w3")

    def generate(self, cur):
        cur.execute(f"INSERT INTO w3 SELECT {row_values('g')} FROM generate_series(1, {self.changes}) g")

    def deletes(self, cur):
        return 0


class ToastedRows:
    """W4: rows with a 16-64 KB random hex text (TOASTed, barely compressible);
    inserted, then every row updated touching that column, then every row
    updated leaving it alone (pgoutput sends it as 'unchanged TOAST').
    Ten rows per transaction."""
    name = "w4"
    columns = "id bigint PRIMARY KEY, n int NOT NULL, body text"

    def __init__(self, rows):
        self.rows = rows
        self.changes = 3 * rows
        self.title = f"W4 TOASTed 16-64 KB text: {rows:,} inserts, {rows:,} updates with it, {rows:,} without"

    def setup(self, cur):
        create_table(cur, "w4", self.columns)

    def generate(self, cur):
        # 512..2047 md5 hashes of 32 hex characters: 16 KB to 64 KB.
        body = "(SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 512 + (i * 7919) % 1536))"
        cur.execute(f"""
            DO $$
            BEGIN
                PERFORM setseed(0.42);
                FOR i IN 1..{self.rows} LOOP
                    INSERT INTO w4 VALUES (i, 0, {body});
                    IF i % 10 = 0 THEN COMMIT; END IF;
                END LOOP;
                COMMIT;
                FOR i IN 1..{self.rows} LOOP
                    UPDATE w4 SET n = n + 1, body = {body} WHERE id = i;
                    IF i % 10 = 0 THEN COMMIT; END IF;
                END LOOP;
                COMMIT;
                FOR i IN 1..{self.rows} LOOP
                    UPDATE w4 SET n = n + 1 WHERE id = i;
                    IF i % 10 = 0 THEN COMMIT; END IF;
                END LOOP;
            END $$""")

    def deletes(self, cur):
        return 0


def workloads(quick):
    scale = 10 if quick else 1
    return [
        MixedTransactions(200_000 // scale),
        SingleInserts(100_000 // scale),
        OneLargeTransaction(1_000_000 // scale),
        ToastedRows(5_000 // scale),
    ]
