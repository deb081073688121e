# Regenerates ocsf-1.5.0-host.schemas.json: the JSON Schemas (draft 2020-12)
# of the OCSF classes pkgward emits, with the `host` profile, and of every
# object they reference, as a map from each schema's $id to the schema.
# Uses the generator and the OCSF export (schema.ocsf.io /1.5.0/export/schema)
# shipped in the PyPI package ocsf-json-schema 1.2.0, unzipped into ./ojs:
#   pip download --no-deps ocsf-json-schema==1.2.0
#   unzip ocsf_json_schema-1.2.0-py3-none-any.whl -d ojs
#   python3 generate.py 1.5.0 host && mv bundle-1.5.0.json ocsf-1.5.0-host.schemas.json
import json, sys
sys.path.insert(0, 'ojs')
from ocsf_json_schema.schema import OcsfJsonSchema
ver = sys.argv[1]
profiles = sys.argv[2].split(',') if len(sys.argv) > 2 and sys.argv[2] else []
s = OcsfJsonSchema(json.load(open(f'ojs/ocsf_json_schema/ocsf/{ver}.json')))
out = {}
todo = []
def refs(x):
    if isinstance(x, dict):
        for k, v in x.items():
            if k == '$ref': yield v
            else: yield from refs(v)
    elif isinstance(x, list):
        for v in x: yield from refs(v)
for c in ['process_activity', 'network_activity', 'http_activity', 'script_activity', 'file_activity']:
    sc = s.get_class_schema(c, profiles)
    out[sc['$id']] = sc
    todo += list(refs(sc))
while todo:
    r = todo.pop()
    if r in out: continue
    sc = s.get_schema_from_uri(r)
    out[r] = sc
    todo += list(refs(sc))
json.dump(out, open(f'bundle-{ver}.json', 'w'), sort_keys=True, separators=(',', ':'))
print(len(out))
