// Writes the fixed inputs of every model in models.json as raw
// little-endian files, CACHE/inputs/<model>/<index>.bin, and one line per
// model to CACHE/models.tsv for the benchmark drivers:
//   name <TAB> model file <TAB> input spec;input spec;...
// where an input spec is NAME=DATATYPE:D0xD1x...:FILE (a scalar's shape is
// empty). Values come from a seeded xorshift generator, so both engines and
// every run see the same bytes.
//
//   node make_inputs.mjs MANIFEST CACHE
import fs from "node:fs";
import path from "node:path";

const [manifestPath, cache] = process.argv.slice(2);
const manifest = JSON.parse(fs.readFileSync(manifestPath, "utf8"));
const versions = Object.fromEntries(manifest.packages.map((p) => [p.package, p.version]));

function generator(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
}

const arrays = {
  FP32: Float32Array, FP64: Float64Array, INT32: Int32Array, INT64: BigInt64Array,
  UINT8: Uint8Array, INT8: Int8Array, BOOL: Uint8Array,
};

const lines = [];
manifest.models.forEach((model, m) => {
  const dir = path.join(cache, "inputs", model.name);
  fs.mkdirSync(dir, { recursive: true });
  const specs = model.inputs.map((input, i) => {
    const count = input.shape.reduce((a, b) => a * b, 1);
    const Array = arrays[input.datatype];
    const data = new Array(count);
    const next = generator(1000 * (m + 1) + i);
    for (let k = 0; k < count; ++k) {
      let v = input.fill.value;
      if (input.fill.uniform) {
        const [lo, hi] = input.fill.uniform;
        v = lo + (hi - lo) * next();
      }
      data[k] = Array === BigInt64Array ? BigInt(Math.round(v)) : v;
    }
    const file = path.join(dir, `${i}.bin`);
    fs.writeFileSync(file, Buffer.from(data.buffer));
    return `${input.name}=${input.datatype}:${input.shape.join("x")}:${file}`;
  });
  const modelFile = path.join(cache, `${model.package.replace("/", "+")}@${versions[model.package]}`,
    model.path);
  lines.push([model.name, modelFile, specs.join(";")].join("\t"));
});
fs.writeFileSync(path.join(cache, "models.tsv"), lines.join("\n") + "\n");
console.log(`inputs for ${lines.length} models in ${path.join(cache, "inputs")}`);
