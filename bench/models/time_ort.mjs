// ONNX Runtime's p50 for one model on one thread with stoa-time-onnx's
// deterministic fill (FP32 sinf(0.1f·i), the product rounded to FP32 as in
// C++, INT64 1, BOOL true, symbolic
// dimensions 1); prints the same JSON shape.
//
//   node time_ort.mjs ORT_PACKAGE_DIR MODEL [RUNS]
import { createRequire } from "node:module";
import path from "node:path";

const [ortDir, model, runsArg] = process.argv.slice(2);
const runs = Number(runsArg ?? "200");
const require = createRequire(import.meta.url);
const ort = require(path.resolve(ortDir));
const session = await ort.InferenceSession.create(model, {
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: "sequential",
});
const feeds = {};
for (const name of session.inputNames) {
  const meta = session.inputMetadata?.find?.((m) => m.name === name);
  const dims = (meta?.shape ?? []).map((d) => (typeof d === "number" && d >= 0 ? d : 1));
  const n = dims.reduce((a, b) => a * b, 1);
  const type = meta?.type ?? "float32";
  if (type === "int64") feeds[name] = new ort.Tensor("int64", new BigInt64Array(n).fill(1n), dims);
  else if (type === "bool") feeds[name] = new ort.Tensor("bool", new Uint8Array(n).fill(1), dims);
  else feeds[name] = new ort.Tensor("float32", Float32Array.from({ length: n }, (_, i) => Math.fround(Math.sin(Math.fround(Math.fround(0.1) * i)))), dims);
}
const times = [];
let out;
for (let r = 0; r < runs + 5; ++r) {
  const start = process.hrtime.bigint();
  out = await session.run(feeds);
  if (r >= 5) times.push(Number(process.hrtime.bigint() - start) / 1000);
}
times.sort((a, b) => a - b);
const outputs = session.outputNames.map((k) => Array.from(out[k].data.slice(0, 8)).map(Number));
const sums = session.outputNames.map((k) => Array.from(out[k].data).reduce((a, b) => a + Number(b), 0));
console.log(JSON.stringify({ engine: "ort", p50_us: Number(times[Math.floor(times.length / 2)].toFixed(2)), outputs, sums }));
