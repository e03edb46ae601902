"""Prints a JSON Lines events file one short line per event (used by the demos)."""
import json
import sys

for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["op"] == "schema":
        print(f'{e["op"]:>6}  {e["source"]["table"]} v{e["schema"]["version"]} changes={e["schema"]["changes"]}')
    else:
        tx = (e["transaction"] or {}).get("id")
        print(f'{e["op"]:>6}  key={json.dumps(e["key"])} after={json.dumps(e["after"])} v{e["schema"]["version"]} tx={tx}')
