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
