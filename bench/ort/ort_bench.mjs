// The ONNX Runtime baseline for stoa-bench-onnx: the same example models,
// the same inputs (the first rows of digits/test_split.csv), one intra-op
// thread, sequential execution, and the same summary lines:
//   RESULT engine=ort model=digits batch=8 p50_us=12.3 rows_per_s=650000
//
//   node ort_bench.mjs ORT_PACKAGE_DIR EXAMPLES_DIR [MIN_SECONDS]
//
// Each case warms up, then calls session.run until MIN_SECONDS (default
// 0.5) have passed, timing every call with process.hrtime (so the Node.js
// binding's cost is included, as the executor's path is in Stoa's figures).
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";

const [ortDir, examples, minSecondsArg] = process.argv.slice(2);
if (!ortDir || !examples) {
  console.error("usage: node ort_bench.mjs ORT_PACKAGE_DIR EXAMPLES_DIR [MIN_SECONDS]");
  process.exit(2);
}
const minSeconds = Number(minSecondsArg ?? "0.5");
const require = createRequire(import.meta.url);
const ort = require(path.resolve(ortDir));

function readImages(csvPath, maxRows) {
  const rows = [];
  for (const line of fs.readFileSync(csvPath, "utf8").split("\n")) {
    const fields = line.split(",");
    if (fields.length !== 65 || Number.isNaN(Number(fields[0])) || fields[0] === "") continue;
    rows.push(fields.slice(0, 64).map(Number));
    if (rows.length === maxRows) break;
  }
  return rows;
}

const models = [
  { name: "digits", file: "digits/digits.onnx", rowShape: [64] },
  { name: "lenet", file: "lenet/lenet.onnx", rowShape: [1, 8, 8] },
];
const images = readImages(path.join(examples, "digits/test_split.csv"), 32);

const lines = [];
for (const model of models) {
  const session = await ort.InferenceSession.create(path.join(examples, model.file), {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
  });
  const inputName = session.inputNames[0];
  for (const batch of [1, 8, 32]) {
    const data = new Float32Array(batch * 64);
    for (let i = 0; i < batch; ++i) data.set(images[i % images.length], i * 64);
    const feeds = { [inputName]: new ort.Tensor("float32", data, [batch, ...model.rowShape]) };
    for (let i = 0; i < 200; ++i) await session.run(feeds);
    const times = [];
    const until = process.hrtime.bigint() + BigInt(Math.round(minSeconds * 1e9));
    while (process.hrtime.bigint() < until) {
      const start = process.hrtime.bigint();
      await session.run(feeds);
      times.push(Number(process.hrtime.bigint() - start) / 1000);
    }
    times.sort((a, b) => a - b);
    const p50 = times[Math.floor(times.length / 2)];
    const line = `RESULT engine=ort model=${model.name} batch=${batch} ` +
      `p50_us=${p50.toFixed(2)} rows_per_s=${Math.round((batch * 1e6) / p50)}`;
    console.error(`${model.name} batch ${batch}: ${times.length} runs`);
    lines.push(line);
  }
}
for (const line of lines) console.log(line);
