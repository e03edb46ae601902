"""Prints a JSON Lines events file one short line per event (used by the demos)."""
import json
import sys

for line in open(sys.argv[1]):
    e = json.loads(line)
    if "tableChanges" in e:
        # A schema-change event: no op, the table's new version and what changed.
        print(f'{"schema":>6}  {e["source"]["table"]} v{e["schema_version"]} changes={json.dumps(e["changes"])}')
    else:
        tx = (e["transaction"] or {}).get("id")
        print(f'{e["op"]:>6}  key={json.dumps(e["key"])} after={json.dumps(e["after"])} '
              f'v{e["schema_version"]} snapshot={e["source"]["snapshot"]} tx={tx}')
