// Regenerates ecs_flat.json from the npm package @elastic/ecs (Elastic's
// own ECS definitions, Apache-2.0): `npm pack @elastic/ecs@9.4.0 && tar xzf
// elastic-ecs-9.4.0.tgz && node extract.js package > ecs_flat.json`.
// Keeps, for every field, what the tests check: type, level, normalize,
// allowed values (with the event types each category expects), pattern,
// required. Descriptions and examples are dropped.
const dir = process.argv[2] || "package";
const f = require(require("path").resolve(dir, "generated/ecs_flat.js")).EcsFlat;
const out = {};
for (const k of Object.keys(f).sort()) {
  const v = f[k];
  const o = { type: v.type, level: v.level };
  if (v.normalize && v.normalize.length) o.normalize = v.normalize;
  if (v.allowed_values)
    o.allowed_values = v.allowed_values.map((a) => {
      const r = { name: a.name };
      if (a.expected_event_types) r.expected_event_types = a.expected_event_types;
      return r;
    });
  if (v.pattern) o.pattern = v.pattern;
  if (v.required) o.required = true;
  out[k] = o;
}
process.stdout.write(JSON.stringify(out));
